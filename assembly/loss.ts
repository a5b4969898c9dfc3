// The gradient of MAE's loss with respect to the prediction, models_mae.py's forward_loss:
//   loss = Σ_rows w_r · mean_k (pred − target)² / Σ_rows w_r,  w = mask (1 = removed) or all ones,
//   d loss / d pred = (pred − target) · w_r · 2/(P·Σ w), pooled over every row of the batch.
// With normPix the target is each row's patch normalised in the kernel: (t − mean)/√(var + 1e-6),
// var unbiased (torch.var), a constant of the input (no gradient flows into it).
import { hsum } from './simd';

/** 2/(P·Σw): Σ over all `rows` (every thread sums the same values in the same order). */
@inline function lossScale(mask: usize, rows: i32, patchDim: i32, allPatches: bool): f32 {
  let den: f32 = <f32>rows;
  if (!allPatches) {
    den = 0;
    for (let r = 0; r < rows; r++) den += load<f32>(mask + (<usize>r << 2));
  }
  return <f32>(2.0 / (<f64>patchDim * <f64>den));
}

/**
 * dpred [rows, P] for rows [r0, r1) of `rows`; pred, target [rows, P] (target in pred's column
 * order), mask [rows] (unread with allPatches). Rows with weight 0 get exactly +0.
 */
@inline export function mseLossBackwardRows(pred: usize, target: usize, mask: usize, dpred: usize, rows: i32, r0: i32, r1: i32, patchDim: i32, normPix: bool, allPatches: bool): void {
  const scale = lossScale(mask, rows, patchDim, allPatches);
  const vecEnd = patchDim & ~3;
  for (let r = r0; r < r1; r++) {
    const row = <usize>(r * patchDim) * 4;
    const w: f32 = allPatches ? 1 : load<f32>(mask + (<usize>r << 2));
    if (w == 0) {
      memory.fill(dpred + row, 0, <usize>patchDim * 4);
      continue;
    }
    // target = (t − shift)·mul: (t − 0)·1 plain, (t − mean)·rstd normalised.
    let shift: f32 = 0;
    let mul: f32 = 1;
    if (normPix) {
      let s = f32x4.splat(0);
      let i = 0;
      for (; i < vecEnd; i += 4) s = f32x4.add(s, v128.load(target + row + (<usize>i << 2)));
      let sum = hsum(s);
      for (; i < patchDim; i++) sum += load<f32>(target + row + (<usize>i << 2));
      shift = sum / <f32>patchDim;
      const shiftV = f32x4.splat(shift);
      let q = f32x4.splat(0);
      i = 0;
      for (; i < vecEnd; i += 4) {
        const d = f32x4.sub(v128.load(target + row + (<usize>i << 2)), shiftV);
        q = f32x4.add(q, f32x4.mul(d, d));
      }
      let sq = hsum(q);
      for (; i < patchDim; i++) {
        const d = load<f32>(target + row + (<usize>i << 2)) - shift;
        sq += d * d;
      }
      mul = <f32>(1.0 / Math.sqrt(<f64>(sq / <f32>(patchDim - 1)) + 1e-6));
    }
    const g: f32 = scale * w;
    const shiftV = f32x4.splat(shift);
    const mulV = f32x4.splat(mul);
    const gV = f32x4.splat(g);
    let i = 0;
    for (; i < vecEnd; i += 4) {
      const o = row + (<usize>i << 2);
      const t = f32x4.mul(f32x4.sub(v128.load(target + o), shiftV), mulV);
      v128.store(dpred + o, f32x4.mul(f32x4.sub(v128.load(pred + o), t), gV));
    }
    for (; i < patchDim; i++) {
      const o = row + (<usize>i << 2);
      store<f32>(dpred + o, (load<f32>(pred + o) - (load<f32>(target + o) - shift) * mul) * g);
    }
  }
}
