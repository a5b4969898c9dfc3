/**
 * Exact gradients of the MAE loss in WebAssembly: a training kernel module (trainingSpecs) over a
 * memory laid out for a batch (src/training/layout.ts), the forward-with-tape and backward
 * programs (src/training/program.ts) on the inference runner, the weights packed twice (panels
 * of Wᵀ for the forward, of W for dx) from plain copies kept here, and plain gradients read out
 * under model.safetensors names. One thread for now.
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../shapes.js';
import { InputError, KernelError } from '../errors.js';
import { forwardLoss, maskedMse, normPixTarget } from '../loss.js';
import type { Masking } from '../masking.js';
import { patchify } from '../patchify.js';
import { ARENA_BASE, type MemoryLayout, type Tiling, tileFor } from '../plan.js';
import type { MaeWeights } from '../weights.js';
import { type KernelModule, type WorkerInit, type WorkerPool, instantiateKernels } from '../backend/wasm.js';
import { CTRL } from '../backend/barrier.js';
import { specsOf } from '../backend/program-runner.js';
import { type KernelExports, type RunProgram, compileProgram } from '../backend/program-runner.js';
import { type TrainingLayout, checkTrainingFits, dxWeight, linearsOf } from './layout.js';
import { type NamedTensor, type TrainingVariant, namedTensors, trainableParams } from './params.js';
import { finetuneBackwardProgram, finetuneForwardProgram, trainingBackwardProgram, trainingForwardProgram } from './program.js';

export interface TrainerOptions {
  readonly config: MaeConfig;
  /** Plain weights (not lazy views): the trainer keeps them as the parameters it differentiates. */
  readonly weights: MaeWeights;
  /** A training kernel module for this config (built with training kernels; see buildKernels' `training`). */
  readonly kernels: KernelModule;
  /** Images per call the memory is laid out for. */
  readonly batch: number;
  /** Kept patches per image the encoder's tape is sized for (the largest mask-ratio keep it will serve). */
  readonly keep: number;
  /** Kernel threads (default 1); > 1 needs a module built with threads and startWorkers. */
  readonly threads?: number;
  /** Architecture variants (the encoder with mask tokens: its token's initial value is `encoderMaskToken`). */
  readonly variant?: TrainingVariant;
  /** The encoder mask token's initial value [D] (variant.encoderMaskTokens). */
  readonly encoderMaskToken?: Float32Array;
  readonly startWorkers?: (init: Omit<WorkerInit, 'index'>) => Promise<WorkerPool>;
}

export interface BatchGradients {
  /** Both losses over the weighted patches (removed, or all). */
  loss: number;
  lossNormPix: number;
  grads: Record<string, NamedTensor>;
}

/** The canonical weights the trainer packs, as plain arrays (cls_pos is cls_token: pos row 0 is zeros in models_mae.py's table). */
function canonicalWeights(w: MaeWeights): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>([
    ['cls_pos', w.clsToken], ['pos', w.posEmbed], ['patch.w', w.patchW], ['patch.b', w.patchB],
    ['norm.w', w.normW], ['norm.b', w.normB], ['dec_embed.w', w.decoderEmbedW], ['dec_embed.b', w.decoderEmbedB],
    ['mask_token', w.maskToken], ['dec_pos', w.decoderPosEmbed], ['dec_norm.w', w.decoderNormW], ['dec_norm.b', w.decoderNormB],
    ['pred.w', w.predW], ['pred.b', w.predB],
  ]);
  const block = (prefix: string, blocks: MaeWeights['encoder']): void => blocks.forEach((b, i) => {
    const p = `${prefix}.${i}`;
    m.set(`${p}.ln1.w`, b.ln1W).set(`${p}.ln1.b`, b.ln1B).set(`${p}.qkv.w`, b.qkvW).set(`${p}.qkv.b`, b.qkvB)
      .set(`${p}.proj.w`, b.projW).set(`${p}.proj.b`, b.projB).set(`${p}.ln2.w`, b.ln2W).set(`${p}.ln2.b`, b.ln2B)
      .set(`${p}.fc1.w`, b.fc1W).set(`${p}.fc1.b`, b.fc1B).set(`${p}.fc2.w`, b.fc2W).set(`${p}.fc2.b`, b.fc2B);
  });
  block('enc', w.encoder);
  block('dec', w.decoder);
  return m;
}

