/**
 * `edge-mae ablate`: the paper's ablation table at edge scale (src/training/ablation.ts). Per row:
 * pretrain the base architecture from scratch with the row's one change (`edge-mae pretrain`,
 * checkpointed every epoch), its objective on the test images, then a linear probe
 * (`edge-mae probe`'s protocol). Everything a row makes lives in DIR/rows/NAME/; a row with a
 * result.json is done and never rerun, a row stopped mid-pretraining goes on from its checkpoint.
 * DIR/results.json, results.md and ablation.png are rewritten after each row.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type MaeConfig, shapesOf, toHfJson } from '../config.js';
import { FileError, UsageError } from '../errors.js';
import { parsePreprocessorConfig } from '../image/preprocess.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { MAX_TRAINING_WEIGHTS_BYTES, compileTrainingKernels, readConfig, readPreprocessorJson, readWholeWeights } from '../node/load.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';
import { startNodeWorkers } from '../node/threads.js';
import { loadTrainingImages } from '../node/training-data.js';
import { defaultEncoderLengths } from '../plan.js';
import { chooseSimd } from '../simd-support.js';
import { type AblationRow, type AblationSettings, selectRows } from '../training/ablation.js';
import { ablationChart } from '../training/ablation-chart.js';
import { type AblationTableRow, ablationMarkdown } from '../training/ablation-table.js';
import { heldOutObjective } from '../training/evaluate.js';
import { ENCODER_MASK_TOKEN } from '../training/params.js';
import { SafetensorsFile } from '../safetensors.js';
import { readBytes } from '../node/regular-file.js';
import { keptPatches } from '../training/masking-strategies.js';
import { WasmTrainer } from '../training/trainer.js';
import { encodePng } from '../image/encode-png.js';
import { runPretrain } from './pretrain.js';
import { runProbe } from './probe.js';

export interface AblateArgs {
  /** The base architecture and preprocessing: a model folder (its weights are not used). */
  model?: string;
  data: string;
  out: string;
  epochs: number;
  batch: number;
  blr: number;
  warmupEpochs: number;
  seed: number;
  threads: number;
  rows?: string[];
  /** Fashion-MNIST: pretrain on the first N training images (default all 60,000). */
  trainImages?: number;
  /** Fashion-MNIST: the first N test images for the test loss and the probe (default all 10,000). */
  testImages?: number;
  /** The probe's training images (the first N; default all). */
  probeTrainImages?: number;
  probeL2?: 'auto' | number;
  probeMaxIter?: number;
  fashionMnistDir?: string;
  cacheDir?: string;
  argv?: string[];
}

/** What a finished row records (DIR/rows/NAME/result.json and one object of results.json): its table row, and its steps. */
export interface AblationResult extends AblationTableRow {
  epochs: number;
  steps: number;
}

/** The budget every row shares: a rerun with another one would mix tables. */
interface Budget {
  base_config: ReturnType<typeof toHfJson>;
  epochs: number;
  batch: number;
  blr: number;
  warmup_epochs: number;
  seed: number;
  train_images: number;
  test_images: number;
  probe_train_images: number;
  probe_l2: 'auto' | number;
  probe_max_iter: number;
}

const FASHION_MNIST_TRAIN = 60000, FASHION_MNIST_TEST = 10000;
const PLAIN = { maskRatio: 0.75, masking: 'random', lossOn: 'removed', normPix: false } as const;
const EVALUATION_BATCH = 256;

