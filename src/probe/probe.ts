/**
 * The linear-probe protocol on pooled encoder features (platform-neutral; the features come from
 * src/jobs/embed.ts, the data from the Node loaders or the caller):
 *
 * - standardise each feature with the fitting set's mean and (population) std;
 * - multinomial logistic regression, mean cross-entropy + L2/2·‖W‖² (bias unpenalised), full-batch
 *   L-BFGS from zeros, at most maxIter iterations (src/probe/logistic.ts);
 * - `l2: 'auto'`: fit on the training set less the held-out rows for each L2 of the grid, pick the
 *   L2 with the best held-out accuracy (ties: the larger L2), then refit on the whole training set;
 * - test accuracy and confusion matrix of the refitted head (rounded to float32 as saved).
 */
import type { Pooling } from '../jobs/embed.js';
import { UsageError } from '../errors.js';
import { type LogisticFit, fitLogistic, predictLogistic } from './logistic.js';
import { type ProbeHead, probePredictions } from './head.js';

/** The reference protocol's grid (the bundled model's README). */
export const DEFAULT_L2_GRID = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1];
export const DEFAULT_MAX_ITER = 1000;

export interface ProbeSet {
  /** [n, dim] pooled features. */
  features: Float32Array;
  /** [n] class indices. */
  labels: Int32Array;
  n: number;
}

export interface ProbeInput {
  classes: string[];
  dim: number;
  pool: Pooling;
  train: ProbeSet;
  test: ProbeSet;
  /** Rows of `train` held out to choose L2 (needed for l2 'auto'). */
  validation?: Int32Array;
}

export interface ProbeOptions {
  l2: 'auto' | number;
  grid?: number[];
  maxIter?: number;
  /** Progress: each fit as it ends. */
  onFit?: (fit: FitSummary, stage: 'validation' | 'final') => void;
  /** Wall clock in ms (default performance.now / Date.now). */
  now?: () => number;
}

export interface FitSummary {
  l2: number;
  objective: number;
  grad_inf: number;
  iterations: number;
  evaluations: number;
  stop: string;
  seconds: number;
  /** Held-out accuracy (validation fits). */
  val_accuracy?: number;
}

export interface ProbeReport {
  pool: Pooling;
  dim: number;
  classes: string[];
  n_train: number;
  n_test: number;
  l2_mode: 'auto' | 'fixed';
  l2: number;
  /** Held-out accuracy per L2 of the grid, keyed as Python prints the floats (1e-06, 0.001). */
  val_accuracy_by_l2?: Record<string, number>;
  n_fit?: number;
  n_val?: number;
  val_fits?: FitSummary[];
  final_fit: FitSummary;
  train_accuracy: number;
  test_accuracy: number;
  /** confusion_matrix[true][predicted], counts over the test set. */
  confusion_matrix: number[][];
  per_class_test_accuracy: Record<string, number>;
}

export interface ProbeResult {
  head: ProbeHead;
  report: ProbeReport;
  /** The head's prediction for each test row. */
  testPredictions: Int32Array;
}

