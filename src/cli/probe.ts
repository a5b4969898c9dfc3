/**
 * `edge-mae probe`: the linear-probe protocol of the bundled model's README on a model's pooled
 * encoder features (src/probe/probe.ts), on Fashion-MNIST or a folder of class subfolders; writes
 * a JSON report and the trained head. `edge-mae classify`: a head's top-k classes for images.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileError, UsageError } from '../errors.js';
import { embed, type Pooling } from '../jobs/embed.js';
import { checkOutputPath, writeFileAtomic } from '../node/atomic-write.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';
import { readConfig } from '../node/load.js';
import { type LabelledItems, type ProbeDataset, classFolderProbeData, fashionMnistProbeData } from '../node/probe-data.js';
import { loadProbeHead } from '../node/probe-head.js';
import type { MaeModel } from '../model.js';
import { PROBE_HEAD_FILE, encodeProbeHead, probeProbabilities, topClasses } from '../probe/head.js';
import { checkHeadFitsModel } from '../probe/classify.js';
import { DEFAULT_L2_GRID, type ProbeSet, l2Key, runLinearProbe } from '../probe/probe.js';
import { stratifiedSplit } from '../probe/split.js';
import { type ModelArgs, loadModel } from './model-args.js';
import { type ImageSourceArgs, imageItems } from './image-sources.js';
import { DEFAULT_IMAGE_BATCH, SkippedImages, pixelBatches } from './image-batches.js';
import { progress } from './progress.js';

/** The share of the training set held out to choose L2: 5,000 of Fashion-MNIST's 60,000 (500 per class). */
export const VALIDATION_FRACTION = 1 / 12;

export interface ProbeArgs extends ModelArgs {
  /** 'fashion-mnist' or a folder of class subfolders. */
  data: string;
  pool?: Pooling;
  l2?: 'auto' | number;
  out?: string;
  head?: string;
  seed?: number;
  testFraction?: number;
  trainLimit?: number;
  testLimit?: number;
  maxIter?: number;
  fashionMnistDir?: string;
  /** The command line, for the report. */
  argv?: string[];
}

/** The head's default path: beside --out (report.json → report.head.safetensors), else DIR/probe-head.safetensors. */
export function defaultHeadPath(modelDir: string, out?: string): string {
  if (out) return join(dirname(out), `${basename(out).replace(/\.json$/i, '')}.head.safetensors`);
  return join(modelDir, PROBE_HEAD_FILE);
}