export class WasmTrainer {
  readonly layout: TrainingLayout;
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;
  private readonly programs = new Map<string, { id: number; run: RunProgram }>();
  private nextProgramId = 1;
  /** Architecture variants this trainer was made for. */
  variant: TrainingVariant = {};
  private threads = 1;
  private ctrl?: Int32Array;
  private pool?: WorkerPool;
  private readonly tiling: Tiling;
  get tilingUsed(): Tiling { return this.tiling; }
  /** Every canonical weight, plain: the trainable ones are views of the arena (what the optimizer updates), the frozen tables copies. */
  readonly params: Map<string, Float32Array>;

  private constructor(readonly config: MaeConfig, private readonly exports: KernelExports, memory: WebAssembly.Memory, layout: TrainingLayout, tiling: Tiling, params: Map<string, Float32Array>) {
    this.layout = layout;
    this.f32 = new Float32Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.tiling = tiling;
    this.params = params;
  }

  static async create(opts: TrainerOptions): Promise<WasmTrainer> {
    const cfg = opts.config;
    if (!(Number.isInteger(opts.batch) && opts.batch >= 1)) throw new InputError(`batch must be a positive integer, got ${opts.batch}`);
    const L = shapesOf(cfg).numPatches;
    if (!(Number.isInteger(opts.keep) && opts.keep >= 1 && opts.keep <= L)) throw new InputError(`keep must be an integer from 1 to ${L}, got ${opts.keep}`);
    const tiling = opts.kernels.manifest.tiles ?? {};
    const threads = opts.threads ?? 1;
    if (!(Number.isInteger(threads) && threads >= 1)) throw new InputError(`threads must be a positive integer, got ${threads}`);
    if (threads > 1 && !opts.kernels.manifest.threads) throw new KernelError(`threads: ${threads} needs a training module built for shared memory (threads)`);
    if (threads > 1 && !opts.startWorkers) throw new KernelError(`threads: ${threads} needs workers, and this platform entry cannot start them`);
    const variant = opts.variant ?? {};
    if (variant.encoderMaskTokens && opts.encoderMaskToken?.length !== cfg.hiddenSize) throw new InputError(`the encoder mask token needs an initial value of ${cfg.hiddenSize} floats`);
    // With encoder mask tokens the encoder's tape holds every patch.
    const layout = checkTrainingFits(cfg, opts.batch, variant.encoderMaskTokens ? L : opts.keep, tiling, threads, variant);
    const memory = new WebAssembly.Memory({ initial: layout.pages, maximum: layout.pages, shared: threads > 1 });
    const exports = await instantiateKernels(opts.kernels.module, memory);
    for (const name of ['f32_adamw', 'pack_panels', 'pack_row_panels']) if (typeof exports[name] !== 'function') throw new KernelError(`the kernel module has no '${name}': it was not built with the training kernels`);
    const t = new WasmTrainer(cfg, exports, memory, layout, tiling, new Map());
    t.variant = variant;
    if (threads > 1) {
      t.threads = threads;
      t.ctrl = new Int32Array(new SharedArrayBuffer(CTRL.size * 4));
      t.pool = await opts.startWorkers!({ module: opts.kernels.module, memory, ctrl: t.ctrl, threads, config: cfg, tiling, batch: opts.batch, layout });
    }
    // Trainable weights live in the arena; the frozen tables (and a zero qkv bias without qkv_bias) stay here.
    const initial = canonicalWeights(opts.weights);
    if (variant.encoderMaskTokens) initial.set('enc_mask_token', opts.encoderMaskToken!);
    for (const [name, values] of initial) {
      const r = layout.params[name];
      if (r) t.view(r).set(values);
      else t.params.set(name, Float32Array.from(values));
    }
    for (const name of Object.keys(layout.params)) t.params.set(name, t.view(layout.params[name]!));
    for (const name of ['pos', 'dec_pos']) t.view(layout.weights[name]!).set(t.params.get(name)!);
    t.repack();
    return t;
  }

