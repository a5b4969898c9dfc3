// Row softmax in place, as torch: subtract the row max, exp, divide by the sum.

@inline export function softmaxRows(s: usize, rows: i32, cols: i32, stride: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = s + <usize>(r * stride) * 4;
    let mx = load<f32>(row);
    for (let j = 1; j < cols; j++) mx = max(mx, load<f32>(row + (<usize>j << 2)));
    let sum: f32 = 0;
    for (let j = 0; j < cols; j++) {
      const e = Mathf.exp(load<f32>(row + (<usize>j << 2)) - mx);
      store<f32>(row + (<usize>j << 2), e);
      sum += e;
    }
    const inv = f32x4.splat(sum);
    const vecEnd = cols & ~3;
    let j = 0;
    for (; j < vecEnd; j += 4) {
      const p = row + (<usize>j << 2);
      v128.store(p, f32x4.div(v128.load(p), inv));
    }
    for (; j < cols; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) / sum);
  }
}

/** kt[c·t + j] = k[j·ld + c]: one head's keys transposed so scores are a plain GEMM. */
@inline export function transposeHead(k: usize, ld: i32, kt: usize, t: i32, headDim: i32): void {
  for (let j = 0; j < t; j++) {
    const src = k + <usize>(j * ld) * 4;
    for (let c = 0; c < headDim; c++) store<f32>(kt + <usize>(c * t + j) * 4, load<f32>(src + (<usize>c << 2)));
  }
}
