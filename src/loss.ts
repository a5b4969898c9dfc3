/**
 * MAE reconstruction loss (models_mae.py `forward_loss`): per-patch mean squared error against
 * the patchified image, averaged over the removed patches only. Sums run in float64 so the
 * result is at least as accurate as the float32 reference.
 */
import type { MaeConfig } from './config.js';
import { shapesOf } from './config.js';
import { InputError } from './errors.js';
import { patchify } from './patchify.js';

/** Added to the per-patch variance in the norm_pix target, as in models_mae.py. */
export const NORM_PIX_EPS = 1e-6;

function checkLength(name: string, data: ArrayLike<number>, shape: readonly number[]): void {
  const expected = shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new InputError(`${name}: expected [${shape.join(',')}] (${expected} values), got ${data.length} values`);
  }
}

function checkDims(n: number, numPatches: number, patchDim: number): void {
  for (const [what, v] of [['batch size', n], ['number of patches', numPatches], ['patch size p·p·C', patchDim]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InputError(`${what} must be a positive integer, got ${v}`);
  }
}

/**
 * The norm_pix_loss target: each patch row of `target` [rows,patchDim] becomes
 * (t − mean) / sqrt(var + 1e-6) with the **unbiased** variance (torch.var's default, divides by
 * patchDim − 1), so patchDim must be at least 2.
 */
export function normPixTarget(target: Float32Array, rows: number, patchDim: number): Float32Array {
  if (!Number.isInteger(rows) || rows < 1) throw new InputError(`rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(patchDim) || patchDim < 2) {
    throw new InputError(`patch size p·p·C must be an integer ≥ 2 for the unbiased per-patch variance, got ${patchDim}`);
  }
  checkLength('target', target, [rows, patchDim]);
  const out = new Float32Array(target.length);
  for (let r = 0; r < rows; r++) {
    const base = r * patchDim;
    let sum = 0;
    for (let k = 0; k < patchDim; k++) sum += target[base + k];
    const mean = sum / patchDim;
    let sq = 0;
    for (let k = 0; k < patchDim; k++) {
      const d = target[base + k] - mean;
      sq += d * d;
    }
    const scale = 1 / Math.sqrt(sq / (patchDim - 1) + NORM_PIX_EPS);
    for (let k = 0; k < patchDim; k++) out[base + k] = (target[base + k] - mean) * scale;
  }
  return out;
}

/**
 * sum_{n,l}(mse[n,l]·mask[n,l]) / sum(mask), where mse[n,l] is the mean over p·p·C of
 * (pred − target)²: the mean over removed patches, pooled over the batch (not a mean of
 * per-image means). Follows the formula literally, so a non-finite pred at a kept patch
 * still makes the loss NaN, as in torch. Returns NaN when no patch is removed
 * (sum(mask) = 0, e.g. mask ratio 0): the reference's 0/0.
 */
export function maskedMse(
  pred: Float32Array, target: Float32Array, mask: Float32Array,
  n: number, numPatches: number, patchDim: number,
): number {
  checkDims(n, numPatches, patchDim);
  checkLength('pred', pred, [n, numPatches, patchDim]);
  checkLength('target', target, [n, numPatches, patchDim]);
  checkLength('mask', mask, [n, numPatches]);
  let weighted = 0, maskSum = 0;
  for (let i = 0; i < n * numPatches; i++) {
    const base = i * patchDim;
    let sq = 0;
    for (let k = 0; k < patchDim; k++) {
      const d = pred[base + k] - target[base + k];
      sq += d * d;
    }
    weighted += (sq / patchDim) * mask[i];
    maskSum += mask[i];
  }
  return weighted / maskSum;
}

export interface LossResult {
  /** Loss with norm_pix_loss = false. */
  loss: number;
  /** Loss with norm_pix_loss = true (same pred and mask). */
  lossNormPix: number;
  /** patchify(pixels), [N,L,p·p·C]. */
  targetPatches: Float32Array;
}

/** Both MAE losses for decoder output `pred` [N,L,p·p·C], `pixels` [N,C,H,W] and `mask` [N,L]. */
export function forwardLoss(pred: Float32Array, pixels: Float32Array, mask: Float32Array, n: number, cfg: MaeConfig): LossResult {
  const { numPatches, patchDim } = shapesOf(cfg);
  const targetPatches = patchify(pixels, n, cfg);
  const loss = maskedMse(pred, targetPatches, mask, n, numPatches, patchDim);
  const lossNormPix = maskedMse(pred, normPixTarget(targetPatches, n * numPatches, patchDim), mask, n, numPatches, patchDim);
  return { loss, lossNormPix, targetPatches };
}
