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
import { packPanelsInto, packRowPanelsInto, packWeights } from '../pack.js';
import { patchify } from '../patchify.js';
import { ARENA_BASE, type MemoryLayout, type Tiling } from '../plan.js';
import type { MaeWeights } from '../weights.js';
import { type KernelModule, instantiateKernels } from '../backend/wasm.js';
import { type KernelExports, type RunProgram, compileProgram } from '../backend/program-runner.js';
import { type TrainingLayout, checkTrainingFits, dxWeight, linearsOf } from './layout.js';
import { type NamedTensor, namedTensors } from './params.js';
import { trainingBackwardProgram, trainingForwardProgram } from './program.js';

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
  private readonly programs = new Map<string, RunProgram>();
  private readonly tiling: Tiling;
  get tilingUsed(): Tiling { return this.tiling; }
  /** The plain parameters (copies): what an optimizer updates before `setWeights`. */
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
    const layout = checkTrainingFits(cfg, opts.batch, opts.keep, tiling);
    const memory = new WebAssembly.Memory({ initial: layout.pages, maximum: layout.pages });
    const exports = await instantiateKernels(opts.kernels.module, memory);
    const params = new Map([...canonicalWeights(opts.weights)].map(([k, v]) => [k, Float32Array.from(v)]));
    const t = new WasmTrainer(cfg, exports, memory, layout, tiling, params);
    t.setWeights();
    return t;
  }

  private view(region: { offset: number; length: number }): Float32Array {
    const at = (ARENA_BASE + region.offset) >> 2;
    return this.f32.subarray(at, at + region.length);
  }

  /** Packs `params` into the forward's panels and every Linear's dx panels (at creation, and after an optimizer step). */
  setWeights(): void {
    const cfg = this.config;
    const p = (name: string): Float32Array => {
      const v = this.params.get(name);
      if (!v) throw new KernelError(`trainer: no parameter '${name}'`);
      return v;
    };
    const asWeights = {
      clsToken: p('cls_pos'), posEmbed: p('pos'), patchW: p('patch.w'), patchB: p('patch.b'), normW: p('norm.w'), normB: p('norm.b'),
      decoderEmbedW: p('dec_embed.w'), decoderEmbedB: p('dec_embed.b'), maskToken: p('mask_token'), decoderPosEmbed: p('dec_pos'),
      decoderNormW: p('dec_norm.w'), decoderNormB: p('dec_norm.b'), predW: p('pred.w'), predB: p('pred.b'),
      encoder: Array.from({ length: cfg.numHiddenLayers }, (_, i) => this.blockWeights(`enc.${i}`)),
      decoder: Array.from({ length: cfg.decoderNumHiddenLayers }, (_, i) => this.blockWeights(`dec.${i}`)),
    } as unknown as MaeWeights;
    packWeights(cfg, asWeights, (name) => this.view(this.layout.weights[name]!), packPanelsInto, this.tiling);
    for (const l of linearsOf(cfg).slice(1)) packRowPanelsInto(this.view(this.layout.weights[dxWeight(l.name)]!), p(`${l.name}.w`), l.outDim, l.inDim, l.dx.nr);
  }

  private blockWeights(prefix: string): MaeWeights['encoder'][number] {
    const g = (k: string): Float32Array => this.params.get(`${prefix}.${k}`)!;
    return { ln1W: g('ln1.w'), ln1B: g('ln1.b'), qkvW: g('qkv.w'), qkvB: g('qkv.b'), projW: g('proj.w'), projB: g('proj.b'), ln2W: g('ln2.w'), ln2B: g('ln2.b'), fc1W: g('fc1.w'), fc1B: g('fc1.b'), fc2W: g('fc2.w'), fc2B: g('fc2.b') };
  }

  private program(kind: 'forward' | 'backward', keep: number, n: number, normPix = false): RunProgram {
    const key = `${kind}:${keep}:${n}:${normPix}`;
    let run = this.programs.get(key);
    if (!run) {
      const w = kind === 'forward' ? trainingForwardProgram(this.config, keep, n, this.tiling) : trainingBackwardProgram(this.config, keep, n, normPix, this.tiling);
      for (const name of w.specs.keys()) if (typeof this.exports[name] !== 'function') throw new KernelError(`the training kernel module has no '${name}' (built for another config, mask ratio or without training kernels?)`);
      run = compileProgram(w.steps, this.exports, this.layout as MemoryLayout, this.config, this.f32, { index: 0, count: 1 }, w.specs);
      this.programs.set(key, run);
    }
    return run;
  }

  /**
   * Gradients of the loss over `n` ≤ batch images: `normPix` picks the target, `allPatches` the
   * loss over every patch instead of the removed ones. Gradients are plain, by model.safetensors name.
   */
  gradients(pixels: Float32Array, n: number, m: Masking, opts: { normPix: boolean; allPatches: boolean }): BatchGradients {
    const cfg = this.config;
    const { numPatches: L, patchDim: P } = shapesOf(cfg);
    const keep = m.lenKeep;
    if (!(Number.isInteger(n) && n >= 1 && n <= this.layout.batch)) throw new InputError(`a training call runs 1 to ${this.layout.batch} images, got ${n}`);
    if (keep < 1 || keep > this.layout.keep) throw new InputError(`this trainer's tape holds ${this.layout.keep} kept patches per image, the mask keeps ${keep}`);
    const b = this.layout.buffers as Record<string, { offset: number; length: number }>;
    this.view(b.pixels!).set(pixels);
    const ids = (name: string, data: Int32Array): void => { this.i32.set(data, (ARENA_BASE + b[name]!.offset) >> 2); };
    ids('idsKeep', m.idsKeep);
    ids('idsRestore', m.idsRestore);
    // Loss rows follow pred's [n, 1 + L, P]: each image's cls row weighs 0.
    const target = patchify(pixels, n, cfg);
    const tRows = this.view(b.target!), weight = this.view(b.weight!);
    tRows.fill(0, 0, n * (1 + L) * P);
    weight.fill(0, 0, n * (1 + L));
    for (let i = 0; i < n; i++) {
      tRows.set(target.subarray(i * L * P, (i + 1) * L * P), (i * (1 + L) + 1) * P);
      for (let l = 0; l < L; l++) weight[i * (1 + L) + 1 + l] = opts.allPatches ? 1 : m.mask[i * L + l]!;
    }
    this.program('forward', keep, n)();
    const predRows = this.view(b.pred!);
    const pred = new Float32Array(n * L * P);
    for (let i = 0; i < n; i++) pred.set(predRows.subarray((i * (1 + L) + 1) * P, (i + 1) * (1 + L) * P), i * L * P);
    const lossMask = opts.allPatches ? new Float32Array(n * L).fill(1) : m.mask;
    const { loss, lossNormPix } = opts.allPatches
      ? { loss: maskedMse(pred, target, lossMask, n, L, P), lossNormPix: maskedMse(pred, normPixTarget(target, n * L, P), lossMask, n, L, P) }
      : forwardLoss(pred, pixels, lossMask, n, cfg);
    for (const r of Object.values(this.layout.grads)) this.view(r).fill(0);
    this.program('backward', keep, n, opts.normPix)();
    const grads = namedTensors(cfg, (name) => this.view(this.layout.grads[name]!));
    return { loss, lossNormPix, grads };
  }
}