  private view(region: { offset: number; length: number }): Float32Array {
    const at = (ARENA_BASE + region.offset) >> 2;
    return this.f32.subarray(at, at + region.length);
  }

  private ptr(region: { offset: number }): number {
    return ARENA_BASE + region.offset;
  }

  /**
   * Packs the plain parameters into what the kernels read: each Linear's forward panels and dx
   * panels (the module's pack_panels / pack_row_panels), the rest copied; at creation and after
   * every optimizer step.
   */
  repack(): void {
    const { weights, params } = this.layout;
    const linears = new Map(linearsOf(this.config).map((l) => [`${l.name}.w`, l]));
    for (const [name, dst] of Object.entries(weights)) {
      if (name === 'pos' || name === 'dec_pos' || name.endsWith(':dx')) continue;
      const l = linears.get(name);
      const src = params[name];
      if (l) {
        this.exports.pack_panels!(this.ptr(src!), this.ptr(dst), l.outDim, l.inDim, tileFor(l.inDim, l.outDim, this.tiling).nr);
        if (l.name !== 'patch') this.exports.pack_row_panels!(this.ptr(src!), this.ptr(weights[dxWeight(l.name)]!), l.outDim, l.inDim, l.dx.nr);
      } else if (name === 'cls_pos') {
        // cls_token + pos_embed[0] (a zero row in models_mae.py's table, kept general).
        const out = this.view(dst), cls = this.params.get('cls_pos')!, pos = this.params.get('pos')!;
        for (let i = 0; i < out.length; i++) out[i] = cls[i]! + pos[i]!;
      } else {
        this.view(dst).set(this.params.get(name)!);
      }
    }
  }

  /** Writes gradients by model.safetensors name into the arena (what `step` reads); every trainable parameter must be given. */
  setGradients(named: Readonly<Record<string, Float32Array>>): void {
    for (const r of Object.values(this.layout.grads)) this.view(r).fill(0);
    for (const t of trainableParams(this.config, this.variant)) {
      const g = named[t.name];
      if (!(g instanceof Float32Array) || g.length !== t.length) throw new InputError(`gradient '${t.name}': expected ${t.length} float32 values, got ${g instanceof Float32Array ? g.length : typeof g}`);
      this.view(this.layout.grads[t.canonical]!).set(g, t.offset);
    }
  }

  /** The trainable parameters by model.safetensors name (copies). */
  namedParams(): Record<string, NamedTensor> {
    return namedTensors(this.config, (name) => this.params.get(name)!, this.variant);
  }

  /** AdamW steps taken (torch's `step` state). */
  get steps(): number { return this.t; }
  private t = 0;

  /**
   * One AdamW step on the arena from the gradients of the last `gradients` call (torch 1.13's
   * arithmetic in float32, decay only where the MAE recipe decays), then the weights repacked.
   */
  step(opts: { lr: number; weightDecay?: number; beta1?: number; beta2?: number; eps?: number }): void {
    const { lr, weightDecay = 0.05, beta1 = 0.9, beta2 = 0.95, eps = 1e-8 } = opts;
    checkAdamW(lr, weightDecay, beta1, beta2, eps);
    this.t++;
    const a = this.layout.arena;
    for (const [run, wd] of [[a.decay, weightDecay], [a.noDecay, 0]] as const) {
      if (run.count > 0) this.adamw(run.from * 4, run.count, lr, wd, beta1, beta2, eps);
    }
    this.repack();
  }

