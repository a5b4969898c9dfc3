// Column sums accumulated into a gradient: acc[j] += Σ_rows dy[r, j] (a Linear's bias gradient).
// Threads splitting the rows each accumulate into their own partial acc (the adds are not atomic);
// the host adds the partials in thread order, so the result is deterministic per thread count.
// Every column is summed in row order, starting from acc[j]: the result is the plain sequential
// float32 sum whatever the blocking below.

/** acc [width] += Σ over `rows` rows of dy [rows, width]. */
@inline export function addColumnSums(dy: usize, acc: usize, rows: i32, width: i32): void {
  const stride = <usize>width << 2;
  // Blocks of 32 columns (two cache lines of each row) down all rows: eight accumulators in
  // registers, every line of dy read once and whole (four columns at a time used a quarter of
  // each line per pass and streamed dy from memory once per 4 columns).
  const blockEnd = width & ~31;
  let j = 0;
  for (; j < blockEnd; j += 32) {
    const o = <usize>j << 2;
    let s0 = v128.load(acc + o, 0), s1 = v128.load(acc + o, 16), s2 = v128.load(acc + o, 32), s3 = v128.load(acc + o, 48);
    let s4 = v128.load(acc + o, 64), s5 = v128.load(acc + o, 80), s6 = v128.load(acc + o, 96), s7 = v128.load(acc + o, 112);
    let p = dy + o;
    for (let r = 0; r < rows; r++) {
      s0 = f32x4.add(s0, v128.load(p, 0));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      s4 = f32x4.add(s4, v128.load(p, 64));
      s5 = f32x4.add(s5, v128.load(p, 80));
      s6 = f32x4.add(s6, v128.load(p, 96));
      s7 = f32x4.add(s7, v128.load(p, 112));
      p += stride;
    }
    v128.store(acc + o, s0, 0); v128.store(acc + o, s1, 16); v128.store(acc + o, s2, 32); v128.store(acc + o, s3, 48);
    v128.store(acc + o, s4, 64); v128.store(acc + o, s5, 80); v128.store(acc + o, s6, 96); v128.store(acc + o, s7, 112);
  }
  const vecEnd = width & ~3;
  for (; j < vecEnd; j += 4) {
    const o = <usize>j << 2;
    let s = v128.load(acc + o);
    let p = dy + o;
    for (let r = 0; r < rows; r++) {
      s = f32x4.add(s, v128.load(p));
      p += stride;
    }
    v128.store(acc + o, s);
  }
  for (; j < width; j++) {
    const o = <usize>j << 2;
    let s = load<f32>(acc + o);
    let p = dy + o;
    for (let r = 0; r < rows; r++) {
      s += load<f32>(p);
      p += stride;
    }
    store<f32>(acc + o, s);
  }
}
