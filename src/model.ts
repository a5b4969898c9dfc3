/**
 * The masked autoencoder, step by step as in the paper and models_mae.py: patchify, random
 * masking, the encoder on the visible patches, the decoder with the shared mask token, and the
 * loss on the removed patches. The steps are the same whatever backend runs the kernels.
 */
import { type MaeConfig, type MaeShapes, checkMaskRatio, lenKeep, shapesOf } from './config.js';
import { InputError } from './errors.js';
import type { MaeBackend } from './backend/backend.js';
import { type Masking, randomMasking, seededNoise } from './masking.js';
import { forwardLoss } from './loss.js';
import { imagePixels } from './patchify.js';
import type { MaeWeights } from './weights.js';
import { type KernelModule, type WasmBackendOptions, WasmBackend } from './backend/wasm.js';
import { type PreprocessorConfig, parsePreprocessorConfig } from './image/preprocess.js';
import type { SimdVariant } from './simd-support.js';
import { type DeviceChoice, selectBackend } from './backend/webgpu-select.js';
import type { GpuSource } from './backend/webgpu-device.js';
import type { Manifest } from './manifest.js';
import { parseConfig } from './config.js';
import { SafetensorsFile } from './safetensors.js';
import { firstNonFinite, loadWeights } from './weights.js';
import { isWasmModule } from './wasm-brand.js';
import type { NamedTensor } from './training/params.js';
import { WasmTrainer } from './training/trainer.js';
import { checkTrainingFits, trainingBatchThatFits } from './training/layout.js';

export interface ForwardOptions {
  /** Images in `pixels` (N). */
  batch: number;
  /** [N, L] uniform noise deciding the mask (smallest kept), as models_mae.py's torch.rand. */
  noise?: Float32Array;
  /** Seed for the noise when none is given (default 0). */
  seed?: number;
  /** Fraction of patches removed, in [0, 1); default the config's mask_ratio. */
  maskRatio?: number;
}

export interface ForwardResult {
  /** Encoder output [N, 1 + keep, D] after the final norm; token 0 is cls, then kept patches in ids_keep order. */
  latent: Float32Array;
  /** Decoder pixel predictions [N, L, p·p·C] in patch order. */
  pred: Float32Array;
  /** [N, L]: 0 kept, 1 removed. */
  mask: Float32Array;
  /** [N, L]: argsort(argsort(noise)). */
  idsRestore: Int32Array;
  /** [N, keep]: the kept patches in token order. */
  idsKeep: Int32Array;
  /** patchify(pixels) [N, L, p·p·C]. */
  targetPatches: Float32Array;
  /** Mean squared error on removed patches, plain pixel target (NaN when nothing is removed). */
  loss: number;
  /** Same on per-patch normalised targets (norm_pix_loss, unbiased variance). */
  lossNormPix: number;
  /** Kept patches per image. */
  lenKeep: number;
}

export interface GradientsOptions extends ForwardOptions {
  /** Differentiate the loss on the per-patch normalised target (norm_pix_loss) instead of plain pixels; default the config's norm_pix_loss. */
  normPix?: boolean;
  /** The loss over removed patches only (the paper's choice, default) or over all patches (the ablation). */
  lossOn?: 'removed' | 'all';
}

export interface GradientsResult {
  /** Plain-pixel loss of this forward (over `lossOn` patches). */
  loss: number;
  /** Normalised-pixel loss of this forward (over `lossOn` patches). */
  lossNormPix: number;
  /** d loss / d parameter for every trainable parameter, by model.safetensors name (query/key/value split). */
  grads: Record<string, NamedTensor>;
  lenKeep: number;
}

export interface EncodeOptions {
  batch: number;
}