  /** The generated AdamW kernel on `count` floats of the arena from `byteInArena` (parameters, gradients, m and v alike), at step this.t. */
  private adamw(byteInArena: number, count: number, lr: number, wd: number, beta1: number, beta2: number, eps: number): void {
    const a = this.layout.arena;
    const at = (base: number): number => ARENA_BASE + base + byteInArena;
    const bc1 = 1 - beta1 ** this.t, bc2 = 1 - beta2 ** this.t;
    this.exports.f32_adamw!(at(a.params), at(a.grads), at(a.m), at(a.v), count, 1 - lr * wd, beta1, 1 - beta1, beta2, 1 - beta2, Math.sqrt(bc2), eps, lr / bc1, 0, count);
  }

  /** The optimizer's moments by canonical weight (views) and its step count: what a checkpoint keeps. */
  optimizerState(): { t: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> } {
    const a = this.layout.arena;
    const moment = (base: number): Map<string, Float32Array> => new Map(Object.entries(this.layout.params).map(([n, r]) => [n, this.view({ offset: r.offset - a.params + base, length: r.length })]));
    return { t: this.t, m: moment(a.m), v: moment(a.v) };
  }

  /** Sets the step count (the moments are written through optimizerState()'s views), then repacks. */
  restoreSteps(t: number): void {
    if (!(Number.isInteger(t) && t >= 0)) throw new InputError(`AdamW step count must be an integer ≥ 0, got ${t}`);
    this.t = t;
    this.repack();
  }

  /** Programs are compiled on first use (and sent to the kernel threads): call `prepare` before running one. */
  private async prepare(kind: 'forward' | 'backward' | 'encoder' | 'encoder-backward', keep: number, n: number, normPix = false): Promise<void> {
    const key = `${kind}:${keep}:${n}:${normPix}`;
    if (this.programs.has(key)) return;
    const w = kind === 'forward' ? trainingForwardProgram(this.config, keep, n, this.tiling, this.variant)
      : kind === 'backward' ? trainingBackwardProgram(this.config, keep, n, normPix, this.tiling, this.variant)
        : kind === 'encoder' ? finetuneForwardProgram(this.config, n, this.tiling)
          : finetuneBackwardProgram(this.config, n, keep, this.tiling);
    for (const name of w.specs.keys()) if (typeof this.exports[name] !== 'function') throw new KernelError(`the training kernel module has no '${name}' (built for another config, mask ratio or without training kernels?)`);
    const id = this.nextProgramId++;
    if (this.pool) await this.pool.broadcast({ type: 'program', id, steps: w.steps, specs: specsOf(w.steps, w.specs) });
    const run = compileProgram(w.steps, this.exports, this.layout as MemoryLayout, this.config, this.f32, { index: 0, count: this.threads, ctrl: this.ctrl }, w.specs);
    this.programs.set(key, { id, run });
  }

  private run(kind: 'forward' | 'backward' | 'encoder' | 'encoder-backward', keep: number, n: number, normPix = false): void {
    const p = this.programs.get(`${kind}:${keep}:${n}:${normPix}`);
    if (!p) throw new KernelError(`training program ${kind} for ${n} images keeping ${keep} was not prepared`);
    if (this.ctrl) {
      Atomics.store(this.ctrl, CTRL.program, p.id);
      Atomics.add(this.ctrl, CTRL.job, 1);
      Atomics.notify(this.ctrl, CTRL.job);
    }
    p.run();
  }

  /** Ends the kernel threads (the memory goes with the trainer). */
  dispose(): void {
    this.pool?.terminate();
    this.pool = undefined;
  }

