// LayerNorm over the last dimension: y = (x − mean)/sqrt(var + eps)·w + b, biased variance as torch.
// Generated kernels call this with the width and eps as literals; after inlining, binaryen
// specialises the loops to them.
import { hsum } from './simd';

@inline export function layerNormRows(x: usize, w: usize, b: usize, out: usize, rows: i32, width: i32, eps: f32): void {
  const vecEnd = width & ~3;
  const invWidth: f32 = 1.0 / <f32>width;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>(r * width) * 4;
    const yr = out + <usize>(r * width) * 4;
    // Two passes (mean, then centred squares) rather than E[x²] − E[x]²: no cancellation.
    let s = f32x4.splat(0);
    let i = 0;
    for (; i < vecEnd; i += 4) s = f32x4.add(s, v128.load(xr + (<usize>i << 2)));
    let sum = hsum(s);
    for (; i < width; i++) sum += load<f32>(xr + (<usize>i << 2));
    const mean = sum * invWidth;
    const meanV = f32x4.splat(mean);
    let q = f32x4.splat(0);
    i = 0;
    for (; i < vecEnd; i += 4) {
      const d = f32x4.sub(v128.load(xr + (<usize>i << 2)), meanV);
      q = f32x4.add(q, f32x4.mul(d, d));
    }
    let sq = hsum(q);
    for (; i < width; i++) {
      const d = load<f32>(xr + (<usize>i << 2)) - mean;
      sq += d * d;
    }
    const rstd: f32 = <f32>(1.0 / Math.sqrt(<f64>(sq * invWidth) + <f64>eps));
    const rstdV = f32x4.splat(rstd);
    i = 0;
    for (; i < vecEnd; i += 4) {
      const o = <usize>i << 2;
      const n = f32x4.mul(f32x4.sub(v128.load(xr + o), meanV), rstdV);
      v128.store(yr + o, f32x4.add(f32x4.mul(n, v128.load(w + o)), v128.load(b + o)));
    }
    for (; i < width; i++) {
      const o = <usize>i << 2;
      store<f32>(yr + o, (load<f32>(xr + o) - mean) * rstd * load<f32>(w + o) + load<f32>(b + o));
    }
  }
}