/** An L2 value as Python's repr writes the float (the reference's JSON keys): 1e-06, 0.0001, 0.1. */
export function l2Key(v: number): string {
  if (v !== 0 && (Math.abs(v) < 1e-4 || Math.abs(v) >= 1e16)) {
    const [m, e] = v.toExponential().split('e') as [string, string];
    const sign = e.startsWith('-') ? '-' : '+';
    const digits = e.replace(/^[+-]/, '').padStart(2, '0');
    return `${m}e${sign}${digits}`;
  }
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

interface Standardisation { mean: Float32Array; std: Float32Array }

/** Per-feature mean and population std over `rows` of X [n, D], rounded to float32 (as the head stores them); std 1 for a constant feature. */
export function standardisation(X: Float32Array, dim: number, rows: ArrayLike<number>): Standardisation {
  const m = rows.length;
  const sum = new Float64Array(dim);
  for (let r = 0; r < m; r++) {
    const o = rows[r]! * dim;
    for (let j = 0; j < dim; j++) sum[j] += X[o + j]!;
  }
  const mean = new Float64Array(dim);
  for (let j = 0; j < dim; j++) mean[j] = sum[j]! / m;
  const ss = new Float64Array(dim);
  for (let r = 0; r < m; r++) {
    const o = rows[r]! * dim;
    for (let j = 0; j < dim; j++) {
      const d = X[o + j]! - mean[j]!;
      ss[j] += d * d;
    }
  }
  const std = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    const s = Math.fround(Math.sqrt(ss[j]! / m));
    std[j] = s > 0 && Number.isFinite(s) ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/** Rows of X standardised into a new float64 [rows.length, D] array. */
export function standardise(X: Float32Array, dim: number, rows: ArrayLike<number>, s: Standardisation): Float64Array {
  const out = new Float64Array(rows.length * dim);
  for (let r = 0; r < rows.length; r++) {
    const o = rows[r]! * dim;
    for (let j = 0; j < dim; j++) out[r * dim + j] = (X[o + j]! - s.mean[j]!) / s.std[j]!;
  }
  return out;
}

const allRows = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
const pick = (labels: Int32Array, rows: ArrayLike<number>): Int32Array => Int32Array.from({ length: rows.length }, (_, i) => labels[rows[i]!]!);

function accuracy(pred: Int32Array, labels: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
  return pred.length === 0 ? Number.NaN : ok / pred.length;
}

function summary(fit: LogisticFit, seconds: number): FitSummary {
  return { l2: fit.l2, objective: fit.objective, grad_inf: fit.gradInf, iterations: fit.iterations, evaluations: fit.evaluations, stop: fit.stop, seconds };
}

function checkInput(input: ProbeInput, opts: ProbeOptions): void {
  const K = input.classes.length;
  if (K < 2) throw new UsageError(`linear probe: at least 2 classes are needed, got ${K}`);
  for (const [name, set] of [['train', input.train], ['test', input.test]] as const) {
    if (set.features.length !== set.n * input.dim || set.labels.length !== set.n) throw new UsageError(`linear probe: ${name} set has ${set.features.length} feature values and ${set.labels.length} labels for ${set.n} rows of dim ${input.dim}`);
    for (const y of set.labels) if (!(y >= 0 && y < K)) throw new UsageError(`linear probe: ${name} label ${y} is not a class (0…${K - 1})`);
  }
  if (input.train.n < 2) throw new UsageError(`linear probe: the training set has ${input.train.n} image(s); at least 2 are needed`);
  if (input.test.n < 1) throw new UsageError('linear probe: the test set is empty');
  if (opts.l2 === 'auto') {
    const v = input.validation;
    if (!v || v.length === 0) throw new UsageError('linear probe: --l2 auto needs held-out training images, and there are none (too few images per class); give --l2 VALUE');
    if (v.length >= input.train.n) throw new UsageError('linear probe: every training image is held out; none is left to fit');
    for (const r of v) if (!(r >= 0 && r < input.train.n)) throw new UsageError(`linear probe: held-out row ${r} is not a training row`);
  } else if (!(opts.l2 >= 0) || !Number.isFinite(opts.l2)) {
    throw new UsageError(`linear probe: L2 must be a finite number ≥ 0, got ${opts.l2}`);
  }
}

export function runLinearProbe(input: ProbeInput, opts: ProbeOptions): ProbeResult {
  checkInput(input, opts);
  const now = opts.now ?? (() => (typeof performance !== 'undefined' ? performance.now() : Date.now()));
  const { dim: D, classes } = input;
  const K = classes.length;
  const grid = opts.grid ?? DEFAULT_L2_GRID;
  const maxIter = opts.maxIter ?? DEFAULT_MAX_ITER;
  const train = input.train;

  let l2: number;
  let valFits: FitSummary[] | undefined;
  let nFit: number | undefined;
  if (opts.l2 === 'auto') {
    const held = new Uint8Array(train.n);
    for (const r of input.validation!) held[r] = 1;
    const fitRows = allRows(train.n).filter((r) => !held[r]);
    const valRows = input.validation!;
    nFit = fitRows.length;
    const s = standardisation(train.features, D, fitRows);
    const Xfit = standardise(train.features, D, fitRows, s);
    const yfit = pick(train.labels, fitRows);
    const Xval = standardise(train.features, D, valRows, s);
    const yval = pick(train.labels, valRows);
    valFits = [];
    for (const v of grid) {
      const t0 = now();
      const fit = fitLogistic({ X: Xfit, labels: yfit, n: fitRows.length, dim: D, classes: K }, v, { maxIter });
      const sum = summary(fit, (now() - t0) / 1000);
      sum.val_accuracy = accuracy(predictLogistic(fit.weight, fit.bias, Xval, valRows.length, D), yval);
      valFits.push(sum);
      opts.onFit?.(sum, 'validation');
    }
    // Best held-out accuracy; ties go to the larger L2 (the reference's rule).
    let best = valFits[0]!;
    for (const f of valFits) if (f.val_accuracy! > best.val_accuracy! || (f.val_accuracy === best.val_accuracy && f.l2 > best.l2)) best = f;
    l2 = best.l2;
  } else {
    l2 = opts.l2;
  }

  const rows = allRows(train.n);
  const s = standardisation(train.features, D, rows);
  const t0 = now();
  const fit = fitLogistic({ X: standardise(train.features, D, rows, s), labels: train.labels, n: train.n, dim: D, classes: K }, l2, { maxIter });
  const finalFit = summary(fit, (now() - t0) / 1000);
  opts.onFit?.(finalFit, 'final');
  const head: ProbeHead = {
    classes: [...classes],
    pool: input.pool,
    dim: D,
    mean: s.mean,
    std: s.std,
    weight: Float32Array.from(fit.weight),
    bias: Float32Array.from(fit.bias),
    info: { l2 },
  };
  const trainPred = probePredictions(head, train.features, train.n);
  const testPred = probePredictions(head, input.test.features, input.test.n);
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let i = 0; i < input.test.n; i++) confusion[input.test.labels[i]!]![testPred[i]!]!++;
  const perClass: Record<string, number> = {};
  classes.forEach((c, k) => {
    const total = confusion[k]!.reduce((a, b) => a + b, 0);
    if (total > 0) perClass[c] = confusion[k]![k]! / total;
  });
  const report: ProbeReport = {
    pool: input.pool,
    dim: D,
    classes: [...classes],
    n_train: train.n,
    n_test: input.test.n,
    l2_mode: opts.l2 === 'auto' ? 'auto' : 'fixed',
    l2,
    ...(valFits ? {
      val_accuracy_by_l2: Object.fromEntries(valFits.map((f) => [l2Key(f.l2), f.val_accuracy!])),
      n_fit: nFit,
      n_val: input.validation!.length,
      val_fits: valFits,
    } : {}),
    final_fit: finalFit,
    train_accuracy: accuracy(trainPred, train.labels),
    test_accuracy: accuracy(testPred, input.test.labels),
    confusion_matrix: confusion,
    per_class_test_accuracy: perClass,
  };
  head.info = { l2, test_accuracy: report.test_accuracy, train_accuracy: report.train_accuracy, n_train: train.n };
  return { head, report, testPredictions: testPred };
}