  /**
   * The forward with its tape over `n` ≤ batch images and both losses (over removed patches, or
   * all with `allPatches`); the loss weights are left for `backward`.
   */
  async forward(pixels: Float32Array, n: number, m: Masking, opts: { allPatches: boolean }): Promise<{ loss: number; lossNormPix: number }> {
    const cfg = this.config;
    const { numPatches: L, patchDim: P } = shapesOf(cfg);
    if (!(Number.isInteger(n) && n >= 1 && n <= this.layout.batch)) throw new InputError(`a training call runs 1 to ${this.layout.batch} images, got ${n}`);
    if (m.lenKeep < 1 || m.lenKeep > this.layout.keep) throw new InputError(`this trainer's tape holds ${this.layout.keep} kept patches per image, the mask keeps ${m.lenKeep}`);
    const b = this.layout.buffers as Record<string, { offset: number; length: number }>;
    this.view(b.pixels!).set(pixels);
    const ids = (name: string, data: Int32Array): void => { this.i32.set(data, (ARENA_BASE + b[name]!.offset) >> 2); };
    // With encoder mask tokens the encoder sees every patch in order: identity ids, the mask in patchMask.
    const maskTokens = this.variant.encoderMaskTokens === true;
    const keep = maskTokens ? L : m.lenKeep;
    if (maskTokens) {
      const identity = Int32Array.from({ length: n * L }, (_, i) => i % L);
      ids('idsKeep', identity);
      ids('idsRestore', identity);
      this.view(b.patchMask!).set(m.mask);
    } else {
      ids('idsKeep', m.idsKeep);
      ids('idsRestore', m.idsRestore);
    }
    // Loss rows follow pred's [n, 1 + L, P]: each image's cls row weighs 0.
    const target = patchify(pixels, n, cfg);
    const tRows = this.view(b.target!), weight = this.view(b.weight!);
    tRows.fill(0, 0, n * (1 + L) * P);
    weight.fill(0, 0, n * (1 + L));
    for (let i = 0; i < n; i++) {
      tRows.set(target.subarray(i * L * P, (i + 1) * L * P), (i * (1 + L) + 1) * P);
      for (let l = 0; l < L; l++) weight[i * (1 + L) + 1 + l] = opts.allPatches ? 1 : m.mask[i * L + l]!;
    }
    await this.prepare('forward', keep, n);
    this.run('forward', keep, n);
    this.last = { keep, n };
    const predRows = this.view(b.pred!);
    const pred = new Float32Array(n * L * P);
    for (let i = 0; i < n; i++) pred.set(predRows.subarray((i * (1 + L) + 1) * P, (i + 1) * (1 + L) * P), i * L * P);
    const lossMask = opts.allPatches ? new Float32Array(n * L).fill(1) : m.mask;
    return opts.allPatches
      ? { loss: maskedMse(pred, target, lossMask, n, L, P), lossNormPix: maskedMse(pred, normPixTarget(target, n * L, P), lossMask, n, L, P) }
      : forwardLoss(pred, pixels, lossMask, n, cfg);
  }

  private last?: { keep: number; n: number };

  /**
   * The backward of the last forward: d loss / d parameters into the arena's gradients, written
   * (`accumulate` false) or added to what they hold (micro-batches of one optimizer step).
   */
  async backward(opts: { normPix: boolean; accumulate: boolean }): Promise<void> {
    if (!this.last) throw new InputError('backward needs a forward first');
    if (!opts.accumulate) for (const r of Object.values(this.layout.grads)) this.view(r).fill(0);
    await this.prepare('backward', this.last.keep, this.last.n, opts.normPix);
    this.run('backward', this.last.keep, this.last.n, opts.normPix);
  }

  /** Multiplies every gradient by f (the mean over accumulated micro-batches). */
  scaleGradients(f: number): void {
    if (f === 1) return;
    for (const r of Object.values(this.layout.grads)) {
      const g = this.view(r);
      for (let i = 0; i < g.length; i++) g[i]! *= f;
    }
  }

