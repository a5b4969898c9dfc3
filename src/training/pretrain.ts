/**
 * MAE pretraining as engine_pretrain.py runs it, on a WasmTrainer: per epoch the images in a
 * seeded order with random flips, micro-batches of `batch` images, gradients accumulated over
 * `accum` of them (their mean), the learning rate set from the fractional epoch before each
 * optimizer step (warm-up, then half-cosine), AdamW. Platform-neutral: where the data comes from,
 * what is logged and where checkpoints go are the caller's (src/cli/pretrain.ts in Node).
 *
 * Every random draw comes from the seed and the position in the run (epoch order and flips from
 * (seed, epoch), masks from (seed, micro-batch)), so a run resumed from a checkpoint takes the same
 * steps as one that was never stopped.
 */
import { InputError } from '../errors.js';
import { shapesOf } from '../shapes.js';
import type { WasmTrainer } from './trainer.js';
import { type TrainingImages, batchesPerEpoch, epochFlips, epochOrder, mixSeed, readBatch } from './data.js';
import { type MaskingStrategy, keptPatches, sampleMasking } from './masking-strategies.js';
import { type Schedule, checkSchedule, learningRate, peakLr } from './schedule.js';

export interface PretrainOptions {
  /** Images per micro-batch (one kernel call). */
  readonly batch: number;
  /** Micro-batches per optimizer step (the effective batch is batch·accum). */
  readonly accum: number;
  readonly epochs: number;
  /** Stop after this many optimizer steps in all (the schedule still spans `epochs`). */
  readonly maxIters?: number;
  /** Base learning rate: lr = blr·batch·accum/256. */
  readonly blr: number;
  readonly minLr: number;
  readonly warmupEpochs: number;
  readonly weightDecay: number;
  readonly maskRatio: number;
  readonly masking: MaskingStrategy;
  /** The loss over the removed patches (the paper) or all of them. */
  readonly lossOn: 'removed' | 'all';
  /** Per-patch normalised pixel target. */
  readonly normPix: boolean;
  /** The encoder sees a mask token for each removed patch (Table 1c's "w/ [M]"): the trainer must be made for it. */
  readonly encoderMaskTokens?: boolean;
  /** Random horizontal flips (default on). */
  readonly flip?: boolean;
  readonly seed: number;
}

/** Where a run stands: enough, with the weights and optimizer state, to go on exactly. */
export interface PretrainPosition {
  /** Epoch in progress (0-based). */
  epoch: number;
  /** Micro-batches of this epoch done. */
  batchInEpoch: number;
  /** Optimizer steps done in all. */
  step: number;
  /** Training seconds before this session (resumed runs). */
  seconds: number;
}

export interface StepLog {
  /** Optimizer steps done (1-based). */
  readonly iter: number;
  /** Fractional epoch at the step's start. */
  readonly epoch: number;
  /** Mean loss of the step's micro-batches (the objective trained). */
  readonly loss: number;
  readonly lr: number;
  /** Training seconds since the run's start. */
  readonly seconds: number;
  /** Images per second over the step. */
  readonly imagesPerS: number;
}

export interface EpochLog {
  /** Epochs done (1-based). */
  readonly epoch: number;
  /** Mean training loss over the epoch's steps (this session's). */
  readonly trainLoss: number;
  readonly lr: number;
  readonly seconds: number;
}

export interface PretrainHooks {
  onStep?(log: StepLog): void;
  /** After each epoch's last step (and before a stop asked for by shouldStop): write a checkpoint here. */
  onEpoch?(log: EpochLog, position: PretrainPosition): void | Promise<void>;
  /** Checked between optimizer steps: true ends the run early (SIGINT), after onStop. */
  shouldStop?(): boolean;
  onStop?(position: PretrainPosition): void | Promise<void>;
  /** A clock in seconds (default performance.now()/1000). */
  now?(): number;
}

/** Resolves after the event loop has had a turn (setTimeout: there in Node, browsers and workers). */
export const yieldToEventLoop = (): Promise<void> => new Promise((done) => setTimeout(done, 0));

/** Optimizer steps per epoch: full micro-batches, grouped by accum (a trailing partial group is dropped). */
export function stepsPerEpoch(count: number, batch: number, accum: number): number {
  return Math.floor(batchesPerEpoch(count, batch) / accum);
}

export function checkPretrainOptions(o: PretrainOptions, images: TrainingImages): Schedule {
  const int = (v: number, what: string, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new InputError(`${what} must be an integer ≥ ${min}, got ${v}`);
  };
  int(o.batch, 'batch', 1);
  int(o.accum, 'accum', 1);
  int(o.epochs, 'epochs', 1);
  if (o.maxIters !== undefined) int(o.maxIters, 'max iters', 1);
  if (!(o.weightDecay >= 0 && Number.isFinite(o.weightDecay))) throw new InputError(`weight decay must be a finite number ≥ 0, got ${o.weightDecay}`);
  if (!(o.blr >= 0 && Number.isFinite(o.blr))) throw new InputError(`blr must be a finite number ≥ 0, got ${o.blr}`);
  if (stepsPerEpoch(images.count, o.batch, o.accum) < 1) throw new InputError(`${images.count} images make no full step of batch ${o.batch} × accum ${o.accum}`);
  return checkSchedule({ lr: peakLr(o.blr, o.batch * o.accum), minLr: o.minLr, warmupEpochs: o.warmupEpochs, epochs: o.epochs });
}

