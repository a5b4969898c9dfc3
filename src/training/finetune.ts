/**
 * Supervised (partial) fine-tuning as the paper judges an MAE encoder (§4.3, Figure 9): the
 * encoder on every patch, the final norm, a pooled feature (mean of the patch tokens, or CLS), a
 * linear head, softmax cross-entropy; only the last `blocks` encoder blocks (and the final norm)
 * open — 0 trains the head alone (a linear probe by gradient descent), all of them full
 * fine-tuning. The frozen blocks get no backward at all. The recipe is main_finetune.py's
 * optimizer: AdamW (betas 0.9/0.999), lr = blr·batch/256 with warm-up and half-cosine, layer-wise
 * lr decay (util/lr_decay.py: block i scaled by decay^(depth − i), the patch embedding and cls by
 * decay^(depth + 1), norm and head by 1), weight decay on ≥ 2-D weights but not on cls_token.
 * The head is MAE's: weight N(0, (2e-5)²), bias 0. Platform-neutral; src/cli/finetune.ts runs it.
 */
import { InputError } from '../errors.js';
import { shapesOf } from '../shapes.js';
import { uniform } from '../random.js';
import type { WasmTrainer } from './trainer.js';
import { type TrainingImages, epochFlips, epochOrder, readBatch } from './data.js';
import { type Schedule, checkSchedule, learningRate, peakLr } from './schedule.js';
import { yieldToEventLoop } from './pretrain.js';

export type Pooling = 'mean' | 'cls';

export interface LabelledImages {
  readonly images: TrainingImages;
  /** [images.count] class indices. */
  readonly labels: Int32Array;
}

export interface FinetuneOptions {
  /** Encoder blocks opened from the top: 0 (the head alone) … depth (full fine-tuning). */
  readonly blocks: number;
  readonly classes: number;
  readonly epochs: number;
  readonly batch: number;
  readonly blr: number;
  readonly minLr: number;
  readonly warmupEpochs: number;
  readonly weightDecay: number;
  /** Layer-wise lr decay (1: none). */
  readonly layerDecay: number;
  readonly pool: Pooling;
  readonly seed: number;
  /** Random horizontal flips (default on). */
  readonly flip?: boolean;
  /** Stop after this many steps in all (tests). */
  readonly maxIters?: number;
}

/** The linear head: weight [classes, D], bias [classes] (float64 here; stored as float32). */
export interface LinearHead {
  readonly weight: Float64Array;
  readonly bias: Float64Array;
}

export interface FinetuneResult {
  readonly head: LinearHead;
  readonly steps: number;
  /** Seconds of the steps (forward, backward, optimizer), and per step. */
  readonly seconds: number;
  readonly msPerStep: number;
  readonly imagesPerS: number;
}

/** Pooled features [n, D] of a latent [n, 1 + L, D]. */
export function pool(latent: Float32Array, n: number, L: number, D: number, how: Pooling): Float64Array {
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const base = i * (1 + L) * D;
    if (how === 'cls') {
      for (let d = 0; d < D; d++) out[i * D + d] = latent[base + d]!;
      continue;
    }
    for (let l = 1; l <= L; l++) for (let d = 0; d < D; d++) out[i * D + d]! += latent[base + l * D + d]!;
    for (let d = 0; d < D; d++) out[i * D + d]! /= L;
  }
  return out;
}

/** Logits [n, C] = features·Wᵀ + b. */
export function logits(head: LinearHead, x: Float64Array, n: number, D: number): Float64Array {
  const C = head.bias.length;
  const out = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) {
      let s = head.bias[c]!;
      for (let d = 0; d < D; d++) s += x[i * D + d]! * head.weight[c * D + d]!;
      out[i * C + c] = s;
    }
  }
  return out;
}

/** Mean softmax cross-entropy and its gradient with respect to the logits (in place of them: dlogits). */
export function crossEntropy(z: Float64Array, labels: ArrayLike<number>, n: number, C: number): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = z.subarray(i * C, (i + 1) * C);
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, row[c]!);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(row[c]! - max);
    const y = labels[i]!;
    loss += Math.log(sum) + max - row[y]!;
    for (let c = 0; c < C; c++) row[c] = (Math.exp(row[c]! - max) / sum - (c === y ? 1 : 0)) / n;
  }
  return loss / n;
}

