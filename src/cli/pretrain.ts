/**
 * `edge-mae pretrain`: the MAE recipe on the device (src/training/pretrain.ts), from a config
 * (fresh weights as models_mae.py initialises them) or a model folder (`--init`, continued
 * pretraining), into a model folder every other command takes. Each epoch (and on SIGINT or SIGTERM) it
 * writes, each atomically: config.json, model.safetensors, preprocessor_config.json and
 * checkpoint.safetensors (weights, AdamW state, the run's position); train-log.jsonl gets one JSON
 * line per optimizer step. `--resume` goes on from the checkpoint exactly.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MaeConfig, checkMaskRatio, parseConfig, shapesOf, toHfJson } from '../config.js';
import { FileError, InputError, UsageError } from '../errors.js';
import { parsePreprocessorConfig } from '../image/preprocess.js';
import { SafetensorsFile, encodeSafetensors } from '../safetensors.js';
import { loadWeights } from '../weights.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { MAX_TRAINING_WEIGHTS_BYTES, compileTrainingKernels, readConfig, readPreprocessorJson, readWholeWeights } from '../node/load.js';
import { readBytes } from '../node/regular-file.js';
import { loadTrainingImages } from '../node/training-data.js';
import { chooseSimd } from '../simd-support.js';
import { startNodeWorkers } from '../node/threads.js';
import { checkpointMeta, checkpointTensors, modelTensors, restoreCheckpoint } from '../training/checkpoint.js';
import { initialEncoderMaskToken, initialWeights } from '../training/init.js';
import { type MaskingStrategy, keptPatches } from '../training/masking-strategies.js';
import { type PretrainOptions, type PretrainPosition, type StepLog, pretrain, stepsPerEpoch } from '../training/pretrain.js';
import { trainingBatchThatFits } from '../training/layout.js';
import { WasmTrainer } from '../training/trainer.js';
import { defaultEncoderLengths } from '../plan.js';
import cliProgress from 'cli-progress';

export interface PretrainArgs {
  config?: string;
  init?: string;
  data: string;
  out: string;
  epochs: number;
  maxIters?: number;
  batch: number;
  accum: number;
  blr: number;
  minLr: number;
  warmupEpochs: number;
  weightDecay: number;
  maskRatio?: number;
  masking: MaskingStrategy;
  loss: 'removed' | 'all';
  normPix?: boolean;
  encoderMaskTokens?: boolean;
  seed: number;
  threads: number;
  resume?: boolean;
  fashionMnistDir?: string;
  cacheDir?: string;
}

const CHECKPOINT = 'checkpoint.safetensors';
const LOG = 'train-log.jsonl';

export async function runPretrain(a: PretrainArgs, log: (line: string) => void, warn: (line: string) => void): Promise<void> {
  if (!a.config && !a.init && !a.resume) throw new UsageError('pretrain needs --config DIR|FILE|PRESET (fresh weights), --init DIR (continue from a model folder) or --resume');
  if (existsSync(a.out) && !statSync(a.out).isDirectory()) throw new FileError(`--out '${a.out}': exists and is not a folder`);
  const checkpointPath = join(a.out, CHECKPOINT);
  if (a.resume && !existsSync(checkpointPath)) throw new FileError(`--resume: no ${CHECKPOINT} in '${a.out}'`);
  if (!a.resume && existsSync(checkpointPath)) throw new FileError(`--out '${a.out}' holds a run's checkpoint: pass --resume to go on with it, or another folder`);

  // The config: the checkpoint's when resuming, else --init's folder or --config.
  let checkpoint: SafetensorsFile | undefined;
  let cfg: MaeConfig;
  let options: PretrainOptions;
  let position: PretrainPosition = { epoch: 0, batchInEpoch: 0, step: 0, seconds: 0 };
  const source = a.init ?? a.config;
  let preprocessorJson = a.init ? readPreprocessorJson(a.init) : source && existsSync(source) && statSync(source).isDirectory() ? readPreprocessorJson(source) : undefined;
  if (a.resume) {
    checkpoint = SafetensorsFile.parse(readBytes(checkpointPath, 'checkpoint', MAX_TRAINING_WEIGHTS_BYTES), checkpointPath);
    const meta = checkpointMeta(checkpoint, checkpointPath);
    cfg = parseConfig(meta.config, checkpointPath);
    // A resumed run keeps its recipe; only where it stops may change.
    options = { ...meta.options, maxIters: a.maxIters ?? meta.options.maxIters };
    position = meta.position;
    preprocessorJson = existsSync(join(a.out, 'preprocessor_config.json')) ? readPreprocessorJson(a.out) : undefined;
  } else {
    cfg = readConfig(a.init ? join(a.init, 'config.json') : a.config!);
    const maskRatio = a.maskRatio ?? cfg.maskRatio;
    checkMaskRatio(maskRatio);
    const normPix = a.normPix ?? cfg.normPixLoss;
    cfg = { ...cfg, maskRatio, normPixLoss: normPix };
    options = {
      batch: a.batch, accum: a.accum, epochs: a.epochs, maxIters: a.maxIters, blr: a.blr, minLr: a.minLr, warmupEpochs: a.warmupEpochs,
      weightDecay: a.weightDecay, maskRatio, masking: a.masking, lossOn: a.loss, normPix, seed: a.seed, encoderMaskTokens: a.encoderMaskTokens === true,
    };
  }
  const pp = parsePreprocessorConfig(preprocessorJson, cfg.imageSize, cfg.numChannels);
  const images = loadTrainingImages(a.data, cfg, pp, a.fashionMnistDir);
  const { grid, numPatches: L } = shapesOf(cfg);
  const keep = keptPatches(options.masking, grid, options.maskRatio);
  if (keep < 1 || keep > L) throw new InputError(`mask ratio ${options.maskRatio} keeps no patch of ${L}`);
  const variant = { encoderMaskTokens: options.encoderMaskTokens === true };
  // The encoder with mask tokens runs on every patch.
  const fits = trainingBatchThatFits(cfg, options.batch, variant.encoderMaskTokens ? L : keep, {}, a.threads, variant);
  if (fits < options.batch) throw new InputError(`batch ${options.batch} does not fit wasm32's 4 GiB for this model (at most ${fits} images per micro-batch); use --batch ${Math.max(1, fits)} --accum ${Math.ceil(options.batch / Math.max(1, fits))}`);

  const kernels = await compileTrainingKernels(cfg, [...new Set([...defaultEncoderLengths(cfg), 1 + keep])], a.cacheDir, chooseSimd('simd128'), a.threads > 1);
  // A resumed run's weights come from the checkpoint already read (it holds them under model.safetensors names).
  const weights = checkpoint ? loadWeights(checkpoint, cfg) : a.init ? readWholeWeights(join(a.init, 'model.safetensors'), cfg) : initialWeights(cfg, options.seed);
  const trainer = await WasmTrainer.create({ config: cfg, weights, kernels, batch: options.batch, keep, threads: a.threads, startWorkers: startNodeWorkers, variant, encoderMaskToken: variant.encoderMaskTokens ? initialEncoderMaskToken(cfg, options.seed) : undefined });
  if (checkpoint) restoreCheckpoint(trainer, checkpoint, checkpointMeta(checkpoint, checkpointPath), checkpointPath);

  mkdirSync(a.out, { recursive: true });
  const logPath = join(a.out, LOG);
  // The log holds the steps the checkpoint has taken, no more (a run stopped after it logs further).
  const kept = a.resume && existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as StepLog).iter <= position.step) : [];
  writeFileAtomic(logPath, kept.map((l) => l + '\n').join(''));
  const save = (pos: PretrainPosition): void => {
    writeFileAtomic(join(a.out, 'config.json'), JSON.stringify({ ...toHfJson(cfg), architectures: ['ViTMAEForPreTraining'] }, null, 2) + '\n');
    writeFileAtomic(join(a.out, 'model.safetensors'), encodeSafetensors(modelTensors(trainer), { format: 'pt', producer: 'edge-mae pretrain' }));
    if (preprocessorJson !== undefined) writeFileAtomic(join(a.out, 'preprocessor_config.json'), JSON.stringify(preprocessorJson, null, 2) + '\n');
    const c = checkpointTensors(trainer, { position: pos, options, config: toHfJson(cfg) });
    writeFileAtomic(checkpointPath, encodeSafetensors(c.tensors, c.metadata));
  };

  const perEpoch = stepsPerEpoch(images.count, options.batch, options.accum);
  const total = Math.min(options.maxIters ?? Infinity, perEpoch * options.epochs);
  log(`pretrain: ${images.count} images, ${perEpoch} steps/epoch of ${options.batch}×${options.accum}, ${options.epochs} epochs${options.maxIters ? ` (at most ${options.maxIters} steps)` : ''}, mask ${options.maskRatio} ${options.masking} (${keep}/${L} kept), loss on ${options.lossOn} patches${options.normPix ? ', norm-pix target' : ''}${options.encoderMaskTokens ? ', encoder with mask tokens' : ''}, blr ${options.blr}, seed ${options.seed}${a.resume ? `; resumed at step ${position.step}` : ''} (wasm: ${kernels.manifest.simd}, ${a.threads} thread${a.threads > 1 ? 's' : ''}, ${(trainer.layout.pages * 65536 / 2 ** 20).toFixed(0)} MiB memory)`);
  let stop = false;
  // Ctrl-C (SIGINT) or a service manager's SIGTERM: finish the step, write the checkpoint, stop.
  const onSigint = (): void => { stop = true; };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const tty = process.stderr.isTTY;
  const bar = tty ? new cliProgress.SingleBar({ format: 'pretrain [{bar}] {value}/{total} steps | loss {loss} | lr {lr} | {ips} img/s | {eta_formatted} left', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(total, position.step, { loss: '-', lr: '-', ips: '-' });
  let lastLine = 0;
  try {
    const end = await pretrain(trainer, images, options, position, {
      onStep: (s) => {
        writeFileSync(logPath, JSON.stringify({ iter: s.iter, epoch: Number(s.epoch.toFixed(4)), loss: s.loss, lr: s.lr, seconds: Number(s.seconds.toFixed(3)), images_per_s: Number(s.imagesPerS.toFixed(1)) }) + '\n', { flag: 'a' });
        if (bar) bar.update(s.iter, { loss: s.loss.toFixed(4), lr: s.lr.toExponential(2), ips: s.imagesPerS.toFixed(0) });
        else if (s.seconds - lastLine >= 30 || s.iter === total) {
          lastLine = s.seconds;
          log(`step ${s.iter}/${total} epoch ${s.epoch.toFixed(2)} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} ${s.imagesPerS.toFixed(0)} images/s`);
        }
      },
      onEpoch: (e, pos) => {
        save(pos);
        const line = `epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, lr ${e.lr.toExponential(2)}, ${e.seconds.toFixed(0)} s → ${a.out}`;
        if (bar) bar.stop();
        log(line);
        bar?.start(total, pos.step, { loss: e.trainLoss.toFixed(4), lr: e.lr.toExponential(2), ips: '-' });
      },
      shouldStop: () => stop,
      onStop: (pos) => {
        save(pos);
        bar?.stop();
        warn(`stopped at step ${pos.step}: checkpoint written, go on with --resume`);
      },
    });
    bar?.stop();
    if (!stop) {
      save(end);
      log(`pretrain: ${end.step} steps in ${end.seconds.toFixed(0)} s → ${a.out} (config.json, model.safetensors, ${CHECKPOINT}, ${LOG})`);
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    bar?.stop();
    trainer.dispose();
  }
}

export function parseMasking(v: string): MaskingStrategy {
  if (v !== 'random' && v !== 'block' && v !== 'grid') throw new InputError(`--masking must be random, block or grid, got '${v}'`);
  return v;
}
