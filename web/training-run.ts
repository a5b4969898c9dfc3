/**
 * A pretraining run inside the model worker: the same WasmTrainer and pretrain() loop as
 * `edge-mae pretrain` (src/cli/pretrain.ts), on the page's precompiled training module, so the
 * same seed, data and steps give the same weights, byte for byte. Pause and stop are asked for
 * between optimizer steps: pretrain() returns its position, and a resumed run goes on from it
 * exactly as `--resume` does. The live reconstruction is an inference model rebuilt from the
 * trainer's weights every so often.
 */
import { MaeModel, SafetensorsFile, encodeSafetensors, loadImage, loadWeights, parsePreprocessorConfig, preprocessImage, reconstruct, renderFigure, toHfJson } from '../src/index.js';
import type { KernelModule, MaeConfig, MaeWeights, PreprocessorConfig } from '../src/index.js';
import { InputError } from '../src/errors.js';
import { shapesOf } from '../src/shapes.js';
import { browserWorkers } from '../src/browser/threads.js';
import { modelTensors } from '../src/training/checkpoint.js';
import { pixelImages } from '../src/training/data.js';
import { initialWeights } from '../src/training/init.js';
import { checkTrainingFits } from '../src/training/layout.js';
import { keptPatches } from '../src/training/masking-strategies.js';
import { type PretrainOptions, type PretrainPosition, checkPretrainOptions, pretrain, stepsPerEpoch } from '../src/training/pretrain.js';
import { WasmTrainer } from '../src/training/trainer.js';
import type { TrainEvent, TrainRecipe, TrainedReply } from './protocol.js';

/** Everything a run needs from the model folder, already fetched (modules compile on demand). */
export interface TrainingAssets {
  config: MaeConfig;
  preprocessorJson: unknown;
  /** The bundled model.safetensors, whole (a trainer keeps plain weights, not lazy views). */
  weightsBytes: Uint8Array;
  trainingKernels(threads: boolean): Promise<KernelModule>;
  /** The one-thread inference module (the live reconstruction). */
  inferenceKernels(): Promise<KernelModule>;
}

/** Images the run trains on: encoded bytes with names, decoded here with the usual limits. */
export interface TrainingFile { name: string; bytes: ArrayBuffer }

export interface PreviewImage { name: string; bytes: ArrayBuffer; seed: number; scale: number }

/** Pixels held for training at most, as in Node (src/node/training-data.ts). */
const MAX_TRAINING_PIXEL_BYTES = 2 ** 31;
/** At most one live reconstruction per this many milliseconds of training. */
const PREVIEW_EVERY_MS = 1000;

/**
 * Node's folder order (src/node/image-files.ts walks each folder's entries sorted with
 * localeCompare): relative paths compared folder by folder, then by name.
 */
