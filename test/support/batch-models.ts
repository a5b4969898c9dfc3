/** What the batched-forward tests share: seeded pixels, and a model loaded with more threads than there may be cores. */
import { availableParallelism } from 'node:os';
import { MaeModel } from '../../src/node/index.js';
import { mulberry32 } from '../reference/mae-reference.js';

/** n images of `per` values, uniform in [−2, 2) from a seed. */
export function seededPixels(n: number, per: number, seed: number): Float32Array {
  const u = mulberry32(seed);
  return Float32Array.from({ length: n * per }, () => u() * 4 - 2);
}

/** Loads with more threads than this machine may have cores (an uneven split on 2 cores is still a split). */
export async function loadWithThreads(model: string, threads: number, batch: number): Promise<MaeModel> {
  const bound = MaeModel.availableThreads;
  MaeModel.availableThreads = () => Math.max(threads, availableParallelism());
  try {
    return await MaeModel.load({ model, threads, batch });
  } finally {
    MaeModel.availableThreads = bound;
  }
}
