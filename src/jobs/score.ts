/**
 * Anomaly scores: each image's reconstruction error — the normalised-pixel loss over its removed
 * patches — averaged over K random masks. An image unlike the training data reconstructs worse.
 * Each image's masks depend only on (seed, repeat, the image's index), not on how images are
 * batched.
 */
import type { MaeModel } from '../model.js';
import { InputError } from '../errors.js';
import { maskedMse, normPixTarget } from '../loss.js';
import { seededNoise } from '../masking.js';

/** Masks per image at most: each is a forward pass of the whole batch, so this bounds the work of one call. */
export const MAX_REPEATS = 1024;

export interface ScoreOptions {
  batch: number;
  maskRatio?: number;
  /** Random masks per image (default 1, at most MAX_REPEATS). */
  repeats?: number;
  seed?: number;
  /** Index of the first image of this batch in the whole set (for its masks). */
  firstIndex?: number;
}

export interface ImageScore {
  /** Mean normalised-pixel loss over the repeats: the score. */
  score: number;
  /** Mean plain-pixel loss over the repeats. */
  loss: number;
}

/** A 32-bit seed from (seed, repeat, image index): an integer hash (murmur3 finaliser). */
export function maskSeed(seed: number, repeat: number, index: number): number {
  let h = (seed ^ Math.imul(repeat + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export async function score(model: MaeModel, pixels: Float32Array, opts: ScoreOptions): Promise<ImageScore[]> {
  const repeats = opts.repeats ?? 1;
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > MAX_REPEATS) throw new InputError(`repeats must be an integer from 1 to ${MAX_REPEATS}, got ${repeats}`);
  const { numPatches: L, patchDim: P } = model.shapes;
  const ratio = opts.maskRatio ?? model.config.maskRatio;
  // The score is the loss over the removed patches: with none removed there is nothing to score.
  if (model.lenKeep(ratio) === L) throw new InputError(`mask ratio ${ratio} removes no patch of ${L}: there is nothing to score`);
  const first = opts.firstIndex ?? 0;
  const seed = opts.seed ?? 0;
  const sums = Array.from({ length: opts.batch }, () => ({ score: 0, loss: 0 }));
  for (let k = 0; k < repeats; k++) {
    const noise = new Float32Array(opts.batch * L);
    for (let n = 0; n < opts.batch; n++) noise.set(seededNoise(maskSeed(seed, k, first + n), 1, L), n * L);
    const r = await model.forward(pixels, { batch: opts.batch, noise, maskRatio: opts.maskRatio });
    const norm = normPixTarget(r.targetPatches, opts.batch * L, P);
    for (let n = 0; n < opts.batch; n++) {
      const rows = (a: Float32Array): Float32Array => a.subarray(n * L * P, (n + 1) * L * P);
      const mask = r.mask.subarray(n * L, (n + 1) * L);
      sums[n].score += maskedMse(rows(r.pred), rows(norm), mask, 1, L, P);
      sums[n].loss += maskedMse(rows(r.pred), rows(r.targetPatches), mask, 1, L, P);
    }
  }
  return sums.map((s) => ({ score: s.score / repeats, loss: s.loss / repeats }));
}