/** Where the kernels come from when loading from bytes (edge runtimes: a precompiled module). */
export interface ModelSource {
  /** A parsed config (see parseConfig / preset). */
  config: MaeConfig;
  /** Parsed weights (see loadWeights). */
  weights: MaeWeights;
  /** The compiled kernel module for this config. */
  kernels: KernelModule;
  /** Builds a module with more encoder lengths (other mask ratios); Node supplies the compiler. */
  extend?: (encoderLengths: number[]) => Promise<KernelModule>;
  /** The folder's preprocessor_config.json, parsed JSON (absent: ImageNet / 0.5 defaults). */
  preprocessor?: unknown;
  /** Called once the weights are packed (e.g. to close the weights file). */
  release?: () => void;
  /** Kernel threads (default 1); > 1 needs a module built with threads and startWorkers. */
  threads?: number;
  /** The most images one kernel call runs (memory sized for them at load); default: what 64 MiB of activations hold, at most 64. */
  batch?: number;
  startWorkers?: WasmBackendOptions['startWorkers'];
  /** Node: makes the fresh memory resident on every core while the weights are packed. */
  prefault?: WasmBackendOptions['prefault'];
  /** Node: the weights file is read straight into the memory the backend lends while packing. */
  scratch?: WasmBackendOptions['scratch'];
  /** Backend: 'wasm' (default), 'webgpu', or 'auto' (WebGPU when a device can be had and the model fits it, else WASM). */
  device?: DeviceChoice;
  /** Where the GPU comes from for 'webgpu'/'auto' (default: navigator.gpu, or in Node the optional `webgpu` package). */
  gpu?: GpuSource;
  /** For model.gradients: the plain weights and a training kernel module (Node builds one; elsewhere pass kernels.training). */
  training?: (keep: number) => Promise<TrainingSource>;
}

/** What gradients need beyond inference: plain (not lazy) weights and a module with the training kernels. */
export interface TrainingSource {
  weights: MaeWeights;
  kernels: KernelModule;
  /** Kernel threads of the trainer (the module built for shared memory when > 1). */
  threads?: number;
  startWorkers?: WasmBackendOptions['startWorkers'];
}

/**
 * A model as bytes: what an edge runtime or a browser has — no file system, and often no compiler
 * (pass a precompiled WebAssembly.Module where compiling from bytes is forbidden).
 */
export interface BytesSource {
  /** Parsed (parseConfig/preset) or config.json's object. */
  config: MaeConfig | Record<string, unknown>;
  /** model.safetensors (Hugging Face or original MAE names); tensors are packed from it without copies. */
  weights: Uint8Array | ArrayBuffer;
  /** kernels.wasm (module or bytes) and its manifest.json, from `edge-mae build --out DIR`. */
  kernels: { module: WebAssembly.Module | Uint8Array | ArrayBuffer; manifest: Manifest; training?: { module: WebAssembly.Module | Uint8Array | ArrayBuffer; manifest: Manifest } };
  /** preprocessor_config.json's object. */
  preprocessor?: unknown;
  threads?: number;
  /** The most images one kernel call runs (see ModelSource.batch). */
  batch?: number;
  startWorkers?: WasmBackendOptions['startWorkers'];
}

/** Options of MaeModel.load in Node: a model folder and where its parts come from. */
export interface LoadOptions {
  /** Folder with config.json and model.safetensors (Hugging Face layout). */
  model?: string;
  /** Weights file, overriding the folder's model.safetensors. */
  weights?: string;
  /** Config file or preset name, overriding the folder's config.json. */
  config?: string;
  /** Kernel cache folder (default $EDGE_MAE_CACHE or ~/.cache/edge-mae/kernels). */
  cacheDir?: string;
  /** Kernel variant: 'auto' (default) takes relaxed SIMD when the engine validates it, else SIMD128. */
  simd?: SimdVariant | 'auto';
  /** Kernel threads sharing the memory (default 1): GEMM panels and attention heads are split between them. */
  threads?: number;
  /** Backend: 'wasm' (default), 'webgpu' (in Node: the optional `webgpu` package), or 'auto'. */
  device?: DeviceChoice;
  /**
   * The most images one kernel call runs (WASM): the activations for that many are laid out at
   * load and never grow; larger batches run in calls of this many. Default: as many as 64 MiB of
   * activations hold, at most 64.
   */
  batch?: number;
}

export class MaeModel {
  readonly shapes: MaeShapes;

  private preprocessing?: PreprocessorConfig;

  /** Loads model folders (set by the Node entry; absent in browsers and edge runtimes). */
  static folderLoader?: (opts: LoadOptions) => Promise<ModelSource>;

  /** Cores kernel threads may use (set by the Node entry; elsewhere navigator.hardwareConcurrency). */
  static availableThreads?: () => number;

  private trainer?: WasmTrainer;
  private trainerPending?: Promise<WasmTrainer>;