export async function runAblate(a: AblateArgs, log: (line: string) => void, warn: (line: string) => void): Promise<void> {
  if (a.data !== 'fashion-mnist') throw new UsageError(`--data: ablate runs on fashion-mnist (its train split pretrains and probes, its test split scores), got '${a.data}'`);
  if (existsSync(a.out) && !statSync(a.out).isDirectory()) throw new FileError(`--out '${a.out}': exists and is not a folder`);
  const rows = selectRows(a.rows);
  const modelDir = a.model ?? DEFAULT_MODEL_DIR;
  const base = readConfig(join(modelDir, 'config.json'));
  const preprocessorJson = readPreprocessorJson(modelDir);
  const budget: Budget = {
    base_config: toHfJson(base), epochs: a.epochs, batch: a.batch, blr: a.blr, warmup_epochs: a.warmupEpochs, seed: a.seed,
    train_images: a.trainImages ?? FASHION_MNIST_TRAIN, test_images: a.testImages ?? FASHION_MNIST_TEST,
    probe_train_images: a.probeTrainImages ?? FASHION_MNIST_TRAIN, probe_l2: a.probeL2 ?? 'auto', probe_max_iter: a.probeMaxIter ?? 1000,
  };
  mkdirSync(a.out, { recursive: true });
  const budgetPath = join(a.out, 'ablation.json');
  if (existsSync(budgetPath)) {
    const before = JSON.parse(readFileSync(budgetPath, 'utf8')) as Budget;
    if (JSON.stringify(before) !== JSON.stringify(budget)) throw new UsageError(`--out '${a.out}' holds rows of another budget (${budgetPath}); run with the same options, or use another folder`);
  } else {
    writeFileAtomic(budgetPath, JSON.stringify(budget, null, 2) + '\n');
  }

  // Ctrl-C or SIGTERM: pretrain writes its checkpoint and returns; the table stops after it.
  let stopped = false;
  const onSignal = (): void => { stopped = true; };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const pp = parsePreprocessorConfig(preprocessorJson, base.imageSize, base.numChannels);
    const testImages = loadTrainingImages(`fashion-mnist:test:0-${budget.test_images - 1}`, base, pp, a.fashionMnistDir);
    log(`ablate: ${rows.length} rows × ${a.epochs} epochs on ${budget.train_images} training images (batch ${a.batch}, blr ${a.blr}), probes on ${budget.probe_train_images}, tested on ${budget.test_images} → ${a.out}`);
    let ran = 0;
    for (const row of rows) {
      const dir = join(a.out, 'rows', row.name);
      const resultPath = join(dir, 'result.json');
      if (existsSync(resultPath)) {
        log(`[${row.name}] done before (${resultPath})`);
        continue;
      }
      const result = await runRow(row, dir, base, preprocessorJson, budget, testImages, a, log, warn, () => stopped);
      if (result === undefined) {
        warn(`ablate: stopped in row '${row.name}'; rerun the same command to go on`);
        return;
      }
      writeFileAtomic(resultPath, JSON.stringify(result, null, 2) + '\n');
      writeSummary(a.out, budget, log);
      ran++;
    }
    if (ran === 0) writeSummary(a.out, budget, log);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Steps' speeds: the median, which time the run spent stopped (Ctrl-C, a paused job) or not yet warm does not move. */
function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function rowConfig(base: MaeConfig, s: AblationSettings): MaeConfig {
  return { ...base, maskRatio: s.mask_ratio, normPixLoss: s.target === 'norm_pix', decoderNumHiddenLayers: s.decoder_depth ?? base.decoderNumHiddenLayers };
}

async function runRow(
  row: AblationRow, dir: string, base: MaeConfig, preprocessorJson: unknown, budget: Budget, testImages: ReturnType<typeof loadTrainingImages>,
  a: AblateArgs, log: (line: string) => void, warn: (line: string) => void, stopped: () => boolean,
): Promise<AblationResult | undefined> {
  const s = row.settings;
  const cfg = rowConfig(base, s);
  const say = (line: string): void => log(`[${row.name}] ${line}`);
  // The row's architecture as a model folder without weights: pretrain's --config.
  const archDir = join(dir, 'architecture');
  mkdirSync(archDir, { recursive: true });
  writeFileAtomic(join(archDir, 'config.json'), JSON.stringify({ ...toHfJson(cfg), architectures: ['ViTMAEForPreTraining'] }, null, 2) + '\n');
  if (preprocessorJson !== undefined) writeFileAtomic(join(archDir, 'preprocessor_config.json'), JSON.stringify(preprocessorJson, null, 2) + '\n');
  const modelOut = join(dir, 'model');
  const logPath = join(modelOut, 'train-log.jsonl');
  const resume = existsSync(join(modelOut, 'checkpoint.safetensors'));
  say(`${row.label}: ${resume ? 'going on with' : 'pretraining'} ${modelOut}`);
  await runPretrain({
    config: archDir, data: `fashion-mnist:train:0-${budget.train_images - 1}`, out: modelOut, epochs: budget.epochs, batch: budget.batch, accum: 1,
    blr: budget.blr, minLr: 0, warmupEpochs: budget.warmup_epochs, weightDecay: 0.05, maskRatio: s.mask_ratio, masking: s.masking,
    loss: s.loss_on, normPix: s.target === 'norm_pix', encoderMaskTokens: s.encoder_mask_tokens, seed: budget.seed, threads: a.threads,
    resume, fashionMnistDir: a.fashionMnistDir, cacheDir: a.cacheDir,
  }, say, warn);
  if (stopped()) return undefined;
  const steps = readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { iter: number; seconds: number; images_per_s: number });
  const last = steps[steps.length - 1]!;

  // The objectives on the test images, with the trained weights (one trainer per number of kept patches).
  const { grid } = shapesOf(cfg);
  const keepOwn = keptPatches(s.masking, grid, s.mask_ratio);
  const keepPlain = keptPatches(PLAIN.masking, grid, PLAIN.maskRatio);
  const variant = { encoderMaskTokens: s.encoder_mask_tokens };
  const L = grid * grid;
  const lengths = [...new Set([...defaultEncoderLengths(cfg), 1 + keepOwn, 1 + keepPlain, ...(variant.encoderMaskTokens ? [1 + L] : [])])];
  const kernels = await compileTrainingKernels(cfg, lengths, a.cacheDir, chooseSimd('simd128'), a.threads > 1);
  const weights = readWholeWeights(join(modelOut, 'model.safetensors'), cfg);
  const objective = async (keep: number, o: Parameters<typeof heldOutObjective>[2]): Promise<number> => {
    const trainer = await WasmTrainer.create({
      config: cfg, weights, kernels, batch: EVALUATION_BATCH, keep, threads: a.threads, startWorkers: startNodeWorkers, variant,
      encoderMaskToken: variant.encoderMaskTokens ? encoderMaskTokenOf(modelOut) : undefined,
    });
    try {
      return await heldOutObjective(trainer, testImages, o);
    } finally {
      trainer.dispose();
    }
  };
  const testLoss = await objective(keepOwn, { batch: EVALUATION_BATCH, maskRatio: s.mask_ratio, masking: s.masking, lossOn: s.loss_on, normPix: s.target === 'norm_pix', seed: budget.seed });
  // A row that trains the plain objective has already been scored on it (same masks, same weights).
  const isPlain = s.mask_ratio === PLAIN.maskRatio && s.masking === PLAIN.masking && s.loss_on === PLAIN.lossOn && (s.target === 'norm_pix') === PLAIN.normPix;
  const plainLoss = isPlain ? testLoss : await objective(keepPlain, { batch: EVALUATION_BATCH, ...PLAIN, seed: budget.seed });
  say(`test loss ${testLoss.toFixed(4)} (its objective), ${plainLoss.toFixed(4)} (plain: mask 0.75 random, removed patches, pixels)`);
  if (stopped()) return undefined;

  const probePath = join(dir, 'probe.json');
  await runProbe({
    model: modelOut, data: 'fashion-mnist', pool: 'mean', l2: budget.probe_l2, out: probePath, threads: a.threads, seed: budget.seed,
    trainLimit: budget.probe_train_images < FASHION_MNIST_TRAIN ? budget.probe_train_images : undefined,
    testLimit: budget.test_images < FASHION_MNIST_TEST ? budget.test_images : undefined,
    maxIter: budget.probe_max_iter, fashionMnistDir: a.fashionMnistDir,
  }, say, warn);
  const probe = JSON.parse(readFileSync(probePath, 'utf8')) as { test_accuracy: number; l2: number };
  return {
    name: row.name, label: row.label, group: row.group, ...s, decoder_depth: cfg.decoderNumHiddenLayers, epochs: budget.epochs, steps: last.iter,
    test_loss: testLoss, plain_test_loss: plainLoss, probe_accuracy: probe.test_accuracy, probe_l2: probe.l2,
    train_seconds: last.seconds, images_per_s: median(steps.map((l) => l.images_per_s)), paper: row.paper,
  };
}

/** The encoder's mask token as trained: the checkpoint keeps it (model.safetensors, in Hugging Face's names, has no place for it). */
function encoderMaskTokenOf(modelOut: string): Float32Array {
  const path = join(modelOut, 'checkpoint.safetensors');
  const file = SafetensorsFile.parse(readBytes(path, 'checkpoint', MAX_TRAINING_WEIGHTS_BYTES), path);
  return file.f32(ENCODER_MASK_TOKEN);
}

function writeSummary(out: string, budget: Budget, log: (line: string) => void): void {
  const rowsDir = join(out, 'rows');
  const results: AblationResult[] = selectRows(undefined)
    .map((r) => join(rowsDir, r.name, 'result.json'))
    .filter((p) => existsSync(p))
    .map((p) => JSON.parse(readFileSync(p, 'utf8')) as AblationResult);
  writeFileAtomic(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileAtomic(join(out, 'results.md'), ablationMarkdown(results, budget));
  const chart = ablationChart(results);
  writeFileAtomic(join(out, 'ablation.png'), encodePng(chart.pixels, chart.width, chart.height, 3));
  log(`ablate: ${results.length} rows → ${join(out, 'results.json')}, results.md, ablation.png`);
}