export function nodeOrder(a: { name: string }, b: { name: string }): number {
  const pa = a.name.split('/'), pb = b.name.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = pa[i]!.localeCompare(pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

/**
 * Decodes and preprocesses the images as `edge-mae pretrain --data FOLDER` does. An image of
 * another size than the model's is resized (PIL bilinear, as Hugging Face with do_resize), where
 * the CLI would refuse it; the count of those is returned.
 */
export function trainingPixels(files: readonly TrainingFile[], cfg: MaeConfig, preprocessorJson: unknown): { pixels: Float32Array; resized: number } {
  if (files.length === 0) throw new InputError('no training images');
  const size = cfg.numChannels * cfg.imageSize ** 2;
  const max = Math.floor(MAX_TRAINING_PIXEL_BYTES / 4 / size);
  if (files.length > max) throw new InputError(`${files.length} images are more than the ${max} that ${MAX_TRAINING_PIXEL_BYTES / 2 ** 30} GiB of pixels hold`);
  const pp = parsePreprocessorConfig(preprocessorJson, cfg.imageSize, cfg.numChannels);
  let resizing: PreprocessorConfig | undefined;
  let resized = 0;
  const pixels = new Float32Array(files.length * size);
  files.forEach((f, i) => {
    const img = loadImage(new Uint8Array(f.bytes), f.name);
    let use = pp;
    if ((img.width !== pp.size.width || img.height !== pp.size.height) && !pp.doResize) {
      resizing ??= parsePreprocessorConfig({ ...(preprocessorJson as object), do_resize: true, size: { height: cfg.imageSize, width: cfg.imageSize } }, cfg.imageSize, cfg.numChannels);
      use = resizing;
      resized++;
    }
    pixels.set(preprocessImage(img, use, cfg.numChannels as 1 | 3), i * size);
  });
  return { pixels, resized };
}

/** `edge-mae pretrain`'s options for a recipe (src/cli/pretrain.ts's mapping, with its defaults for the rest). */
export function pretrainOptions(r: TrainRecipe, cfg: MaeConfig): PretrainOptions {
  return {
    batch: r.batch, accum: 1, epochs: r.epochs, maxIters: r.maxIters, blr: r.blr, minLr: 0, warmupEpochs: r.warmupEpochs,
    weightDecay: 0.05, maskRatio: r.maskRatio, masking: r.masking, lossOn: 'removed', normPix: cfg.normPixLoss, seed: r.seed, encoderMaskTokens: false,
  };
}

export class TrainingRun {
  private paused = false;
  private stopped = false;
  private wake?: () => void;

  constructor(private readonly post: (e: TrainEvent, transfer?: Transferable[]) => void) {}

  /** Pause, resume or stop: takes effect between optimizer steps. */
  control(action: 'pause' | 'resume' | 'stop'): void {
    if (action === 'pause') this.paused = true;
    else {
      if (action === 'stop') this.stopped = true;
      this.paused = false;
      this.wake?.();
    }
  }

  async run(assets: TrainingAssets, recipe: TrainRecipe, files: readonly TrainingFile[], preview: PreviewImage | undefined): Promise<Omit<TrainedReply, 'id'> & { weightsForModel: MaeWeights }> {
    // The config as the CLI trains it: the recipe's mask ratio, the config's norm_pix_loss.
    const cfg: MaeConfig = { ...assets.config, maskRatio: recipe.maskRatio };
    const options = pretrainOptions(recipe, cfg);
    const threads = recipe.threads;
    if (!(Number.isInteger(threads) && threads >= 1)) throw new InputError(`threads must be a positive integer, got ${threads}`);
    const { pixels, resized } = trainingPixels(files, cfg, assets.preprocessorJson);
    const images = pixelImages(pixels, cfg.numChannels, cfg.imageSize);
    const { grid, numPatches: L } = shapesOf(cfg);
    const keep = keptPatches(options.masking, grid, options.maskRatio);
    if (keep < 1 || keep > L) throw new InputError(`mask ratio ${options.maskRatio} keeps no patch of ${L}`);
    const kernels = await assets.trainingKernels(threads > 1);
    // Memory is sized before anything is allocated: a batch that does not fit is refused with the numbers.
    const layout = checkTrainingFits(cfg, options.batch, keep, kernels.manifest.tiles ?? {}, threads);
    checkPretrainOptions(options, images);
    const weights = recipe.init === 'bundled' ? loadWeights(SafetensorsFile.parse(assets.weightsBytes, 'model.safetensors'), cfg) : initialWeights(cfg, options.seed);
    let trainer: WasmTrainer;
    try {
      trainer = await WasmTrainer.create({ config: cfg, weights, kernels, batch: options.batch, keep, threads, startWorkers: threads > 1 ? browserWorkers() : undefined });
    } catch (e) {
      if (e instanceof RangeError) throw new InputError(`the browser refused ${(layout.pages / 16).toFixed(0)} MiB of WebAssembly memory for batch ${options.batch} (${e.message}); try a smaller batch`);
      throw e;
    }
    const perEpoch = stepsPerEpoch(images.count, options.batch, options.accum);
    const total = Math.min(options.maxIters ?? Infinity, perEpoch * options.epochs);
    this.post({
      type: 'train-started', images: images.count, stepsPerEpoch: perEpoch, totalSteps: total, keep, patches: L, memoryBytes: layout.pages * 65536,
      backend: `wasm: ${kernels.manifest.simd.toUpperCase()}, ${threads} thread${threads > 1 ? 's' : ''}${resized ? `; ${resized} image${resized > 1 ? 's' : ''} resized to ${cfg.imageSize}×${cfg.imageSize}` : ''}`, threads,
    });

    const previewImage = preview ?? { ...files[0]!, seed: 0, scale: Math.max(1, Math.ceil(224 / cfg.imageSize)) };
    let previewModel: MaeModel | undefined;
    let lastPreview = -Infinity;
    let lastPreviewStep = -1;
    const showPreview = async (step: number): Promise<void> => {
      if (step === lastPreviewStep) return;
      lastPreviewStep = step;
      lastPreview = performance.now();
      const w = loadWeights(SafetensorsFile.parse(encodeSafetensors(modelTensors(trainer)), 'trained'), cfg);
      previewModel?.dispose();
      previewModel = await MaeModel.load({ config: cfg, weights: w, kernels: await assets.inferenceKernels(), preprocessor: assets.preprocessorJson, threads: 1 });
      const { pixels: px } = trainingPixels([previewImage], cfg, assets.preprocessorJson);
      const [row] = await reconstruct(previewModel, px, previewModel.preprocessor, { batch: 1, seed: previewImage.seed, maskRatio: recipe.maskRatio });
      const figure = renderFigure([row!], { scale: previewImage.scale });
      this.post({ type: 'train-preview', iter: step, figure: { width: figure.width, height: figure.height, data: figure.data }, cell: cfg.imageSize * previewImage.scale, loss: row!.loss, name: previewImage.name }, [figure.data.buffer as ArrayBuffer]);
    };

    let position: PretrainPosition = { epoch: 0, batchInEpoch: 0, step: 0, seconds: 0 };
    let previewDue = false;
    try {
      for (;;) {
        position = await pretrain(trainer, images, options, position, {
          onStep: (s) => {
            this.post({ type: 'train-step', iter: s.iter, epoch: s.epoch, loss: s.loss, lr: s.lr, seconds: s.seconds, imagesPerS: s.imagesPerS });
            previewDue = performance.now() - lastPreview >= PREVIEW_EVERY_MS;
          },
          // Checked between steps: a due preview runs here too, off the step's clock.
          shouldStop: () => this.paused || this.stopped || previewDue,
        });
        const finished = position.step >= total;
        if (previewDue || finished || this.paused || this.stopped) {
          previewDue = false;
          await showPreview(position.step);
        }
        if (finished || this.stopped) break;
        if (this.paused) {
          this.post({ type: 'train-state', state: 'paused' });
          await new Promise<void>((resolve) => { this.wake = resolve; });
          this.wake = undefined;
          if (this.stopped) break;
          this.post({ type: 'train-state', state: 'running' });
        }
      }
      // The model folder's files exactly as src/cli/pretrain.ts writes them.
      const tensors = modelTensors(trainer);
      const bytes = encodeSafetensors(tensors, { format: 'pt', producer: 'edge-mae pretrain' });
      const preprocessor = assets.preprocessorJson === undefined ? undefined : JSON.stringify(assets.preprocessorJson, null, 2) + '\n';
      return {
        type: 'trained', end: this.stopped ? 'stopped' : 'done', steps: position.step, seconds: position.seconds,
        config: JSON.stringify({ ...toHfJson(cfg), architectures: ['ViTMAEForPreTraining'] }, null, 2) + '\n',
        preprocessor, weights: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        weightsForModel: loadWeights(SafetensorsFile.parse(bytes, 'trained'), cfg),
      };
    } finally {
      previewModel?.dispose();
      trainer.dispose();
    }
  }
}