  private constructor(readonly config: MaeConfig, private readonly backend: MaeBackend, private readonly preprocessorJson: unknown, private readonly training?: (keep: number) => Promise<TrainingSource>) {
    this.shapes = shapesOf(config);
  }

  /** How images become this model's pixels (Hugging Face ViTImageProcessor rules), parsed on first use. */
  get preprocessor(): PreprocessorConfig {
    this.preprocessing ??= parsePreprocessorConfig(this.preprocessorJson, this.config.imageSize, this.config.numChannels);
    return this.preprocessing;
  }

  /** Which backend runs and how (and, for device 'auto', why). */
  get backendDescription(): string {
    return this.backend.description;
  }

  /** 'wasm' or 'webgpu'. */
  get backendKind(): string {
    return this.backend.kind;
  }

  /**
   * Loads a model. In Node: a model folder path or LoadOptions (kernels generated and compiled
   * for the config, cached). Anywhere: a ModelSource with parsed config, weights and a compiled
   * kernel module.
   */
  static async load(source: string | LoadOptions | ModelSource | BytesSource): Promise<MaeModel> {
    if (typeof source !== 'string') checkLoadArgument(source);
    if (typeof source === 'string' || !('kernels' in source)) {
      const opts: LoadOptions = typeof source === 'string' ? { model: source } : checkLoadOptions(source);
      // Registered by the Node entry (src/node/index.ts); the edge entry has no file system.
      const load = MaeModel.folderLoader;
      if (!load) throw new InputError('MaeModel.load: paths need the Node entry (a file system); here pass the bytes: { config, weights, kernels: { module, manifest } } (config.json\'s object, model.safetensors\' bytes, kernels.wasm compiled to a WebAssembly.Module and manifest.json, from edge-mae build --out DIR)');
      checkThreads(opts.threads);
      checkBatchOption(opts.batch);
      return MaeModel.load(await load(opts));
    }
    checkThreads(source.threads);
    checkBatchOption(source.batch);
    if (isBytesSource(source)) return MaeModel.load(await fromBytes(source));
    let backend: MaeBackend;
    try {
      // A ModelSource carries the WASM backend's options under the same names.
      const wasm = (): Promise<MaeBackend> => WasmBackend.create(source);
      backend = await selectBackend({ device: source.device, config: source.config, weights: source.weights, gpu: source.gpu, wasm });
    } finally {
      source.release?.();
    }
    return new MaeModel(source.config, backend, source.preprocessor, source.training);
  }

  private checkPixels(pixels: Float32Array, batch: number): void {
    if (!Number.isInteger(batch) || batch < 1) throw new InputError(`batch must be a positive integer, got ${batch}`);
    const per = imagePixels(this.config);
    const c = this.config;
    if (!(pixels instanceof Float32Array) || pixels.length !== batch * per) {
      throw new InputError(`pixel_values: expected [N,C,H,W] = [${batch},${c.numChannels},${c.imageSize},${c.imageSize}] (${batch * per} values), got ${pixels?.length ?? typeof pixels} values`);
    }
    const at = firstNonFinite(pixels);
    if (at >= 0) {
      const side = c.imageSize;
      const index = [Math.floor(at / per), Math.floor(at / (side * side)) % c.numChannels, Math.floor(at / side) % side, at % side];
      throw new InputError(`pixel_values: value at [${index.join(',')}] is ${pixels[at]}; pixels must be finite`);
    }
  }

  /** Random masking of N images: from `noise` when given, else from a seeded PRNG. */
  randomMasking(batch: number, opts: { noise?: Float32Array; seed?: number; maskRatio?: number } = {}): Masking {
    const ratio = opts.maskRatio ?? this.config.maskRatio;
    checkMaskRatio(ratio, 'maskRatio');
    const L = this.shapes.numPatches;
    const noise = opts.noise ?? seededNoise(opts.seed ?? 0, batch, L);
    return randomMasking(noise, batch, L, ratio);
  }

  /** The most images one kernel call runs (larger batches run in calls of this many). */
  get maxBatch(): number {
    return this.backend.maxBatch;
  }

