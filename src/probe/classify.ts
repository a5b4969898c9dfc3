/** Classification with a linear-probe head: pooled encoder features → the head's top-k classes. */
import { InputError } from '../errors.js';
import { embed } from '../jobs/embed.js';
import type { MaeModel } from '../model.js';
import { type ClassScore, type ProbeHead, probeProbabilities, topClasses } from './head.js';

/** Refuses a head whose feature width is not the model's hidden size. */
export function checkHeadFitsModel(head: ProbeHead, model: Pick<MaeModel, 'config'>, source = 'probe head'): void {
  if (head.dim !== model.config.hiddenSize) {
    throw new InputError(`${source}: fitted on ${head.dim}-dimensional features, but the model's hidden size is ${model.config.hiddenSize} (a head belongs to the encoder it was fitted on)`);
  }
}

/** The `top` most probable classes of each of `batch` images ([N, C, H, W] pixels), most probable first. */
export async function classify(model: MaeModel, head: ProbeHead, pixels: Float32Array, opts: { batch: number; top?: number }): Promise<ClassScore[][]> {
  checkHeadFitsModel(head, model);
  const features = await embed(model, pixels, { batch: opts.batch, pool: head.pool });
  const p = probeProbabilities(head, features, opts.batch);
  return Array.from({ length: opts.batch }, (_, i) => topClasses(head, p, i, opts.top ?? 5));
}
