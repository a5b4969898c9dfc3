/**
 * `edge-mae finetune`: supervised (partial) fine-tuning of a model folder's encoder
 * (src/training/finetune.ts) on labelled images — Fashion-MNIST or a folder of class subfolders —
 * into a new model folder: its weights (the decoder's unchanged), `probe-head.safetensors` (the
 * linear head, which `classify` and the handler's POST /classify take) and `report.json` with the
 * test accuracy and the step time.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { shapesOf, toHfJson } from '../config.js';
import { FileError, UsageError } from '../errors.js';
import { parsePreprocessorConfig, preprocessImage } from '../image/preprocess.js';
import { SafetensorsFile, encodeSafetensors } from '../safetensors.js';
import { loadWeights } from '../weights.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import { compileTrainingKernels, readConfig, readPreprocessorJson, readWholeWeights } from '../node/load.js';
import { readBytes } from '../node/regular-file.js';
import { startNodeWorkers } from '../node/threads.js';
import { DEFAULT_FASHION_MNIST_DIR } from '../node/fashion-mnist.js';
import { type LabelledItems, classFolderProbeData, fashionMnistProbeData } from '../node/probe-data.js';
import { PROBE_HEAD_FILE, encodeProbeHead } from '../probe/head.js';
import { chooseSimd } from '../simd-support.js';
import { modelTensors } from '../training/checkpoint.js';
import { pixelImages } from '../training/data.js';
import { type Pooling, finetune, predict } from '../training/finetune.js';
import { WasmTrainer } from '../training/trainer.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';
import type { MaeConfig } from '../config.js';
import type { PreprocessorConfig } from '../image/preprocess.js';

export interface FinetuneArgs {
  model?: string;
  data: string;
  out: string;
  blocks: number | 'all';
  epochs: number;
  batch: number;
  blr: number;
  minLr: number;
  warmupEpochs: number;
  weightDecay: number;
  layerDecay: number;
  pool: Pooling;
  seed: number;
  threads: number;
  flip: boolean;
  trainImages?: number;
  testImages?: number;
  testFraction: number;
  maxIters?: number;
  fashionMnistDir?: string;
  cacheDir?: string;
}


function pixelsOf(set: LabelledItems, cfg: MaeConfig, pp: PreprocessorConfig) {
  const size = cfg.numChannels * cfg.imageSize ** 2;
  const pixels = new Float32Array(set.items.length * size);
  set.items.forEach((item, i) => pixels.set(preprocessImage(item.load(), pp, cfg.numChannels as 1 | 3), i * size));
  return { images: pixelImages(pixels, cfg.numChannels, cfg.imageSize), labels: set.labels };
}

export async function runFinetune(a: FinetuneArgs, log: (line: string) => void): Promise<void> {
  const model = a.model ?? DEFAULT_MODEL_DIR;
  if (existsSync(a.out) && !statSync(a.out).isDirectory()) throw new FileError(`--out '${a.out}': exists and is not a folder`);
  if (!existsSync(join(model, 'model.safetensors'))) throw new FileError(`--model '${model}': no model.safetensors`);
  const cfg = readConfig(join(model, 'config.json'));
  const blocks = a.blocks === 'all' ? cfg.numHiddenLayers : a.blocks;
  if (blocks > cfg.numHiddenLayers) throw new UsageError(`--blocks ${blocks}: the encoder has ${cfg.numHiddenLayers} blocks`);
  const preprocessorJson = readPreprocessorJson(model);
  const pp = parsePreprocessorConfig(preprocessorJson, cfg.imageSize, cfg.numChannels);
  const data = a.data === 'fashion-mnist'
    ? fashionMnistProbeData(a.fashionMnistDir ?? DEFAULT_FASHION_MNIST_DIR, { trainLimit: a.trainImages, testLimit: a.testImages })
    : classFolderProbeData(a.data, { testFraction: a.testFraction, seed: a.seed });
  const train = pixelsOf(data.train, cfg, pp), test = pixelsOf(data.test, cfg, pp);
  const L = shapesOf(cfg).numPatches;
  const kernels = await compileTrainingKernels(cfg, undefined, a.cacheDir, chooseSimd('simd128'), a.threads > 1);
  const weights = readWholeWeights(join(model, 'model.safetensors'), cfg);
  // The tape holds every patch (no masking in fine-tuning).
  const trainer = await WasmTrainer.create({ config: cfg, weights, kernels, batch: a.batch, keep: L, threads: a.threads, startWorkers: startNodeWorkers });
  try {
    log(`finetune: ${train.images.count} training / ${test.images.count} test images, ${data.classes.length} classes, ${blocks} of ${cfg.numHiddenLayers} blocks open, ${a.epochs} epochs of batch ${a.batch}, blr ${a.blr}, layer decay ${a.layerDecay}, pool ${a.pool} (wasm: ${kernels.manifest.simd}, ${a.threads} thread${a.threads > 1 ? 's' : ''})`);
    let lastLog = 0;
    // CPU time of the process (its kernel threads included): the work per step, whatever else shares the machine.
    const cpu0 = process.cpuUsage();
    const r = await finetune(trainer, train, {
      blocks, classes: data.classes.length, epochs: a.epochs, batch: a.batch, blr: a.blr, minLr: a.minLr, warmupEpochs: a.warmupEpochs,
      weightDecay: a.weightDecay, layerDecay: a.layerDecay, pool: a.pool, seed: a.seed, flip: a.flip, maxIters: a.maxIters,
    }, {
      onStep: (s) => {
        const t = performance.now();
        if (t - lastLog > 30_000) {
          lastLog = t;
          log(`step ${s.step} epoch ${s.epoch.toFixed(2)} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)}`);
        }
      },
    });
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerStep = (cpu.user + cpu.system) / 1000 / Math.max(1, r.steps);
    const predicted = await predict(trainer, test.images, r.head, a.pool);
    let correct = 0;
    for (let i = 0; i < predicted.length; i++) if (predicted[i] === test.labels[i]) correct++;
    const accuracy = correct / predicted.length;
    mkdirSync(a.out, { recursive: true });
    writeFileAtomic(join(a.out, 'config.json'), JSON.stringify({ ...toHfJson(cfg), architectures: ['ViTMAEForPreTraining'] }, null, 2) + '\n');
    writeFileAtomic(join(a.out, 'model.safetensors'), encodeSafetensors(modelTensors(trainer), { format: 'pt', producer: 'edge-mae finetune' }));
    if (preprocessorJson !== undefined) writeFileAtomic(join(a.out, 'preprocessor_config.json'), JSON.stringify(preprocessorJson, null, 2) + '\n');
    const D = cfg.hiddenSize;
    const report = {
      test_accuracy: accuracy, blocks, depth: cfg.numHiddenLayers, epochs: a.epochs, steps: r.steps, batch: a.batch, blr: a.blr, layer_decay: a.layerDecay,
      weight_decay: a.weightDecay, pool: a.pool, seed: a.seed, threads: a.threads, train_seconds: r.seconds, ms_per_step: r.msPerStep, cpu_ms_per_step: cpuMsPerStep, images_per_s: r.imagesPerS,
      data: data.description, model, classes: data.classes,
    };
    writeFileAtomic(join(a.out, PROBE_HEAD_FILE), encodeProbeHead({
      classes: data.classes, pool: a.pool, dim: D, mean: new Float32Array(D), std: new Float32Array(D).fill(1),
      weight: Float32Array.from(r.head.weight), bias: Float32Array.from(r.head.bias), info: { finetune: report },
    }));
    writeFileAtomic(join(a.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    log(`finetune: test accuracy ${accuracy.toFixed(4)} (${correct}/${predicted.length}), ${r.steps} steps in ${r.seconds.toFixed(1)} s (${r.msPerStep.toFixed(0)} ms/step, ${cpuMsPerStep.toFixed(0)} CPU ms/step, ${r.imagesPerS.toFixed(0)} images/s) → ${a.out}`);
  } finally {
    trainer.dispose();
  }
}
