// Column sums accumulated into a gradient: acc[j] += Σ_rows dy[r, j] (a Linear's bias gradient).
// Threads splitting the rows each accumulate into their own partial acc (the adds are not atomic);
// the host adds the partials in thread order, so the result is deterministic per thread count.

/** acc [width] += Σ over `rows` rows of dy [rows, width]. */
@inline export function addColumnSums(dy: usize, acc: usize, rows: i32, width: i32): void {
  const vecEnd = width & ~3;
  // Four columns at a time down all rows: the accumulator stays in a register.
  let j = 0;
  for (; j < vecEnd; j += 4) {
    const o = <usize>j << 2;
    let s = v128.load(acc + o);
    for (let r = 0; r < rows; r++) s = f32x4.add(s, v128.load(dy + <usize>(r * width) * 4 + o));
    v128.store(acc + o, s);
  }
  for (; j < width; j++) {
    const o = <usize>j << 2;
    let s = load<f32>(acc + o);
    for (let r = 0; r < rows; r++) s += load<f32>(dy + <usize>(r * width) * 4 + o);
    store<f32>(acc + o, s);
  }
}