  /** The encoder on each image's kept patches → latent [N, 1 + keep, D], in calls of up to maxBatch images. */
  async forwardEncoder(pixels: Float32Array, batch: number, idsKeep: Int32Array, keep: number): Promise<Float32Array> {
    const per = imagePixels(this.config);
    const rows = (1 + keep) * this.config.hiddenSize;
    const latent = new Float32Array(batch * rows);
    for (let n = 0; n < batch; n += this.backend.maxBatch) {
      const count = Math.min(this.backend.maxBatch, batch - n);
      const out = await this.backend.encode(pixels.subarray(n * per, (n + count) * per), idsKeep.subarray(n * keep, (n + count) * keep), count);
      latent.set(out, n * rows);
    }
    return latent;
  }

  /** The decoder: mask tokens fill the removed patches, pixels predicted for all → pred [N, L, p·p·C]. */
  async forwardDecoder(latent: Float32Array, batch: number, idsRestore: Int32Array, keep: number): Promise<Float32Array> {
    const { numPatches: L, patchDim: P } = this.shapes;
    const rows = (1 + keep) * this.config.hiddenSize;
    const pred = new Float32Array(batch * L * P);
    for (let n = 0; n < batch; n += this.backend.maxBatch) {
      const count = Math.min(this.backend.maxBatch, batch - n);
      const out = await this.backend.decode(latent.subarray(n * rows, (n + count) * rows), idsRestore.subarray(n * L, (n + count) * L), keep, count);
      pred.set(out, n * L * P);
    }
    return pred;
  }

  /** The whole MAE forward: masking, encoder, decoder, both losses. */
  async forward(pixels: Float32Array, opts: ForwardOptions): Promise<ForwardResult> {
    this.checkPixels(pixels, opts.batch);
    const m = this.randomMasking(opts.batch, opts);
    if (m.lenKeep < 1) throw new InputError(`mask ratio ${opts.maskRatio ?? this.config.maskRatio} keeps no patch of ${this.shapes.numPatches}: the encoder needs at least one`);
    const latent = await this.forwardEncoder(pixels, opts.batch, m.idsKeep, m.lenKeep);
    const pred = await this.forwardDecoder(latent, opts.batch, m.idsRestore, m.lenKeep);
    const { loss, lossNormPix, targetPatches } = forwardLoss(pred, pixels, m.mask, opts.batch, this.config);
    return { latent, pred, mask: m.mask, idsRestore: m.idsRestore, idsKeep: m.idsKeep, targetPatches, loss, lossNormPix, lenKeep: m.lenKeep };
  }

  /**
   * d loss / d every trainable parameter (models_mae.py's loss, PyTorch autograd's numbers), by
   * model.safetensors name, with both losses of the same forward. The images run in calls of the
   * largest batch whose training memory fits wasm32 (the gradients of the pooled loss are the
   * calls' gradients weighted by their share of the loss's patches).
   */
  async gradients(pixels: Float32Array, opts: GradientsOptions): Promise<GradientsResult> {
    this.checkPixels(pixels, opts.batch);
    const lossOn = opts.lossOn ?? 'removed';
    if (lossOn !== 'removed' && lossOn !== 'all') throw new InputError(`lossOn must be 'removed' or 'all', got ${kindOf(lossOn)}`);
    const m = this.randomMasking(opts.batch, opts);
    if (m.lenKeep < 1) throw new InputError(`mask ratio ${opts.maskRatio ?? this.config.maskRatio} keeps no patch of ${this.shapes.numPatches}: the encoder needs at least one`);
    if (lossOn === 'removed' && m.lenKeep === this.shapes.numPatches) throw new InputError('mask ratio 0 removes no patch: the loss over removed patches is 0/0; use lossOn \'all\'');
    const trainer = await this.trainerFor(m.lenKeep, opts.batch);
    const N = opts.batch, L = this.shapes.numPatches, keep = m.lenKeep;
    const per = imagePixels(this.config);
    const step = trainer.layout.batch;
    let result: GradientsResult | undefined;
    for (let i = 0; i < N; i += step) {
      const n = Math.min(step, N - i);
      const part: Masking = { ...m, idsKeep: m.idsKeep.subarray(i * keep, (i + n) * keep), idsRestore: m.idsRestore.subarray(i * L, (i + n) * L), mask: m.mask.subarray(i * L, (i + n) * L) };
      const g = await trainer.gradients(pixels.subarray(i * per, (i + n) * per), n, part, { normPix: opts.normPix ?? this.config.normPixLoss, allPatches: lossOn === 'all' });
      // Every image weighs the same number of patches, so a call's share of the pooled loss is n/N.
      const share = n / N;
      if (!result) {
        result = { loss: g.loss * share, lossNormPix: g.lossNormPix * share, grads: g.grads, lenKeep: keep };
        if (share !== 1) for (const t of Object.values(result.grads)) for (let j = 0; j < t.data.length; j++) t.data[j]! *= share;
      } else {
        result.loss += g.loss * share;
        result.lossNormPix += g.lossNormPix * share;
        for (const [name, t] of Object.entries(g.grads)) {
          const acc = result.grads[name]!.data;
          for (let j = 0; j < acc.length; j++) acc[j]! += t.data[j]! * share;
        }
      }
    }
    return result!;
  }

