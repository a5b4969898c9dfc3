/**
 * Reconstruction as in the MAE paper's figures: for each image, the masked input (removed patches
 * grey), the reconstruction with the visible patches pasted back over the prediction, the raw
 * prediction, and the original; plus the image's own losses.
 */
import type { MaeModel } from '../model.js';
import { shapesOf } from '../config.js';
import { maskedMse, normPixTarget, NORM_PIX_EPS } from '../loss.js';
import { imagePixels, unpatchify } from '../patchify.js';
import type { PreprocessorConfig } from '../image/preprocess.js';
import { type Image8, toImage8 } from './display.js';

export interface ReconstructOptions {
  batch: number;
  maskRatio?: number;
  seed?: number;
  noise?: Float32Array;
}

export interface Reconstruction {
  /** Plain-pixel MSE over this image's removed patches. */
  loss: number;
  /** Normalised-pixel MSE over this image's removed patches. */
  lossNormPix: number;
  /** [L]: 1 = removed. */
  mask: Float32Array;
  masked: Image8;
  /** Prediction with the visible patches replaced by the original ones (the paper's figures). */
  reconstruction: Image8;
  /** The decoder's prediction for every patch. */
  prediction: Image8;
  original: Image8;
}

/** Grey, in 8-bit levels, for removed patches in the masked panel. */
const MASK_GREY = 128;

/**
 * Maps predicted patches to pixels. A model trained with norm_pix_loss predicts per-patch
 * normalised pixels: they are mapped back with the original patch's mean and (unbiased) variance,
 * as the MAE visualisation does.
 */
function predictedPatches(pred: Float32Array, target: Float32Array, rows: number, patchDim: number, normPix: boolean): Float32Array {
  if (!normPix) return pred;
  const out = new Float32Array(pred.length);
  for (let r = 0; r < rows; r++) {
    const o = r * patchDim;
    let mean = 0;
    for (let i = 0; i < patchDim; i++) mean += target[o + i];
    mean /= patchDim;
    let v = 0;
    for (let i = 0; i < patchDim; i++) v += (target[o + i] - mean) ** 2;
    const std = Math.sqrt(v / (patchDim - 1) + NORM_PIX_EPS);
    for (let i = 0; i < patchDim; i++) out[o + i] = pred[o + i] * std + mean;
  }
  return out;
}

export async function reconstruct(model: MaeModel, pixels: Float32Array, pp: PreprocessorConfig, opts: ReconstructOptions): Promise<Reconstruction[]> {
  const cfg = model.config;
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const C = cfg.numChannels as 1 | 3;
  const size = cfg.imageSize;
  const per = imagePixels(cfg);
  const r = await model.forward(pixels, opts);
  const normTarget = normPixTarget(r.targetPatches, opts.batch * L, P);
  const out: Reconstruction[] = [];
  for (let n = 0; n < opts.batch; n++) {
    const target = r.targetPatches.subarray(n * L * P, (n + 1) * L * P);
    const pred = predictedPatches(r.pred.subarray(n * L * P, (n + 1) * L * P), target, L, P, cfg.normPixLoss);
    const mask = r.mask.subarray(n * L, (n + 1) * L);
    const pasted = new Float32Array(L * P);
    for (let l = 0; l < L; l++) pasted.set((mask[l] ? pred : target).subarray(l * P, (l + 1) * P), l * P);
    const image = (patches: Float32Array): Image8 => toImage8(unpatchify(patches, 1, cfg), C, size, pp);
    const original = toImage8(pixels.subarray(n * per, (n + 1) * per), C, size, pp);
    // The input with the removed patches greyed: target is the input's patches.
    const masked = { ...original, data: original.data.slice() };
    // Grey out the removed patches in display space.
    const grid = size / cfg.patchSize;
    for (let l = 0; l < L; l++) {
      if (!mask[l]) continue;
      const y0 = Math.floor(l / grid) * cfg.patchSize, x0 = (l % grid) * cfg.patchSize;
      for (let y = y0; y < y0 + cfg.patchSize; y++) masked.data.fill(MASK_GREY, (y * size + x0) * C, (y * size + x0 + cfg.patchSize) * C);
    }
    out.push({
      loss: maskedMse(r.pred.subarray(n * L * P, (n + 1) * L * P), target, mask, 1, L, P),
      lossNormPix: maskedMse(r.pred.subarray(n * L * P, (n + 1) * L * P), normTarget.subarray(n * L * P, (n + 1) * L * P), mask, 1, L, P),
      mask: Float32Array.from(mask),
      masked,
      reconstruction: image(pasted),
      prediction: image(pred),
      original,
    });
  }
  return out;
}

