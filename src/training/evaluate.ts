/**
 * A pretraining objective on held-out images: every image once, in order, unflipped, each batch
 * masked from (seed, batch index) so that two models are scored on the same masks. The mean is
 * over images (each batch's loss weighted by its size): the test loss of an ablation row.
 */
import { InputError } from '../errors.js';
import { shapesOf } from '../shapes.js';
import type { WasmTrainer } from './trainer.js';
import type { TrainingImages } from './data.js';
import { mixSeed } from './data.js';
import { type MaskingStrategy, sampleMasking } from './masking-strategies.js';

export interface ObjectiveOptions {
  readonly batch: number;
  readonly maskRatio: number;
  readonly masking: MaskingStrategy;
  readonly lossOn: 'removed' | 'all';
  readonly normPix: boolean;
  readonly seed: number;
}

const EVALUATION = 7;

export async function heldOutObjective(trainer: WasmTrainer, images: TrainingImages, o: ObjectiveOptions): Promise<number> {
  if (!Number.isInteger(o.batch) || o.batch < 1 || o.batch > trainer.layout.batch) throw new InputError(`evaluation batch must be an integer from 1 to ${trainer.layout.batch}, got ${o.batch}`);
  const { grid } = shapesOf(trainer.config);
  const pixels = new Float32Array(o.batch * images.size);
  let sum = 0;
  for (let start = 0, b = 0; start < images.count; start += o.batch, b++) {
    const n = Math.min(o.batch, images.count - start);
    for (let k = 0; k < n; k++) images.read(start + k, pixels.subarray(k * images.size, (k + 1) * images.size));
    const m = sampleMasking(o.masking, n, grid, o.maskRatio, mixSeed(o.seed, EVALUATION, b));
    const l = await trainer.forward(pixels.subarray(0, n * images.size), n, m, { allPatches: o.lossOn === 'all' });
    sum += (o.normPix ? l.lossNormPix : l.loss) * n;
  }
  return sum / images.count;
}