  /** The trainer, made on first use (and again for a larger keep or batch), its memory sized for them. */
  private async trainerFor(keep: number, batch: number): Promise<WasmTrainer> {
    await this.trainerPending;
    const t = this.trainer;
    if (t && t.layout.keep >= keep && (t.layout.batch >= batch || t.layout.batch >= trainingBatchThatFits(this.config, batch, t.layout.keep, t.tilingUsed))) return t;
    const training = this.training;
    if (!training) throw new InputError('gradients need the training kernels: load the model in Node (they are built for its config), or pass kernels.training (a module built with training kernels)');
    this.trainerPending = (async () => {
      const k = Math.max(keep, t?.layout.keep ?? 0);
      const src = await training(k);
      const tiling = src.kernels.manifest.tiles ?? {};
      const b = trainingBatchThatFits(this.config, Math.max(batch, t?.layout.batch ?? 0), k, tiling);
      if (b < 1) checkTrainingFits(this.config, 1, k, tiling); // throws with the numbers
      this.trainer?.dispose();
      this.trainer = await WasmTrainer.create({ config: this.config, weights: src.weights, kernels: src.kernels, batch: b, keep: k, threads: src.threads, startWorkers: src.startWorkers });
      return this.trainer;
    })();
    return this.trainerPending;
  }

  /** Feature extraction: the encoder on all patches in order (no masking) → [N, 1 + L, D]. */
  async encode(pixels: Float32Array, opts: EncodeOptions): Promise<Float32Array> {
    this.checkPixels(pixels, opts.batch);
    const L = this.shapes.numPatches;
    const ids = new Int32Array(opts.batch * L);
    for (let i = 0; i < ids.length; i++) ids[i] = i % L;
    return this.forwardEncoder(pixels, opts.batch, ids, L);
  }

  /** Kept patches for a mask ratio. */
  lenKeep(maskRatio = this.config.maskRatio): number {
    return lenKeep(this.shapes.numPatches, maskRatio);
  }

  dispose(): void {
    this.trainer?.dispose();
    this.backend.dispose();
  }
}