/** Fails now, not after the fits, when an output cannot be written. */
function checkWritable(path: string, flag: string): void {
  checkOutputPath(path);
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch {
    throw new FileError(`cannot write '${path}' (${flag}): permission denied in its folder`);
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Pooled features of labelled images; unreadable images are reported and left out (with their labels). */
async function features(model: MaeModel, set: LabelledItems, pool: Pooling, label: string, warn: (line: string) => void): Promise<ProbeSet & { names: string[] }> {
  const D = model.config.hiddenSize;
  const index = new Map(set.items.map((it, i) => [it.name, i]));
  const bar = progress(`features (${label})`, set.items.length);
  const skipped = new SkippedImages(warn);
  const chunks: Float32Array[] = [];
  const names: string[] = [];
  const labels: number[] = [];
  for (const b of pixelBatches(set.items, model, model.maxBatch, (why) => { skipped.skip(why); bar.tick(1); })) {
    skipped.loadedSome();
    chunks.push(await embed(model, b.pixels, { batch: b.batch, pool }));
    for (const name of b.names) { names.push(name); labels.push(set.labels[index.get(name)!]!); }
    bar.tick(b.batch);
  }
  bar.stop();
  skipped.check();
  const out = new Float32Array(names.length * D);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return { features: out, labels: Int32Array.from(labels), n: names.length, names };
}

const pct = (v: number): string => (100 * v).toFixed(2) + ' %';

export async function runProbe(a: ProbeArgs, log: (line: string) => void, warn: (line: string) => void): Promise<void> {
  const started = Date.now();
  const modelDir = a.model ?? DEFAULT_MODEL_DIR;
  const pool = a.pool ?? 'mean';
  const l2 = a.l2 ?? 'auto';
  const seed = a.seed ?? 0;
  const testFraction = a.testFraction ?? 0.2;
  const isFashionMnist = a.data === 'fashion-mnist';
  if (!isFashionMnist && (a.trainLimit !== undefined || a.testLimit !== undefined)) {
    throw new UsageError('--train-limit and --test-limit apply to --data fashion-mnist only');
  }
  if (a.out !== undefined) checkWritable(a.out, '--out');
  const headPath = a.head ?? defaultHeadPath(modelDir, a.out);
  if (a.out !== undefined && headPath === a.out) throw new UsageError('--head and --out name the same file');
  checkWritable(headPath, '--head');

  const data: ProbeDataset = isFashionMnist
    ? fashionMnistProbeData(a.fashionMnistDir ?? '/usr/share/datasets/fashion-mnist', { trainLimit: a.trainLimit, testLimit: a.testLimit })
    : classFolderProbeData(a.data, { testFraction, seed });
  if (data.train.items.length < 2) throw new UsageError(`--data '${a.data}': ${data.train.items.length} training image(s); at least 2 are needed`);
  if (data.test.items.length < 1) throw new UsageError(`--data '${a.data}': no test images`);

  const model = await loadModel({ ...a, model: a.model ?? (a.config && a.weights ? undefined : DEFAULT_MODEL_DIR), batch: a.batch ?? DEFAULT_IMAGE_BATCH });
  let featureSeconds: number;
  let train: ProbeSet & { names: string[] };
  let test: ProbeSet & { names: string[] };
  const backend = model.backendDescription;
  try {
    log(`probe: ${data.train.items.length} training and ${data.test.items.length} test images, ${pool}-pooled features (${backend})`);
    const t0 = Date.now();
    train = await features(model, data.train, pool, 'train', warn);
    test = await features(model, data.test, pool, 'test', warn);
    featureSeconds = (Date.now() - t0) / 1000;
  } finally {
    model.dispose();
  }
  log(`probe: features in ${featureSeconds.toFixed(1)} s`);

  const K = data.classes.length;
  const validation = l2 === 'auto' ? stratifiedSplit(train.labels, K, VALIDATION_FRACTION, seed).held : undefined;
  if (l2 === 'auto') log(`probe: L2 from ${DEFAULT_L2_GRID.map(l2Key).join(', ')} by accuracy on ${validation!.length} held-out training images (fit on the other ${train.n - validation!.length})`);
  const t1 = Date.now();
  const result = runLinearProbe(
    { classes: data.classes, dim: model.config.hiddenSize, pool, train, test, validation },
    {
      l2,
      maxIter: a.maxIter,
      onFit: (f, stage) => log(`  ${stage === 'final' ? `refit on all ${train.n}, L2 ${l2Key(f.l2)}` : `L2 ${l2Key(f.l2)}: val accuracy ${f.val_accuracy!.toFixed(4)}`} (${f.iterations} iterations, ${f.stop}, max|grad| ${f.grad_inf.toExponential(1)}, ${f.seconds.toFixed(1)} s)`),
    },
  );
  const fitSeconds = (Date.now() - t1) / 1000;

  const weightsPath = a.weights ?? join(modelDir, 'model.safetensors');
  const weightsSha = statSync(weightsPath, { throwIfNoEntry: false })?.isFile() ? await sha256File(weightsPath) : undefined;
  const { report, head } = result;
  head.info = { ...head.info, model: modelDir, weights_sha256: weightsSha, data: data.description };
  const full = {
    command: a.argv ? ['edge-mae', ...a.argv].join(' ') : undefined,
    model: modelDir,
    weights: weightsPath,
    weights_sha256: weightsSha,
    backend,
    ...data.description,
    seed,
    validation_split: l2 === 'auto' ? `a seeded stratified 1/12 of each class of the training set (stratifiedSplit, seed ${seed}; Fashion-MNIST: 500 per class, 5,000 of 60,000)` : undefined,
    standardisation: 'per feature: mean and population std (ddof 0) of the fitting set',
    objective: 'mean softmax cross-entropy + L2/2·‖W‖² (bias unpenalised), float64, full-batch L-BFGS (history 20, strong Wolfe) from zeros',
    max_iter: a.maxIter ?? 1000,
    ...report,
    head: headPath,
    seconds: { features: featureSeconds, fits: fitSeconds, total: (Date.now() - started) / 1000 },
    node: process.version,
    date: new Date().toISOString(),
    // Folders: each test image's class and prediction (Fashion-MNIST's are its test set in order).
    test_predictions: isFashionMnist ? undefined : test.names.map((image, i) => ({ image, label: data.classes[test.labels[i]!], predicted: data.classes[result.testPredictions[i]!] })),
  };
  writeFileAtomic(headPath, encodeProbeHead(head));
  if (a.out !== undefined) writeFileAtomic(a.out, JSON.stringify(full, null, 2) + '\n');

  log(`test_accuracy ${report.test_accuracy.toFixed(4)} (${pct(report.test_accuracy)}, ${report.n_test} test images; train ${report.train_accuracy.toFixed(4)})`);
  log(`L2 ${l2Key(report.l2)} (${report.l2_mode})`);
  if (report.val_accuracy_by_l2) log(`val accuracy by L2: ${Object.entries(report.val_accuracy_by_l2).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
  log('confusion matrix (rows: true class, columns: predicted):');
  const w = Math.max(5, ...report.confusion_matrix.flat().map((v) => String(v).length)) + 1;
  const nameW = Math.max(...data.classes.map((c) => c.length));
  log(`${' '.repeat(nameW)} ${data.classes.map((_, k) => String(k).padStart(w)).join('')}`);
  report.confusion_matrix.forEach((row, k) => log(`${data.classes[k]!.padEnd(nameW)} ${row.map((v) => String(v).padStart(w)).join('')}   ${k}`));
  log(`head → ${headPath}${a.out ? `; report → ${a.out}` : ''} (${full.seconds.total.toFixed(1)} s)`);
}

export interface ClassifyArgs extends ImageSourceArgs, Pick<ModelArgs, 'model' | 'threads' | 'device' | 'batch' | 'simd'> {
  head?: string;
  top?: number;
  json?: boolean;
}

export async function runClassify(a: ClassifyArgs, log: (line: string) => void, warn: (line: string) => void): Promise<void> {
  const modelDir = a.model ?? DEFAULT_MODEL_DIR;
  const headPath = a.head ?? join(modelDir, PROBE_HEAD_FILE);
  if (a.head === undefined && !statSync(headPath, { throwIfNoEntry: false })) {
    throw new FileError(`model folder '${modelDir}' has no ${PROBE_HEAD_FILE}: give --head FILE (written by edge-mae probe)`);
  }
  const head = loadProbeHead(headPath);
  checkHeadFitsModel(head, { config: readConfig(join(modelDir, 'config.json')) }, headPath);
  const items = imageItems(a);
  const wanted = head.info.weights_sha256;
  if (typeof wanted === 'string') {
    const weights = join(modelDir, 'model.safetensors');
    if (statSync(weights, { throwIfNoEntry: false })?.isFile() && (await sha256File(weights)) !== wanted) {
      warn(`${headPath} was fitted on other weights (sha256 ${wanted.slice(0, 12)}…) than ${weights}: its predictions may mean nothing`);
    }
  }
  const model = await loadModel({ ...a, model: modelDir, batch: a.batch ?? DEFAULT_IMAGE_BATCH });
  try {
    const skipped = new SkippedImages(warn);
    for (const b of pixelBatches(items, model, model.maxBatch, (why) => skipped.skip(why))) {
      skipped.loadedSome();
      const feats = await embed(model, b.pixels, { batch: b.batch, pool: head.pool });
      const p = probeProbabilities(head, feats, b.batch);
      b.names.forEach((name, i) => {
        const top = topClasses(head, p, i, a.top ?? 5);
        if (a.json) log(JSON.stringify({ image: name, top: top.map((t) => ({ label: t.label, probability: t.probability })) }));
        else log(`${name}: ${top.map((t) => `${t.label} ${t.probability.toFixed(4)}`).join(', ')}`);
      });
    }
    skipped.check();
  } finally {
    model.dispose();
  }
}
