/**
 * The edge-mae command line. Each command's work lives in its own file; here: argument parsing
 * (commander), and the rule that a failure prints one line and exits non-zero, never a stack trace.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import v8 from 'node:v8';
import { EdgeMaeError } from '../errors.js';
import '../node/index.js'; // registers the model-folder loader
import { relaxedSimdSupported } from '../simd-support.js';
import { runBuild } from './build.js';
import { runForward } from './forward.js';
import { runGradients } from './gradients.js';
import { parseMasking, runPretrain } from './pretrain.js';
import { runFinetune } from './finetune.js';
import { runAblate } from './ablate.js';
import { ABLATION_ROWS } from '../training/ablation.js';
import { runEncodeTensors } from './encode.js';
import { runEncodeImages } from './encode-images.js';
import { runReconstruct } from './reconstruct.js';
import { runScore } from './score.js';
import { runPreprocess } from './preprocess.js';
import { runServe } from './serve.js';
import { runClassify, runProbe } from './probe.js';
import { DEFAULT_FASHION_MNIST_DIR } from '../node/fashion-mnist.js';
import { MAX_REPEATS } from '../jobs/score.js';
import { DEFAULT_IMAGE_BATCH, MAX_BATCH_IMAGES } from './image-batches.js';

const log = (line: string): void => { process.stdout.write(line + '\n'); };
const warn = (line: string): void => { process.stderr.write(`edge-mae: ${line}\n`); };

/** Number(v), except that an empty or blank value is no number (Number('') is 0). */
const numberOf = (v: string): number => (v.trim() === '' ? Number.NaN : Number(v));

function ratio(v: string): number {
  const r = numberOf(v);
  if (!Number.isFinite(r) || r < 0 || r >= 1) throw new InvalidArgumentError('must be a number in [0, 1)');
  return r;
}

/** A comma-separated list of ratios in [0, 1), at most 64 (one encoder length each). */
function ratioList(v: string): number[] {
  const parts = v.split(',');
  if (parts.length > 64) throw new InvalidArgumentError(`at most 64 ratios, got ${parts.length}`);
  return parts.map((p) => {
    try {
      return ratio(p.trim());
    } catch {
      throw new InvalidArgumentError(`'${p}' is not a number in [0, 1)`);
    }
  });
}