/** What a value is, for an error message. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `a ${v.constructor.name}`;
  return typeof v === 'object' ? 'an object' : typeof v === 'string' ? `'${v}'` : `${typeof v} ${String(v)}`;
}

const isBytes = (v: unknown): boolean => v instanceof Uint8Array || v instanceof ArrayBuffer;

function checkLoadArgument(source: unknown): void {
  if (typeof source !== 'object' || source === null || Array.isArray(source)) {
    throw new InputError(`MaeModel.load: expected a model folder path, LoadOptions ({ model, weights, config, … }) or { config, weights, kernels }, got ${kindOf(source)}`);
  }
  const s = source as Record<string, unknown>;
  // A WebGPU-only source (device 'webgpu') runs no WASM kernels and may leave them out.
  if ('kernels' in s && !(s.kernels === undefined && s.device === 'webgpu')) {
    const k = s.kernels as Record<string, unknown> | null;
    if (typeof k !== 'object' || k === null || !('module' in k)) {
      throw new InputError(`MaeModel.load: kernels must be { module, manifest } (kernels.wasm and manifest.json from edge-mae build --out DIR), got ${kindOf(k)}`);
    }
    if (isBytes(s.weights)) {
      if (!(isWasmModule(k.module) || isBytes(k.module))) throw new InputError(`MaeModel.load: kernels.module must be a WebAssembly.Module or the bytes of kernels.wasm, got ${kindOf(k.module)}`);
      if (typeof k.manifest !== 'object' || k.manifest === null) throw new InputError(`MaeModel.load: kernels.manifest must be manifest.json's object, got ${kindOf(k.manifest)}`);
      if (typeof s.config !== 'object' || s.config === null || Array.isArray(s.config)) throw new InputError(`MaeModel.load: config must be a parsed config or config.json's object, got ${kindOf(s.config)}`);
    }
  }
}

/** LoadOptions name files: a config or weights given as data (bytes, objects) needs the kernels too. */
function checkLoadOptions(opts: LoadOptions): LoadOptions {
  const o = opts as unknown as Record<string, unknown>;
  if (isBytes(o.weights) || (typeof o.config === 'object' && o.config !== null)) {
    throw new InputError('MaeModel.load({ config, weights }) needs kernels: { module, manifest } (kernels.wasm and manifest.json from edge-mae build --out DIR); or pass a model folder path, or file paths as { model, config, weights }');
  }
  for (const field of ['model', 'weights', 'config', 'cacheDir'] as const) {
    if (o[field] !== undefined && typeof o[field] !== 'string') throw new InputError(`MaeModel.load: '${field}' must be a path (string), got ${kindOf(o[field])}`);
  }
  if (o.simd !== undefined && !['auto', 'simd128', 'relaxed'].includes(o.simd as string)) {
    throw new InputError(`MaeModel.load: 'simd' must be 'auto', 'simd128' or 'relaxed', got ${kindOf(o.simd)}`);
  }
  return opts;
}

/** Kernel threads: a positive integer, at most the cores there are (checked before anything is compiled or started). */
function checkThreads(threads: unknown): void {
  if (threads === undefined) return;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1) throw new InputError(`threads must be a positive integer, got ${kindOf(threads)}`);
  const cores = MaeModel.availableThreads?.() ?? ((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency || undefined);
  if (cores !== undefined && threads > cores) throw new InputError(`threads: ${threads} is more than the ${cores} cores here; at most ${cores}`);
}

/** The batch option: a positive integer (its memory is checked against wasm32 when the backend lays it out). */
function checkBatchOption(batch: unknown): void {
  if (batch === undefined) return;
  if (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 1) throw new InputError(`batch must be a positive integer, got ${kindOf(batch)}`);
}

function isBytesSource(s: ModelSource | BytesSource): s is BytesSource {
  return s.weights instanceof Uint8Array || s.weights instanceof ArrayBuffer;
}

/** Parses a BytesSource: config checked, weights read lazily as views of the bytes, module compiled if given as bytes. */
async function fromBytes(s: BytesSource): Promise<ModelSource> {
  const config = 'imageSize' in s.config ? (s.config as MaeConfig) : parseConfig(s.config, 'config');
  const bytes = s.weights instanceof Uint8Array ? s.weights : new Uint8Array(s.weights);
  const weights = loadWeights(SafetensorsFile.parse(bytes, 'weights'), config, { lazy: true });
  const m = s.kernels.module;
  // (The brand guard cannot narrow: bytes are structurally a WebAssembly.Module, an empty interface.)
  const module = isWasmModule(m) ? m : await WebAssembly.compile(ArrayBuffer.isView(m) ? (m as Uint8Array<ArrayBuffer>) : new Uint8Array(m as ArrayBuffer));
  const trainingKernels = s.kernels.training;
  const training = trainingKernels
    ? async (_keep: number): Promise<TrainingSource> => {
      const tm = trainingKernels.module;
      const tmodule = isWasmModule(tm) ? tm : await WebAssembly.compile(ArrayBuffer.isView(tm) ? (tm as Uint8Array<ArrayBuffer>) : new Uint8Array(tm as ArrayBuffer));
      return { weights: loadWeights(SafetensorsFile.parse(bytes, 'weights'), config), kernels: { module: tmodule, manifest: trainingKernels.manifest } };
    }
    : undefined;
  return { config, weights, kernels: { module, manifest: s.kernels.manifest }, preprocessor: s.preprocessor, threads: s.threads, batch: s.batch, startWorkers: s.startWorkers, training };
}
