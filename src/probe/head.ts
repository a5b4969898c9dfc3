/**
 * A trained linear-probe head: the standardisation (mean, std of the fitting set's features), the
 * logistic regression's W [K, D] and b [K], the class names and the pooling the features used.
 * Stored as safetensors (F32 tensors `mean`, `std`, `weight`, `bias`) with the JSON description in
 * the metadata field `probe`. Platform-neutral: bytes in, bytes out.
 */
import { InputError } from '../errors.js';
import type { Pooling } from '../jobs/embed.js';
import { SafetensorsFile, encodeSafetensors } from '../safetensors.js';

export const PROBE_HEAD_FORMAT = 'edge-mae-probe-head';
/** The file name `classify`, the handler's Node helpers and `probe` use inside a model folder. */
export const PROBE_HEAD_FILE = 'probe-head.safetensors';

export interface ProbeHead {
  classes: string[];
  pool: Pooling;
  /** Feature width D (the encoder's hidden size). */
  dim: number;
  /** [D] feature means and standard deviations (population, of the fitting set; 1 where a feature is constant). */
  mean: Float32Array;
  std: Float32Array;
  /** [K, D] row-major. */
  weight: Float32Array;
  /** [K]. */
  bias: Float32Array;
  /** Anything else recorded with the head (L2, accuracies, the data): JSON. */
  info: Record<string, unknown>;
}

export interface ClassScore {
  label: string;
  index: number;
  probability: number;
}

const MAX_CLASSES = 100_000;

/** Checks a head's shapes and values; `source` names it in the one-line error. */
export function checkProbeHead(h: ProbeHead, source = 'probe head'): ProbeHead {
  const fail = (why: string): never => { throw new InputError(`${source}: ${why}`); };
  if (!Array.isArray(h.classes) || h.classes.length < 2 || h.classes.length > MAX_CLASSES || !h.classes.every((c) => typeof c === 'string')) {
    fail(`'classes' must be a list of 2 to ${MAX_CLASSES} names`);
  }
  if (new Set(h.classes).size !== h.classes.length) fail('class names must be distinct');
  if (h.pool !== 'mean' && h.pool !== 'cls') fail(`'pool' must be mean or cls, got ${JSON.stringify(h.pool)}`);
  if (!Number.isInteger(h.dim) || h.dim < 1) fail(`'dim' must be a positive integer, got ${JSON.stringify(h.dim)}`);
  const K = h.classes.length;
  const D = h.dim;
  for (const [name, arr, n] of [['mean', h.mean, D], ['std', h.std, D], ['weight', h.weight, K * D], ['bias', h.bias, K]] as const) {
    if (!(arr instanceof Float32Array) || arr.length !== n) fail(`tensor '${name}' must hold ${n} float32 values (${K} classes, dim ${D}), got ${arr?.length}`);
    for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i]!)) fail(`tensor '${name}' holds a non-finite value at ${i}`);
  }
  for (let i = 0; i < D; i++) if (!(h.std[i]! > 0)) fail(`tensor 'std' must be positive, got ${h.std[i]} at ${i}`);
  return h;
}

/** The head as safetensors bytes. */
export function encodeProbeHead(h: ProbeHead): Uint8Array {
  checkProbeHead(h);
  const K = h.classes.length;
  const D = h.dim;
  const probe = { ...h.info, format: PROBE_HEAD_FORMAT, version: 1, classes: h.classes, pool: h.pool, dim: D };
  return encodeSafetensors(
    {
      mean: { dtype: 'F32', shape: [D], data: h.mean },
      std: { dtype: 'F32', shape: [D], data: h.std },
      weight: { dtype: 'F32', shape: [K, D], data: h.weight },
      bias: { dtype: 'F32', shape: [K], data: h.bias },
    },
    { format: PROBE_HEAD_FORMAT, probe: JSON.stringify(probe) },
  );
}

/** Reads a head written by encodeProbeHead; a malformed one is an error naming `source`. */
export function parseProbeHead(bytes: Uint8Array, source = 'probe head'): ProbeHead {
  const file = SafetensorsFile.parse(bytes, source);
  const fail = (why: string): never => { throw new InputError(`${source}: ${why}`); };
  if (file.metadata.format !== PROBE_HEAD_FORMAT || typeof file.metadata.probe !== 'string') {
    fail(`not a probe head (no '${PROBE_HEAD_FORMAT}' metadata; write one with edge-mae probe)`);
  }
  let info: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(file.metadata.probe!);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    info = parsed as Record<string, unknown>;
  } catch (e) {
    fail(`metadata 'probe' is not a JSON object (${(e as Error).message})`);
  }
  for (const name of ['mean', 'std', 'weight', 'bias']) if (!file.has(name)) fail(`no tensor '${name}'`);
  const { classes, pool, dim, format: _f, version: _v, ...rest } = info;
  const head: ProbeHead = {
    classes: classes as string[],
    pool: pool as Pooling,
    dim: dim as number,
    mean: file.f32('mean'),
    std: file.f32('std'),
    weight: file.f32('weight'),
    bias: file.f32('bias'),
    info: rest,
  };
  const wShape = file.info('weight').shape;
  if (Array.isArray(head.classes) && (wShape.length !== 2 || wShape[0] !== head.classes.length || wShape[1] !== head.dim)) {
    fail(`tensor 'weight' has shape [${wShape.join(', ')}], expected [${head.classes.length}, ${head.dim}]`);
  }
  return checkProbeHead(head, source);
}

/** Class probabilities [N, K] (float64) of features [N, D]: standardise, W x + b, softmax. */
export function probeProbabilities(h: ProbeHead, features: Float32Array, n: number): Float64Array {
  const D = h.dim;
  const K = h.classes.length;
  if (features.length !== n * D) throw new InputError(`probe head: ${features.length} feature values for ${n} image(s) of dim ${D}`);
  const out = new Float64Array(n * K);
  const x = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < D; j++) x[j] = (features[i * D + j]! - h.mean[j]!) / h.std[j]!;
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = h.bias[k]!;
      const wo = k * D;
      for (let j = 0; j < D; j++) s += h.weight[wo + j]! * x[j]!;
      out[i * K + k] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.exp(out[i * K + k]! - max);
      out[i * K + k] = e;
      sum += e;
    }
    for (let k = 0; k < K; k++) out[i * K + k] /= sum;
  }
  return out;
}

/** The predicted class of each row (argmax of the probabilities; the lowest index on ties). */
export function probePredictions(h: ProbeHead, features: Float32Array, n: number): Int32Array {
  const p = probeProbabilities(h, features, n);
  const K = h.classes.length;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (p[i * K + k]! > p[i * K + best]!) best = k;
    out[i] = best;
  }
  return out;
}

/** The k most probable classes of row `row`, most probable first (ties: lower index first). */
export function topClasses(h: ProbeHead, probabilities: Float64Array, row: number, k: number): ClassScore[] {
  const K = h.classes.length;
  const order = Array.from({ length: K }, (_, i) => i).sort((a, b) => probabilities[row * K + b]! - probabilities[row * K + a]! || a - b);
  return order.slice(0, Math.max(1, Math.min(k, K))).map((index) => ({ label: h.classes[index]!, index, probability: probabilities[row * K + index]! }));
}