/** Runs (or continues, from `position`) a pretraining; returns where it ended. */
export async function pretrain(trainer: WasmTrainer, images: TrainingImages, o: PretrainOptions, position: PretrainPosition, hooks: PretrainHooks = {}): Promise<PretrainPosition> {
  const schedule = checkPretrainOptions(o, images);
  const cfg = trainer.config;
  const { grid } = shapesOf(cfg);
  if (images.size !== cfg.numChannels * cfg.imageSize ** 2) throw new InputError(`training images are [${images.channels},${images.side},${images.side}], the model takes [${cfg.numChannels},${cfg.imageSize},${cfg.imageSize}]`);
  if ((o.encoderMaskTokens === true) !== (trainer.variant.encoderMaskTokens === true)) throw new InputError('the trainer was made for another encoder (with or without mask tokens)');
  if (o.batch > trainer.layout.batch) throw new InputError(`batch ${o.batch} is more than the trainer's memory holds (${trainer.layout.batch})`);
  const keep = keptPatches(o.masking, grid, o.maskRatio);
  if (keep < 1) throw new InputError(`mask ratio ${o.maskRatio} keeps no patch of ${grid * grid}`);
  if (o.lossOn === 'removed' && keep === grid * grid) throw new InputError('the mask removes no patch: the loss over removed patches is 0/0 (use the loss on all patches)');
  const now = hooks.now ?? ((): number => performance.now() / 1000);
  const perEpoch = stepsPerEpoch(images.count, o.batch, o.accum);
  const microPerEpoch = batchesPerEpoch(images.count, o.batch);
  const pixels = new Float32Array(o.batch * images.size);
  const pos = { ...position };
  const start = now() - pos.seconds;
  const allPatches = o.lossOn === 'all';
  for (; pos.epoch < o.epochs; pos.epoch++) {
    const order = epochOrder(images.count, o.seed, pos.epoch);
    const flips = o.flip === false ? undefined : epochFlips(images.count, o.seed, pos.epoch);
    let epochLoss = 0, epochSteps = 0, lr = 0;
    while (pos.batchInEpoch < perEpoch * o.accum) {
      if (o.maxIters !== undefined && pos.step >= o.maxIters) break;
      // A step is all resolved promises: let the event loop run (a signal's handler, a page's messages).
      await yieldToEventLoop();
      if (hooks.shouldStop?.()) {
        pos.seconds = now() - start;
        await hooks.onStop?.(pos);
        return pos;
      }
      const t0 = now();
      lr = learningRate(schedule, pos.batchInEpoch / microPerEpoch + pos.epoch);
      let loss = 0;
      for (let k = 0; k < o.accum; k++) {
        const micro = pos.epoch * microPerEpoch + pos.batchInEpoch;
        readBatch(images, order, flips, pos.batchInEpoch, o.batch, pixels);
        const m = sampleMasking(o.masking, o.batch, grid, o.maskRatio, mixSeed(o.seed, 3, micro));
        const l = await trainer.forward(pixels, o.batch, m, { allPatches });
        loss += (o.normPix ? l.lossNormPix : l.loss) / o.accum;
        await trainer.backward({ normPix: o.normPix, accumulate: k > 0 });
        pos.batchInEpoch++;
      }
      if (!Number.isFinite(loss)) throw new InputError(`loss is ${loss} at step ${pos.step + 1}: stopping (as engine_pretrain.py does)`);
      trainer.scaleGradients(1 / o.accum);
      trainer.step({ lr, weightDecay: o.weightDecay });
      pos.step++;
      epochLoss += loss;
      epochSteps++;
      const t1 = now();
      hooks.onStep?.({ iter: pos.step, epoch: (pos.batchInEpoch - o.accum) / microPerEpoch + pos.epoch, loss, lr, seconds: t1 - start, imagesPerS: (o.batch * o.accum) / Math.max(t1 - t0, 1e-9) });
    }
    if (pos.batchInEpoch < perEpoch * o.accum) break; // stopped by maxIters mid-epoch
    pos.batchInEpoch = 0;
    pos.seconds = now() - start;
    await hooks.onEpoch?.({ epoch: pos.epoch + 1, trainLoss: epochSteps > 0 ? epochLoss / epochSteps : Number.NaN, lr, seconds: pos.seconds }, { ...pos, epoch: pos.epoch + 1 });
    if (o.maxIters !== undefined && pos.step >= o.maxIters) {
      pos.epoch++;
      break;
    }
  }
  pos.seconds = now() - start;
  return pos;
}
