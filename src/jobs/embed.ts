/** Image embeddings: the encoder on all patches (no masking), pooled to one vector per image. */
import type { MaeModel } from '../model.js';

export type Pooling = 'cls' | 'mean';

/** [N, D]: the cls token, or the mean of the L patch tokens (MAE's linear-probe features). */
export async function embed(model: MaeModel, pixels: Float32Array, opts: { batch: number; pool?: Pooling }): Promise<Float32Array> {
  const D = model.config.hiddenSize;
  const T = 1 + model.shapes.numPatches;
  const all = await model.encode(pixels, { batch: opts.batch });
  const out = new Float32Array(opts.batch * D);
  for (let n = 0; n < opts.batch; n++) {
    const base = n * T * D;
    if ((opts.pool ?? 'mean') === 'cls') {
      out.set(all.subarray(base, base + D), n * D);
      continue;
    }
    for (let d = 0; d < D; d++) {
      let s = 0;
      for (let t = 1; t < T; t++) s += all[base + t * D + d];
      out[n * D + d] = s / (T - 1);
    }
  }
  return out;
}
