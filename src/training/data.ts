/**
 * Training data as the MAE recipe reads it: a set of preprocessed images, reshuffled every epoch
 * from the seed, each flipped horizontally with probability ½ (the recipe's only augmentation
 * here), in batches with the last partial one dropped (the official loader's drop_last). Every
 * draw comes from (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
 */
import { InputError } from '../errors.js';
import { mulberry32, uniform } from '../random.js';

/** Images already in the model's pixel space. */
export interface TrainingImages {
  readonly count: number;
  /** Values per image (C·H·W). */
  readonly size: number;
  readonly channels: number;
  readonly side: number;
  /** Writes image i's [C, H, W] pixels into out. */
  read(i: number, out: Float32Array): void;
}

/** Images held as one [N, C, H, W] array. */
export function pixelImages(pixels: Float32Array, channels: number, side: number): TrainingImages {
  const size = channels * side * side;
  if (pixels.length === 0 || pixels.length % size !== 0) throw new InputError(`pixel_values: ${pixels.length} values are not a whole number of [${channels},${side},${side}] images`);
  return { count: pixels.length / size, size, channels, side, read: (i, out) => out.set(pixels.subarray(i * size, (i + 1) * size)) };
}

/** A seed for one purpose of one step: the run's seed mixed with the parts (integers), as a uint32. */
export function mixSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0;
  for (const p of parts) h = mulberry32((h ^ Math.imul(p >>> 0, 0x9e3779b1)) >>> 0)();
  return h;
}

const SHUFFLE = 1, FLIP = 2;

/** The epoch's order of the images (Fisher–Yates from (seed, epoch)). */
export function epochOrder(count: number, seed: number, epoch: number): Int32Array {
  const rand = uniform(mixSeed(seed, SHUFFLE, epoch));
  const order = Int32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** Whether each position of the epoch's order is flipped (probability ½, from (seed, epoch)). */
export function epochFlips(count: number, seed: number, epoch: number): Uint8Array {
  const rand = uniform(mixSeed(seed, FLIP, epoch));
  return Uint8Array.from({ length: count }, () => (rand() < 0.5 ? 1 : 0));
}

/** Full batches per epoch (the last partial one dropped). */
export const batchesPerEpoch = (count: number, batch: number): number => Math.floor(count / batch);

/** Batch b of an epoch into out [batch, C, H, W], flips applied. */
export function readBatch(images: TrainingImages, order: Int32Array, flips: Uint8Array | undefined, b: number, batch: number, out: Float32Array): void {
  const { size, side } = images;
  const one = new Float32Array(size);
  for (let k = 0; k < batch; k++) {
    const pos = b * batch + k;
    const dst = out.subarray(k * size, (k + 1) * size);
    if (!flips || !flips[pos]) {
      images.read(order[pos]!, dst);
      continue;
    }
    images.read(order[pos]!, one);
    for (let row = 0; row < size / side; row++) {
      const at = row * side;
      for (let x = 0; x < side; x++) dst[at + x] = one[at + side - 1 - x]!;
    }
  }
}
