/**
 * The files every engine loads vit-mae-base from, made once and kept in a cache folder
 * ($EDGE_MAE_BENCH_CACHE, default <tmp>/edge-mae-bench):
 * - a Hugging Face model folder (config.json + model.safetensors) with the random weights of
 *   randomWeights(vit-mae-base, seed) — what edge-mae loads, and what the tfjs model reads;
 * - the ONNX models built from those same weights (forward at the config's mask ratio, encoder on
 *   all patches) — what onnxruntime-web loads.
 * ONNX files carry a digest of onnx-graph.js in their name, so a changed graph is rebuilt.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MaeConfig, lenKeep, preset, shapesOf, toHfJson } from '../src/config.js';
import { SafetensorsFile, encodeSafetensors } from '../src/safetensors.js';
import { type MaeWeights, loadWeights } from '../src/weights.js';
import { randomWeights, toHfTensors } from '../test/reference/mae-reference.js';
import { maeModel } from './onnx-graph.js';
import { log } from './timing.js';
import { writeFileAtomic } from '../src/node/atomic-write.js';

export const BASE = 'vit-mae-base';
export const WEIGHT_SEED = 1;

export function benchCacheDir(): string {
  return process.env.EDGE_MAE_BENCH_CACHE ?? join(tmpdir(), 'edge-mae-bench');
}

export interface BaseAssets {
  /** Model folder: config.json + model.safetensors. */
  dir: string;
  weightsPath: string;
  /** ONNX forward model (keep = the config's), and encoder on all patches. */
  onnxForward: string;
  onnxEncoder: string;
  keep: number;
}

function graphDigest(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return createHash('sha256').update(readFileSync(join(here, 'onnx-graph.js'))).digest('hex').slice(0, 10);
}

/** Paths of the base assets (not checking they exist). */
export function baseAssetPaths(): BaseAssets {
  const cfg = preset(BASE);
  const dir = join(benchCacheDir(), `${BASE}-seed${WEIGHT_SEED}`);
  const keep = lenKeep(shapesOf(cfg).numPatches, cfg.maskRatio);
  const g = graphDigest();
  return {
    dir,
    weightsPath: join(dir, 'model.safetensors'),
    onnxForward: join(dir, `forward-k${keep}-${g}.onnx`),
    onnxEncoder: join(dir, `encoder-all-${g}.onnx`),
    keep,
  };
}

/** Reads the base weights back from the model folder (as the engines do). */
export function readBaseWeights(a: BaseAssets = baseAssetPaths()): { cfg: MaeConfig; weights: MaeWeights } {
  const cfg = preset(BASE);
  return { cfg, weights: loadWeights(SafetensorsFile.parse(new Uint8Array(readFileSync(a.weightsPath)), a.weightsPath), cfg) };
}

/** Makes whatever is missing (random weights: ~20 s; ONNX files: a few s each). */
export function ensureBaseAssets(): BaseAssets {
  const a = baseAssetPaths();
  const cfg = preset(BASE);
  mkdirSync(a.dir, { recursive: true });
  if (!existsSync(a.weightsPath) || !existsSync(join(a.dir, 'config.json'))) {
    log(`making ${BASE} random weights (seed ${WEIGHT_SEED}) in ${a.dir} …`);
    const w = randomWeights(cfg, WEIGHT_SEED);
    writeFileAtomic(join(a.dir, 'config.json'), JSON.stringify(toHfJson(cfg), null, 2) + '\n');
    writeFileAtomic(a.weightsPath, encodeSafetensors(toHfTensors(cfg, w), { format: 'pt', note: `edge-mae bench: randomWeights(${BASE}, ${WEIGHT_SEED})` }));
  }
  // ONNX files of an older graph builder: not needed any more (each is hundreds of MB).
  for (const f of readdirSync(a.dir)) {
    if (f.endsWith('.onnx') && join(a.dir, f) !== a.onnxForward && join(a.dir, f) !== a.onnxEncoder) rmSync(join(a.dir, f));
  }
  if (!existsSync(a.onnxForward) || !existsSync(a.onnxEncoder)) {
    const { weights } = readBaseWeights(a);
    if (!existsSync(a.onnxForward)) {
      log(`building the ONNX forward graph (keep ${a.keep}) …`);
      writeFileAtomic(a.onnxForward, maeModel(cfg, weights, { keep: a.keep }));
    }
    if (!existsSync(a.onnxEncoder)) {
      log('building the ONNX encoder graph (all patches) …');
      writeFileAtomic(a.onnxEncoder, maeModel(cfg, weights, { keep: shapesOf(cfg).numPatches, encoderOnly: true }));
    }
  }
  return a;
}
