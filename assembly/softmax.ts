// Row softmax in place, as torch: subtract the row max, exp, divide by the sum. Vectorised over
// the row with exp4 (relative error ~2e-7, assembly/gelu.ts); the row's last cols % 4 values use
// the scalar Mathf.exp.
import { exp4 } from './gelu';
import { hsum } from './simd';

@inline export function softmaxRows(s: usize, rows: i32, cols: i32, stride: i32): void {
  const vecEnd = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const row = s + <usize>(r * stride) * 4;
    let mv = f32x4.splat(-Infinity);
    let j = 0;
    // pmax: one maxps (f32x4.max's NaN rules cost eight instructions); a NaN still reaches the output.
    for (; j < vecEnd; j += 4) mv = f32x4.pmax(mv, v128.load(row + (<usize>j << 2)));
    let mx = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; j < cols; j++) mx = max(mx, load<f32>(row + (<usize>j << 2)));
    const mxv = f32x4.splat(mx);
    let sv = f32x4.splat(0);
    j = 0;
    for (; j < vecEnd; j += 4) {
      const p = row + (<usize>j << 2);
      const e = exp4(f32x4.sub(v128.load(p), mxv));
      v128.store(p, e);
      sv = f32x4.add(sv, e);
    }
    let sum = hsum(sv);
    for (; j < cols; j++) {
      const e = Mathf.exp(load<f32>(row + (<usize>j << 2)) - mx);
      store<f32>(row + (<usize>j << 2), e);
      sum += e;
    }
    const inv = f32x4.splat(sum);
    j = 0;
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

/**
 * Softmax backward per row: ds = p⊙(dp − Σ_j dp_j·p_j), from the saved probabilities p and the
 * gradient dp of the output. ds may be dp (in place): the row's dot is taken before any write.
 */
@inline export function softmaxBackwardRows(p: usize, dp: usize, ds: usize, rows: i32, cols: i32, stride: i32): void {
  const vecEnd = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const row = <usize>(r * stride) * 4;
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j < vecEnd; j += 4) {
      const o = row + (<usize>j << 2);
      acc = f32x4.add(acc, f32x4.mul(v128.load(dp + o), v128.load(p + o)));
    }
    let dot = hsum(acc);
    for (; j < cols; j++) {
      const o = row + (<usize>j << 2);
      dot += load<f32>(dp + o) * load<f32>(p + o);
    }
    const dotV = f32x4.splat(dot);
    j = 0;
    for (; j < vecEnd; j += 4) {
      const o = row + (<usize>j << 2);
      v128.store(ds + o, f32x4.mul(v128.load(p + o), f32x4.sub(v128.load(dp + o), dotV)));
    }
    for (; j < cols; j++) {
      const o = row + (<usize>j << 2);
      store<f32>(ds + o, load<f32>(p + o) * (load<f32>(dp + o) - dot));
    }
  }
}