/** AdamW on a float64 array (the head), torch's update. */
class HeadAdamW {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  constructor(private readonly p: Float64Array) {
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
  }
  step(g: Float64Array, t: number, lr: number, wd: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): void {
    const bc1 = 1 - beta1 ** t, bc2 = Math.sqrt(1 - beta2 ** t);
    for (let i = 0; i < this.p.length; i++) {
      this.p[i]! *= 1 - lr * wd;
      this.m[i] = beta1 * this.m[i]! + (1 - beta1) * g[i]!;
      this.v[i] = beta2 * this.v[i]! + (1 - beta2) * g[i]! * g[i]!;
      this.p[i]! -= (lr / bc1) * (this.m[i]! / (Math.sqrt(this.v[i]!) / bc2 + eps));
    }
  }
}

/** The encoder's canonical weights of one layer id (util/lr_decay.py: 0 = patch embedding and cls, i + 1 = block i, depth + 1 = the final norm). */
function layerWeights(depth: number, layer: number): string[] {
  if (layer === 0) return ['patch.w', 'patch.b', 'cls_pos'];
  if (layer === depth + 1) return ['norm.w', 'norm.b'];
  const p = `enc.${layer - 1}`;
  return ['ln1.w', 'ln1.b', 'qkv.w', 'qkv.b', 'proj.w', 'proj.b', 'ln2.w', 'ln2.b', 'fc1.w', 'fc1.b', 'fc2.w', 'fc2.b'].map((k) => `${p}.${k}`);
}

export function checkFinetuneOptions(o: FinetuneOptions, depth: number, count: number): Schedule {
  const int = (v: number, what: string, min: number, max = Infinity): void => {
    if (!Number.isInteger(v) || v < min || v > max) throw new InputError(`${what} must be an integer from ${min}${max < Infinity ? ` to ${max}` : ''}, got ${v}`);
  };
  int(o.blocks, 'blocks', 0, depth);
  int(o.classes, 'classes', 2);
  int(o.epochs, 'epochs', 1);
  int(o.batch, 'batch', 1);
  if (Math.floor(count / o.batch) < 1) throw new InputError(`${count} training images make no full batch of ${o.batch}`);
  if (!(o.layerDecay > 0 && o.layerDecay <= 1)) throw new InputError(`layer decay must be in (0, 1], got ${o.layerDecay}`);
  if (!(o.weightDecay >= 0 && Number.isFinite(o.weightDecay))) throw new InputError(`weight decay must be a finite number ≥ 0, got ${o.weightDecay}`);
  return checkSchedule({ lr: peakLr(o.blr, o.batch), minLr: o.minLr, warmupEpochs: o.warmupEpochs, epochs: o.epochs });
}