  /**
   * Fine-tuning's encoder on every patch of `n` images (no masking): the latent [n, 1 + L, D]
   * after the final norm, as a view of the tape (valid until the next call).
   */
  async encodeAll(pixels: Float32Array, n: number): Promise<Float32Array> {
    const L = shapesOf(this.config).numPatches;
    if (this.layout.keep !== L) throw new InputError(`fine-tuning needs a trainer whose tape holds all ${L} patches, this one holds ${this.layout.keep}`);
    if (!(Number.isInteger(n) && n >= 1 && n <= this.layout.batch)) throw new InputError(`a training call runs 1 to ${this.layout.batch} images, got ${n}`);
    const b = this.layout.buffers as Record<string, { offset: number; length: number }>;
    this.view(b.pixels!).set(pixels);
    this.i32.set(Int32Array.from({ length: n * L }, (_, i) => i % L), (ARENA_BASE + b.idsKeep!.offset) >> 2);
    await this.prepare('encoder', L, n);
    this.run('encoder', L, n);
    this.lastEncoded = n;
    return this.view({ offset: b.latent!.offset, length: n * (1 + L) * this.config.hiddenSize });
  }

  private lastEncoded = 0;

  /**
   * The backward of the last encodeAll from d latent [n, 1 + L, D]: gradients (zeroed first) of the
   * final norm and the last `openBlocks` blocks (and of the patch embedding and cls token when
   * every block is open); the frozen blocks get no backward.
   */
  async backwardFromLatent(dLatent: Float32Array, openBlocks: number): Promise<void> {
    const n = this.lastEncoded;
    if (n === 0) throw new InputError('backwardFromLatent needs encodeAll first');
    const L = shapesOf(this.config).numPatches;
    const b = this.layout.buffers as Record<string, { offset: number; length: number }>;
    if (dLatent.length !== n * (1 + L) * this.config.hiddenSize) throw new InputError(`d latent: expected ${n * (1 + L) * this.config.hiddenSize} values, got ${dLatent.length}`);
    for (const r of Object.values(this.layout.grads)) this.view(r).fill(0);
    this.view(b.dlat!).set(dLatent);
    await this.prepare('encoder-backward', openBlocks, n);
    this.run('encoder-backward', openBlocks, n);
  }

  /**
   * One AdamW step on the named canonical weights alone, each with its own learning rate and
   * weight decay (fine-tuning: the open blocks, layer-wise lr decay); the others, and their
   * moments, are not touched. Then the weights are repacked.
   */
  stepTensors(tensors: ReadonlyArray<{ canonical: string; lr: number; weightDecay: number }>, opts: { beta1?: number; beta2?: number; eps?: number } = {}): void {
    const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = opts;
    for (const { canonical, lr, weightDecay } of tensors) {
      if (!this.layout.params[canonical]) throw new InputError(`no trainable weight '${canonical}'`);
      checkAdamW(lr, weightDecay, beta1, beta2, eps);
    }
    this.t++;
    for (const { canonical, lr, weightDecay } of tensors) {
      const r = this.layout.params[canonical]!;
      this.adamw(r.offset - this.layout.arena.params, r.length, lr, weightDecay, beta1, beta2, eps);
    }
    this.repack();
  }

  /**
   * Gradients of the loss over `n` ≤ batch images: `normPix` picks the target, `allPatches` the
   * loss over every patch instead of the removed ones. Gradients are plain, by model.safetensors name.
   */
  async gradients(pixels: Float32Array, n: number, m: Masking, opts: { normPix: boolean; allPatches: boolean }): Promise<BatchGradients> {
    const { loss, lossNormPix } = await this.forward(pixels, n, m, opts);
    await this.backward({ normPix: opts.normPix, accumulate: false });
    const grads = namedTensors(this.config, (name) => this.view(this.layout.grads[name]!), this.variant);
    return { loss, lossNormPix, grads };
  }
}

/** AdamW's hyperparameters, checked before any weight changes. */
function checkAdamW(lr: number, weightDecay: number, beta1: number, beta2: number, eps: number): void {
  for (const [what, v] of [['lr', lr], ['weightDecay', weightDecay], ['eps', eps]] as const) if (!(Number.isFinite(v) && v >= 0)) throw new InputError(`AdamW: ${what} must be a finite number ≥ 0, got ${v}`);
  for (const [what, v] of [['beta1', beta1], ['beta2', beta2]] as const) if (!(v >= 0 && v < 1)) throw new InputError(`AdamW: ${what} must be in [0, 1), got ${v}`);
}
