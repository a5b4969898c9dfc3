// LayerNorm's backward and the forward variant that saves what it reads (the per-row mean and
// rstd = 1/√(var + eps)). Generated kernels call these with the width as a literal.
//
// With x̂ = (x − mean)·rstd and ĝ = dy⊙w, per row:
//   dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)),   dw += dy⊙x̂,   db += dy.
// dw and db accumulate: across rows here, and across calls (micro-batches) by the caller. Threads
// splitting the rows must not share dw/db (the adds are not atomic): each thread accumulates into
// its own partial [2, width] buffer and the host adds the partials in thread order afterwards,
// so the sum is deterministic for a given thread count.
import { hsum } from './simd';
import { layerNormRows } from './layernorm';

/** The forward (layerNormRows, unchanged) and, per row, the mean and rstd it used. */
@inline export function layerNormStatsRows(x: usize, w: usize, b: usize, out: usize, mean: usize, rstd: usize, rows: i32, width: i32, eps: f32): void {
  layerNormRows(x, w, b, out, rows, width, eps);
  // The same two passes in the same order as layerNormRows, so the saved values are the ones it used
  // (the test checks out bit for bit against them). Factoring them out of layerNormRows changed the
  // forward's kernels.wasm bytes, hence the repetition and the second read of x.
  const vecEnd = width & ~3;
  const invWidth: f32 = 1.0 / <f32>width;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>(r * width) * 4;
    let s = f32x4.splat(0);
    let i = 0;
    for (; i < vecEnd; i += 4) s = f32x4.add(s, v128.load(xr + (<usize>i << 2)));
    let sum = hsum(s);
    for (; i < width; i++) sum += load<f32>(xr + (<usize>i << 2));
    const mu = sum * invWidth;
    const muV = f32x4.splat(mu);
    let q = f32x4.splat(0);
    i = 0;
    for (; i < vecEnd; i += 4) {
      const d = f32x4.sub(v128.load(xr + (<usize>i << 2)), muV);
      q = f32x4.add(q, f32x4.mul(d, d));
    }
    let sq = hsum(q);
    for (; i < width; i++) {
      const d = load<f32>(xr + (<usize>i << 2)) - mu;
      sq += d * d;
    }
    store<f32>(mean + (<usize>r << 2), mu);
    store<f32>(rstd + (<usize>r << 2), <f32>(1.0 / Math.sqrt(<f64>(sq * invWidth) + <f64>eps)));
  }
}

/**
 * dx [rows, width] from dy, the saved x, mean, rstd and w; dw, db [width] accumulated. dx may be dy
 * unless `accumulate` (dx += …: the residual stream's gradient already holds the skip path's).
 */
@inline export function layerNormBackwardRows(dy: usize, x: usize, mean: usize, rstd: usize, w: usize, dx: usize, dw: usize, db: usize, rows: i32, width: i32, accumulate: bool): void {
  const vecEnd = width & ~3;
  const invWidth: f32 = 1.0 / <f32>width;
  for (let r = 0; r < rows; r++) {
    const row = <usize>(r * width) * 4;
    const mu = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const muV = f32x4.splat(mu);
    const rsV = f32x4.splat(rs);
    // Pass 1: Σĝ and Σĝ⊙x̂ for the row, and the parameter gradients.
    let sg = f32x4.splat(0);
    let sgx = f32x4.splat(0);
    let i = 0;
    for (; i < vecEnd; i += 4) {
      const o = <usize>i << 2;
      const d = v128.load(dy + row + o);
      const xh = f32x4.mul(f32x4.sub(v128.load(x + row + o), muV), rsV);
      const g = f32x4.mul(d, v128.load(w + o));
      sg = f32x4.add(sg, g);
      sgx = f32x4.add(sgx, f32x4.mul(g, xh));
      v128.store(dw + o, f32x4.add(v128.load(dw + o), f32x4.mul(d, xh)));
      v128.store(db + o, f32x4.add(v128.load(db + o), d));
    }
    let sumG = hsum(sg);
    let sumGX = hsum(sgx);
    for (; i < width; i++) {
      const o = <usize>i << 2;
      const d = load<f32>(dy + row + o);
      const xh = (load<f32>(x + row + o) - mu) * rs;
      const g = d * load<f32>(w + o);
      sumG += g;
      sumGX += g * xh;
      store<f32>(dw + o, load<f32>(dw + o) + d * xh);
      store<f32>(db + o, load<f32>(db + o) + d);
    }
    const mg = sumG * invWidth;
    const mgx = sumGX * invWidth;
    const mgV = f32x4.splat(mg);
    const mgxV = f32x4.splat(mgx);
    // Pass 2: dx, element by element (reads dy[i] before writing dx[i]: in place is safe).
    i = 0;
    for (; i < vecEnd; i += 4) {
      const o = <usize>i << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(x + row + o), muV), rsV);
      const g = f32x4.mul(v128.load(dy + row + o), v128.load(w + o));
      const v = f32x4.mul(f32x4.sub(f32x4.sub(g, mgV), f32x4.mul(xh, mgxV)), rsV);
      v128.store(dx + row + o, accumulate ? f32x4.add(v128.load(dx + row + o), v) : v);
    }
    for (; i < width; i++) {
      const o = <usize>i << 2;
      const xh = (load<f32>(x + row + o) - mu) * rs;
      const g = load<f32>(dy + row + o) * load<f32>(w + o);
      const v = (g - mg - xh * mgx) * rs;
      store<f32>(dx + row + o, accumulate ? load<f32>(dx + row + o) + v : v);
    }
  }
}