export async function finetune(trainer: WasmTrainer, data: LabelledImages, o: FinetuneOptions, hooks: { onStep?(s: { step: number; epoch: number; loss: number; lr: number }): void; now?(): number } = {}): Promise<FinetuneResult> {
  const cfg = trainer.config;
  const depth = cfg.numHiddenLayers;
  const schedule = checkFinetuneOptions(o, depth, data.images.count);
  if (data.labels.length !== data.images.count) throw new InputError(`${data.images.count} images but ${data.labels.length} labels`);
  for (const y of data.labels) if (!(y >= 0 && y < o.classes)) throw new InputError(`label ${y} is outside 0 … ${o.classes - 1}`);
  const { numPatches: L } = shapesOf(cfg);
  const D = cfg.hiddenSize, C = o.classes, B = o.batch;
  const rand = uniform((o.seed ^ 0x7f4a7c15) >>> 0);
  const head: LinearHead = {
    weight: Float64Array.from({ length: C * D }, () => 2e-5 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())),
    bias: new Float64Array(C),
  };
  const headOpt = { weight: new HeadAdamW(head.weight), bias: new HeadAdamW(head.bias) };
  // The open encoder weights, each with its layer's lr scale and weight decay rule.
  const open: Array<{ canonical: string; scale: number; decay: boolean }> = [];
  if (o.blocks > 0) {
    for (let layer = depth + 1; layer >= 0; layer--) {
      const isOpen = layer === depth + 1 || (layer >= 1 && layer - 1 >= depth - o.blocks) || (layer === 0 && o.blocks === depth);
      if (!isOpen) continue;
      for (const canonical of layerWeights(depth, layer)) {
        const decay = !(canonical.endsWith('.b') || /\.ln\d\.w$|^norm\.w$/.test(canonical) || canonical === 'cls_pos');
        open.push({ canonical, scale: o.layerDecay ** (depth + 1 - layer), decay });
      }
    }
  }
  const now = hooks.now ?? ((): number => performance.now() / 1000);
  const perEpoch = Math.floor(data.images.count / B);
  const pixels = new Float32Array(B * data.images.size);
  const labels = new Int32Array(B);
  const dLatent = new Float32Array(B * (1 + L) * D);
  let step = 0, seconds = 0;
  outer: for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = epochOrder(data.images.count, o.seed, epoch);
    const flips = o.flip === false ? undefined : epochFlips(data.images.count, o.seed, epoch);
    for (let b = 0; b < perEpoch; b++) {
      if (o.maxIters !== undefined && step >= o.maxIters) break outer;
      await yieldToEventLoop();
      const t0 = now();
      const lr = learningRate(schedule, b / perEpoch + epoch);
      readBatch(data.images, order, flips, b, B, pixels);
      for (let k = 0; k < B; k++) labels[k] = data.labels[order[b * B + k]!]!;
      const latent = await trainer.encodeAll(pixels, B);
      const x = pool(latent, B, L, D, o.pool);
      const z = logits(head, x, B, D);
      const loss = crossEntropy(z, labels, B, C); // z now holds d loss / d logits
      // Head gradients, and d features = dz·W for the encoder.
      const gW = new Float64Array(C * D), gb = new Float64Array(C);
      const dx = new Float64Array(B * D);
      for (let i = 0; i < B; i++) {
        for (let c = 0; c < C; c++) {
          const g = z[i * C + c]!;
          gb[c]! += g;
          for (let d = 0; d < D; d++) {
            gW[c * D + d]! += g * x[i * D + d]!;
            dx[i * D + d]! += g * head.weight[c * D + d]!;
          }
        }
      }
      step++;
      if (o.blocks > 0) {
        dLatent.fill(0);
        for (let i = 0; i < B; i++) {
          const base = i * (1 + L) * D;
          if (o.pool === 'cls') for (let d = 0; d < D; d++) dLatent[base + d] = dx[i * D + d]!;
          else for (let l = 1; l <= L; l++) for (let d = 0; d < D; d++) dLatent[base + l * D + d] = dx[i * D + d]! / L;
        }
        await trainer.backwardFromLatent(dLatent, o.blocks);
        trainer.stepTensors(open.map((w) => ({ canonical: w.canonical, lr: lr * w.scale, weightDecay: w.decay ? o.weightDecay : 0 })));
      }
      headOpt.weight.step(gW, step, lr, o.weightDecay);
      headOpt.bias.step(gb, step, lr, 0);
      seconds += now() - t0;
      hooks.onStep?.({ step, epoch: b / perEpoch + epoch, loss, lr });
    }
  }
  return { head, steps: step, seconds, msPerStep: (1000 * seconds) / Math.max(1, step), imagesPerS: (step * B) / Math.max(seconds, 1e-9) };
}

/** Predicted class per image (batches of the trainer's size). */
export async function predict(trainer: WasmTrainer, images: TrainingImages, head: LinearHead, how: Pooling): Promise<Int32Array> {
  const { numPatches: L } = shapesOf(trainer.config);
  const D = trainer.config.hiddenSize, C = head.bias.length;
  const out = new Int32Array(images.count);
  const B = trainer.layout.batch;
  const pixels = new Float32Array(B * images.size);
  for (let at = 0; at < images.count; at += B) {
    const n = Math.min(B, images.count - at);
    for (let k = 0; k < n; k++) images.read(at + k, pixels.subarray(k * images.size, (k + 1) * images.size));
    const z = logits(head, pool(await trainer.encodeAll(pixels.subarray(0, n * images.size), n), n, L, D, how), n, D);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (z[i * C + c]! > z[i * C + best]!) best = c;
      out[at + i] = best;
    }
  }
  return out;
}