/** An integer option in [min, max]; `range` says the bound in the error. */
const intIn = (min: number, max: number, range: string) => (v: string): number => {
  const n = numberOf(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be ${range}`);
  return n;
};

/** --l2: 'auto' (chosen on held-out training images) or a finite number ≥ 0. */
function l2Option(v: string): 'auto' | number {
  if (v.trim() === 'auto') return 'auto';
  const r = numberOf(v);
  if (!Number.isFinite(r) || r < 0) throw new InvalidArgumentError('must be auto or a finite number ≥ 0');
  return r;
}

/** --blocks: a block count ≥ 0 or 'all'. */
function blocksOption(v: string): number | 'all' {
  if (v.trim() === 'all') return 'all';
  const n = numberOf(v);
  if (!Number.isInteger(n) || n < 0 || n > 1024) throw new InvalidArgumentError('must be all or an integer from 0 to the encoder\'s depth');
  return n;
}

/** A fraction in (0, 1). */
function openFraction(v: string): number {
  const r = numberOf(v);
  if (!Number.isFinite(r) || r <= 0 || r >= 1) throw new InvalidArgumentError('must be a number in (0, 1)');
  return r;
}

/** A finite number ≥ 0 (learning rates, decays, warm-up epochs). */
function nonNegative(v: string): number {
  const r = numberOf(v);
  if (!Number.isFinite(r) || r < 0) throw new InvalidArgumentError('must be a finite number ≥ 0');
  return r;
}

const seed = intIn(0, 0xffffffff, 'an integer from 0 to 2^32 − 1');
const port = intIn(0, 65535, 'an integer from 0 to 65535');
const scale = intIn(1, 64, 'an integer from 1 to 64');
const repeats = intIn(1, MAX_REPEATS, `an integer from 1 to ${MAX_REPEATS}`);
const batch = intIn(1, MAX_BATCH_IMAGES, `an integer from 1 to ${MAX_BATCH_IMAGES}`);
/** More kernel threads than cores only adds OS threads and memory (1000 threads took 6 GB). */
const cores = availableParallelism();
const threads = intIn(1, cores, `an integer from 1 to ${cores} (the cores here)`);

/** Images per kernel call; image commands default to DEFAULT_IMAGE_BATCH, tensor commands to what 64 MiB of activations hold. */
const batchOption = (): Option => new Option('--batch <n>', `images per kernel call, their memory laid out at load (images: ${DEFAULT_IMAGE_BATCH}; tensors: as many as 64 MiB of activations hold, at most 64)`).argParser(batch);
const threadsOption = (): Option => new Option('--threads <n>', 'kernel threads sharing the model\'s memory').argParser(threads).default(1);
const deviceOption = (): Option => new Option('--device <d>', 'backend: wasm, webgpu, or auto (WebGPU when an adapter and device can be had, else WASM)').choices(['auto', 'wasm', 'webgpu']).default('wasm');

function imageOptions(cmd: Command): Command {
  return cmd
    .option('--fashion-mnist <split:range>', 'Fashion-MNIST images, e.g. test:0-7 (Debian package dataset-fashion-mnist)')
    .option('--fashion-mnist-dir <dir>', 'folder of the Fashion-MNIST IDX files', DEFAULT_FASHION_MNIST_DIR);
}

function modelOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--simd <variant>', 'kernel variant: relaxed SIMD when the engine validates it, else simd128').choices(['auto', 'simd128', 'relaxed']).default('auto'))
    .addOption(threadsOption())
    .addOption(deviceOption())
    .option('--model <dir>', 'model folder with config.json and model.safetensors (default: the bundled mae-fashion-mnist)')
    .option('--weights <file>', 'weights file (overrides the folder\'s model.safetensors)')
    .option('--config <file|preset>', 'config file or preset (overrides the folder\'s config.json)');
}

/**
 * --simd relaxed on an engine that has relaxed SIMD only behind a flag (Node 20): the CLI turns
 * the flag on before any module is compiled.
 */
function simdOption(v: 'auto' | 'simd128' | 'relaxed'): 'auto' | 'simd128' | 'relaxed' {
  if (v === 'relaxed' && !relaxedSimdSupported()) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return v;
}

export function program(): Command {
  const p = new Command('edge-mae')
    .description('Masked Autoencoders (ViT-MAE) on generated WebAssembly SIMD kernels')
    .exitOverride()
    // Usage errors read like every other failure: `edge-mae: <reason>`.
    .configureOutput({ writeErr: (s) => process.stderr.write(s.replace(/^error: /, 'edge-mae: ')) })
    .showSuggestionAfterError();

  p.command('build')
    .description('generate and compile the kernel module for a config (cached by config hash)')
    .requiredOption('--config <file|preset>', 'config.json, a model folder, or vit-mae-base|vit-mae-large|vit-mae-huge')
    .option('--cache <dir>', 'kernel cache folder')
    .option('--force', 'recompile even when cached')
    .option('--tune', 'time candidate GEMM tiles on this machine and keep the fastest for this config')
    .addOption(new Option('--simd <variant>', 'kernel variant').choices(['auto', 'simd128', 'relaxed']).default('auto'))
    .option('--threads', 'build the shared-memory (threaded) module')
    .addOption(new Option('--wasi', 'build the WASI module: imports only wasi_snapshot_preview1, exports its own memory').conflicts('threads'))
    .addOption(new Option('--mask-ratios <r,r,...>', 'also serve these mask ratios (the config\'s own and 0, all patches, always)').argParser(ratioList))
    .option('--out <dir>', 'also copy kernels.wasm, manifest.json and kernels.ts here (to bundle with an app)')
    .action((o) => runBuild({ config: o.config, cacheDir: o.cache, force: o.force, tune: o.tune, simd: simdOption(o.simd), threads: o.threads, wasi: o.wasi, maskRatios: o.maskRatios, out: o.out }, log));

  modelOptions(p.command('forward'))
    .description('MAE forward on pixel tensors: writes latent, pred, mask, ids_restore, losses')
    .requiredOption('--inputs <file>', 'safetensors with pixel_values [N,C,H,W] and optionally noise [N,L]')
    .requiredOption('--out <file>', 'output safetensors')
    .addOption(new Option('--mask-ratio <r>', 'fraction of patches removed (default: the config\'s)').argParser(ratio))
    .addOption(new Option('--seed <n>', 'mask seed when the inputs have no noise').argParser(seed))
    .addOption(batchOption())
    .action((o) => runForward({ model: o.model, weights: o.weights, config: o.config, inputs: o.inputs, out: o.out, maskRatio: o.maskRatio, seed: o.seed, simd: simdOption(o.simd), threads: o.threads, device: o.device, batch: o.batch }, log));

  modelOptions(p.command('gradients'))
    .description('gradients of the MAE loss (plain and norm_pix) for every trainable parameter, and optionally one AdamW step')
    .requiredOption('--inputs <file>', 'safetensors with pixel_values [N,C,H,W] and optionally noise [N,L]')
    .requiredOption('--out <file>', 'output safetensors: loss, loss_norm_pix, grad/<name>, grad_norm_pix/<name> (model.safetensors names)')
    .addOption(new Option('--adamw-step <lr>', 'also one AdamW step (MAE settings: betas 0.9/0.95, weight decay 0.05) from the weights: adamw1/<name>, loss_after_adamw1').argParser(nonNegative))
    .addOption(new Option('--mask-ratio <r>', 'fraction of patches removed (default: the config\'s)').argParser(ratio))
    .addOption(new Option('--seed <n>', 'mask seed when the inputs have no noise').argParser(seed))
    .addOption(batchOption())
    .action((o) => runGradients({ model: o.model, weights: o.weights, config: o.config, inputs: o.inputs, out: o.out, adamwStep: o.adamwStep, maskRatio: o.maskRatio, seed: o.seed, simd: simdOption(o.simd), threads: o.threads, device: o.device, batch: o.batch }, log));

  imageOptions(modelOptions(p.command('encode')))
    .description('embeddings of images (pooled, one per image), or with --inputs the encoder output latent_all [N,1+L,D] of pixel tensors')
    .argument('[images...]', 'image files or folders (PNG, JPEG)')
    .option('--inputs <file>', 'safetensors with pixel_values [N,C,H,W] instead of images')
    .requiredOption('--out <file>', 'output: .jsonl or .safetensors (images), .safetensors (--inputs)')
    .addOption(new Option('--pool <how>', 'pooling of the image embedding').choices(['mean', 'cls']).default('mean'))
    .addOption(batchOption())
    .action((images: string[], o) => (o.inputs
      ? runEncodeTensors({ model: o.model, weights: o.weights, config: o.config, inputs: o.inputs, out: o.out, simd: simdOption(o.simd), threads: o.threads, device: o.device, batch: o.batch }, log)
      : runEncodeImages({ images, threads: o.threads, device: o.device, model: o.model, out: o.out, pool: o.pool, batch: o.batch, fashionMnist: o.fashionMnist, fashionMnistDir: o.fashionMnistDir }, log, warn)));

  imageOptions(p.command('reconstruct'))
    .addOption(threadsOption())
    .addOption(deviceOption())
    .description('the MAE paper\'s figure for images: masked input | reconstruction | original, and each image\'s loss')
    .argument('[images...]', 'image files or folders (default: the bundled model\'s samples)')
    .option('--model <dir>', 'model folder (default: the bundled mae-fashion-mnist)')
    .requiredOption('--out <file.png>', 'figure to write')
    .addOption(new Option('--mask-ratio <r>', 'fraction of patches removed (default: the config\'s)').argParser(ratio))
    .addOption(new Option('--seed <n>', 'mask seed').argParser(seed).default(0))
    .addOption(new Option('--scale <k>', 'nearest-neighbour enlargement of each panel (default: to ≥112 px)').argParser(scale))
    .option('--show-prediction', 'add a panel with the raw prediction (before the visible patches are pasted back)')
    .addOption(batchOption())
    .action((images: string[], o) => runReconstruct({ images, threads: o.threads, device: o.device, batch: o.batch, model: o.model, out: o.out, maskRatio: o.maskRatio, seed: o.seed, scale: o.scale, showPrediction: o.showPrediction, fashionMnist: o.fashionMnist, fashionMnistDir: o.fashionMnistDir }, log, warn));

  imageOptions(p.command('score'))
    .addOption(threadsOption())
    .addOption(deviceOption())
    .description('anomaly score of each image: normalised-pixel reconstruction error averaged over K random masks')
    .argument('[images...]', 'image files or folders')
    .option('--model <dir>', 'model folder (default: the bundled mae-fashion-mnist)')
    .addOption(new Option('--mask-ratio <r>', 'fraction of patches removed (default: the config\'s)').argParser(ratio))
    .addOption(new Option('--repeats <k>', `random masks per image (at most ${MAX_REPEATS})`).argParser(repeats).default(1))
    .addOption(new Option('--seed <n>', 'mask seed').argParser(seed).default(0))
    .addOption(new Option('--format <f>', 'output format (default: from --out, else csv)').choices(['csv', 'jsonl']))
    .option('--out <file>', 'write the scores here instead of stdout')
    .addOption(batchOption())
    .action((images: string[], o) => runScore({ images, threads: o.threads, device: o.device, model: o.model, maskRatio: o.maskRatio, repeats: o.repeats, seed: o.seed, format: o.format, out: o.out, batch: o.batch, fashionMnist: o.fashionMnist, fashionMnistDir: o.fashionMnistDir }, log, warn));

  p.command('pretrain')
    .description('pretrain a masked autoencoder with the MAE recipe (AdamW, warm-up + cosine, random masking) into a model folder')
    .option('--config <file|dir|preset>', 'the architecture: config.json, a model folder or a preset (fresh weights, models_mae.py\'s initialisation)')
    .option('--init <dir>', 'start from this model folder\'s weights (continued pretraining)')
    .requiredOption('--data <spec>', 'fashion-mnist:train[:range], a folder of PNG/JPEG images, or a .safetensors with pixel_values')
    .requiredOption('--out <dir>', 'the model folder to write (config.json, model.safetensors, checkpoint.safetensors, train-log.jsonl)')
    .addOption(new Option('--epochs <n>', 'epochs').argParser(intIn(1, 100_000, 'an integer from 1 to 100000')).default(20))
    .addOption(new Option('--max-iters <n>', 'stop after this many optimizer steps (the schedule still spans --epochs)').argParser(intIn(1, 2 ** 31 - 1, 'a positive integer')))
    .addOption(new Option('--batch <n>', 'images per micro-batch').argParser(intIn(1, 65536, 'an integer from 1 to 65536')).default(256))
    .addOption(new Option('--accum <k>', 'micro-batches per optimizer step (effective batch = batch × accum)').argParser(intIn(1, 65536, 'an integer from 1 to 65536')).default(1))
    .addOption(new Option('--blr <x>', 'base learning rate: lr = blr × batch × accum / 256').argParser(nonNegative).default(1.5e-4))
    .addOption(new Option('--min-lr <x>', 'the cosine\'s floor').argParser(nonNegative).default(0))
    .addOption(new Option('--warmup-epochs <x>', 'linear warm-up epochs').argParser(nonNegative).default(1))
    .addOption(new Option('--weight-decay <x>', 'AdamW weight decay (weights of ≥ 2 dimensions, cls and mask tokens included)').argParser(nonNegative).default(0.05))
    .addOption(new Option('--mask-ratio <r>', 'fraction of patches removed (default: the config\'s)').argParser(ratio))
    .addOption(new Option('--masking <how>', 'random (models_mae.py), block (BEiT\'s blocks) or grid (one of every 2×2 kept)').argParser(parseMasking).default('random'))
    .addOption(new Option('--loss <on>', 'the loss over removed patches (the paper) or all patches').choices(['removed', 'all']).default('removed'))
    .option('--norm-pix', 'per-patch normalised pixel target (default: the config\'s norm_pix_loss)')
    .option('--encoder-mask-tokens', 'the encoder sees mask tokens for the removed patches (Table 1c)')
    .addOption(new Option('--seed <n>', 'seed of the initialisation, order, flips and masks').argParser(seed).default(0))
    .addOption(threadsOption())
    .option('--resume', 'go on from --out\'s checkpoint.safetensors exactly where it stopped')
    .option('--fashion-mnist-dir <dir>', 'folder of the Fashion-MNIST IDX files', DEFAULT_FASHION_MNIST_DIR)
    .option('--cache <dir>', 'kernel cache folder')
    .action((o) => runPretrain({
      config: o.config, init: o.init, data: o.data, out: o.out, epochs: o.epochs, maxIters: o.maxIters, batch: o.batch, accum: o.accum, blr: o.blr, minLr: o.minLr,
      warmupEpochs: o.warmupEpochs, weightDecay: o.weightDecay, maskRatio: o.maskRatio, masking: o.masking, loss: o.loss, normPix: o.normPix,
      encoderMaskTokens: o.encoderMaskTokens, seed: o.seed, threads: o.threads, resume: o.resume, fashionMnistDir: o.fashionMnistDir, cacheDir: o.cache,
    }, log, warn));

  p.command('ablate')
    .description('the paper\'s ablations at edge scale: pretrain the base architecture once per row (mask ratio, masking, loss, target, mask tokens, decoder depth), test loss and linear probe each; resumable')
    .requiredOption('--data <fashion-mnist>', 'fashion-mnist (its train split pretrains and probes, its test split scores)')
    .requiredOption('--out <dir>', 'folder of the rows (rows/NAME/), results.json, results.md and ablation.png')
    .option('--model <dir>', 'the base architecture and preprocessing (default: the bundled mae-fashion-mnist; its weights are not used)')
    .addOption(new Option('--epochs <n>', 'pretraining epochs per row').argParser(intIn(1, 100_000, 'an integer from 1 to 100000')).default(5))
    .addOption(new Option('--batch <n>', 'images per step').argParser(intIn(1, 65536, 'an integer from 1 to 65536')).default(256))
    .addOption(new Option('--blr <x>', 'base learning rate: lr = blr × batch / 256').argParser(nonNegative).default(2e-3))
    .addOption(new Option('--warmup-epochs <x>', 'linear warm-up epochs').argParser(nonNegative).default(1))
    .addOption(new Option('--seed <n>', 'seed of every row (initialisation, order, flips, masks)').argParser(seed).default(0))
    .addOption(new Option('--rows <names>', `rows to run, comma-separated (default all: ${ABLATION_ROWS.map((r) => r.name).join(', ')})`).argParser((v: string) => v.split(',').map((x) => x.trim()).filter(Boolean)))
    .addOption(new Option('--train-images <n>', 'pretrain on the first N training images').argParser(intIn(1, 60000, 'an integer from 1 to 60000')))
    .addOption(new Option('--test-images <n>', 'the first N test images (test loss and probe)').argParser(intIn(1, 10000, 'an integer from 1 to 10000')))
    .addOption(new Option('--probe-train-images <n>', 'the probe\'s first N training images').argParser(intIn(2, 60000, 'an integer from 2 to 60000')))
    .addOption(new Option('--probe-l2 <auto|value>', 'the probe\'s L2 (auto: chosen on held-out images)').argParser(l2Option).default('auto'))
    .addOption(new Option('--probe-max-iter <n>', 'L-BFGS iterations per probe fit at most').argParser(intIn(1, 100000, 'an integer from 1 to 100000')).default(1000))
    .addOption(threadsOption())
    .option('--fashion-mnist-dir <dir>', 'folder of the Fashion-MNIST IDX files', DEFAULT_FASHION_MNIST_DIR)
    .option('--cache <dir>', 'kernel cache folder')
    .action((o) => runAblate({
      model: o.model, data: o.data, out: o.out, epochs: o.epochs, batch: o.batch, blr: o.blr, warmupEpochs: o.warmupEpochs, seed: o.seed, threads: o.threads,
      rows: o.rows, trainImages: o.trainImages, testImages: o.testImages, probeTrainImages: o.probeTrainImages, probeL2: o.probeL2, probeMaxIter: o.probeMaxIter,
      fashionMnistDir: o.fashionMnistDir, cacheDir: o.cache,
    }, log, warn));

  modelOptions(p.command('probe'))
    .description('linear probe: multinomial logistic regression (L-BFGS) on the encoder\'s pooled features of labelled images; writes the head and a report')
    .requiredOption('--data <fashion-mnist|folder>', 'fashion-mnist (Debian\'s IDX files: 60,000 train / 10,000 test), or a folder of class subfolders (optionally inside train/ and test/)')
    .addOption(new Option('--pool <how>', 'features: mean of the patch tokens or the CLS token (after the encoder\'s final norm)').choices(['mean', 'cls']).default('mean'))
    .addOption(new Option('--l2 <auto|value>', 'L2 penalty on W; auto: the best of 1e-6 … 1e-1 on held-out training images, then refit on all').argParser(l2Option).default('auto'))
    .option('--out <report.json>', 'write the report (accuracies, chosen L2, confusion matrix, fits, times) here')
    .option('--head <file>', 'where to save the head (default: beside --out as <name>.head.safetensors, else MODEL/probe-head.safetensors)')
    .addOption(new Option('--seed <n>', 'seed of the held-out and test splits').argParser(seed).default(0))
    .addOption(new Option('--test-fraction <r>', 'share of each class tested, for a folder without train/ and test/').argParser(openFraction).default(0.2))
    .addOption(new Option('--train-limit <n>', 'fashion-mnist: only the first n training images (a quick run)').argParser(intIn(2, 60000, 'an integer from 2 to 60000')))
    .addOption(new Option('--test-limit <n>', 'fashion-mnist: only the first n test images').argParser(intIn(1, 10000, 'an integer from 1 to 10000')))
    .addOption(new Option('--max-iter <n>', 'L-BFGS iterations at most, per fit').argParser(intIn(1, 100000, 'an integer from 1 to 100000')).default(1000))
    .addOption(batchOption())
    .option('--fashion-mnist-dir <dir>', 'folder of the Fashion-MNIST IDX files', DEFAULT_FASHION_MNIST_DIR)
    .action((o) => runProbe({
      model: o.model, weights: o.weights, config: o.config, simd: simdOption(o.simd), threads: o.threads, device: o.device, batch: o.batch,
      data: o.data, pool: o.pool, l2: o.l2, out: o.out, head: o.head, seed: o.seed, testFraction: o.testFraction, trainLimit: o.trainLimit, testLimit: o.testLimit,
      maxIter: o.maxIter, fashionMnistDir: o.fashionMnistDir, argv: process.argv.slice(2),
    }, log, warn));

  imageOptions(p.command('classify'))
    .addOption(threadsOption())
    .addOption(deviceOption())
    .description('classify images with a linear-probe head (from edge-mae probe): the top-k classes and their probabilities')
    .argument('[images...]', 'image files or folders (PNG, JPEG)')
    .option('--model <dir>', 'model folder (default: the bundled mae-fashion-mnist)')
    .option('--head <file>', 'probe head (default: MODEL/probe-head.safetensors)')
    .addOption(new Option('--top <k>', 'classes per image (at most the head\'s)').argParser(intIn(1, 100000, 'an integer from 1 to 100000')).default(5))
    .option('--json', 'one JSON line per image: { image, top: [{ label, probability }] }')
    .addOption(batchOption())
    .action((images: string[], o) => runClassify({ images, model: o.model, head: o.head, top: o.top, json: o.json, threads: o.threads, device: o.device, batch: o.batch, fashionMnist: o.fashionMnist, fashionMnistDir: o.fashionMnistDir }, log, warn));

  p.command('finetune')
    .description('supervised fine-tuning of the last K encoder blocks (0: the head alone; all: full) and a linear head on labelled images')
    .option('--model <dir>', 'model folder (default: the bundled mae-fashion-mnist)')
    .requiredOption('--data <spec>', 'fashion-mnist, or a folder of class subfolders (train/ and test/, or split here)')
    .requiredOption('--out <dir>', 'the model folder to write (weights, probe-head.safetensors, report.json)')
    .addOption(new Option('--blocks <k|all>', 'encoder blocks opened from the top').argParser(blocksOption).default(1))
    .addOption(new Option('--epochs <n>', 'epochs').argParser(intIn(1, 100_000, 'an integer from 1 to 100000')).default(1))
    .addOption(new Option('--batch <n>', 'images per step').argParser(intIn(1, 65536, 'an integer from 1 to 65536')).default(256))
    .addOption(new Option('--blr <x>', 'base learning rate: lr = blr × batch / 256 (the default suits a run of a few epochs: the head starts from zero; MAE\'s 100-epoch ImageNet recipe uses 5e-4)').argParser(nonNegative).default(2e-2))
    .addOption(new Option('--min-lr <x>', 'the cosine\'s floor').argParser(nonNegative).default(1e-6))
    .addOption(new Option('--warmup-epochs <x>', 'linear warm-up epochs').argParser(nonNegative).default(0.2))
    .addOption(new Option('--weight-decay <x>', 'AdamW weight decay (≥ 2-D weights but cls)').argParser(nonNegative).default(0.05))
    .addOption(new Option('--layer-decay <x>', 'layer-wise lr decay (1: none)').argParser(nonNegative).default(0.75))
    .addOption(new Option('--pool <how>', 'pooled feature for the head').choices(['mean', 'cls']).default('mean'))
    .addOption(new Option('--seed <n>', 'seed of the head, order and flips').argParser(seed).default(0))
    .option('--no-flip', 'no random horizontal flips')
    .addOption(new Option('--train-images <n>', 'Fashion-MNIST: the first N training images').argParser(intIn(1, 60000, 'an integer from 1 to 60000')))
    .addOption(new Option('--test-images <n>', 'Fashion-MNIST: the first N test images').argParser(intIn(1, 10000, 'an integer from 1 to 10000')))
    .addOption(new Option('--test-fraction <r>', 'share of each class tested, for a folder without train/ and test/').argParser(openFraction).default(0.2))
    .addOption(new Option('--max-iters <n>', 'stop after this many steps').argParser(intIn(1, 2 ** 31 - 1, 'a positive integer')))
    .addOption(threadsOption())
    .option('--fashion-mnist-dir <dir>', 'folder of the Fashion-MNIST IDX files', DEFAULT_FASHION_MNIST_DIR)
    .option('--cache <dir>', 'kernel cache folder')
    .action((o) => runFinetune({
      model: o.model, data: o.data, out: o.out, blocks: o.blocks, epochs: o.epochs, batch: o.batch, blr: o.blr, minLr: o.minLr, warmupEpochs: o.warmupEpochs,
      weightDecay: o.weightDecay, layerDecay: o.layerDecay, pool: o.pool, seed: o.seed, threads: o.threads, flip: o.flip, trainImages: o.trainImages,
      testImages: o.testImages, testFraction: o.testFraction, maxIters: o.maxIters, fashionMnistDir: o.fashionMnistDir, cacheDir: o.cache,
    }, log));

  p.command('preprocess')
    .description('images → the model\'s pixel_values [N,C,H,W] (needs only config.json and preprocessor_config.json)')
    .argument('<images...>', 'image files or folders (PNG, JPEG)')
    .option('--model <dir>', 'model folder (default: the bundled mae-fashion-mnist)')
    .requiredOption('--out <file>', 'output safetensors')
    .action((images: string[], o) => runPreprocess({ images, model: o.model, out: o.out }, log));

  p.command('serve')
    .description('serve the web page (dist/web, from `npm run web:build`) on loopback with COOP/COEP headers')
    .addOption(new Option('--port <n>', 'port (0: any free one)').argParser(port).default(8080))
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--dir <dir>', 'folder to serve (default: dist/web)')
    .action((o) => runServe({ port: o.port, host: o.host, dir: o.dir }, log));

  return p;
}

/** A reader that goes away (`edge-mae classify … | head`) ends the output, not with a stack trace. */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe(process.stdout);
  try {
    await program().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed the one-line reason
    if (e instanceof EdgeMaeError) {
      process.stderr.write(`edge-mae: ${e.message}\n`);
      return 1;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`edge-mae: unexpected error: ${msg.split('\n')[0]}\n`);
    return 70;
  }
}
