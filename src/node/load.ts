/**
 * Node entry for loading: a Hugging Face model folder (config.json + model.safetensors) or explicit
 * files, kernels generated and compiled for the config (cached by config hash).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type MaeConfig, PRESET_NAMES, parseConfig, preset } from '../config.js';
import { FileError, KernelError, UsageError } from '../errors.js';
import { type SimdVariant, chooseSimd, relaxedSimdSupported } from '../simd-support.js';
import type { LoadOptions, ModelSource } from '../model.js';
import { SafetensorsFile } from '../safetensors.js';
import { type MaeWeights, loadWeights } from '../weights.js';
import type { KernelModule } from '../backend/wasm.js';
import { buildKernels } from '../../codegen/compile.js';
import { defaultEncoderLengths } from '../plan.js';
import { startNodeWorkers } from './threads.js';
import { openFileSource } from './file-source.js';
import { prefaultMemory } from './prefault.js';
import { readBytes } from './regular-file.js';

/** JSON files (config.json, preprocessor_config.json) are small: anything larger is refused unread. */
export const MAX_JSON_BYTES = 2 ** 20;

/** A weights file read whole for training: wasm32 could not train a larger model anyway. */
export const MAX_TRAINING_WEIGHTS_BYTES = 2 ** 32 - 1;

/** Plain (not lazy) weights of a file, read whole: what a trainer keeps and updates. */
export function readWholeWeights(path: string, config: MaeConfig): MaeWeights {
  return loadWeights(SafetensorsFile.parse(readBytes(path, 'weights', MAX_TRAINING_WEIGHTS_BYTES), path), config);
}

/** A config from a file path, a model folder, or a preset name. */
export function readConfig(pathOrPreset: string): MaeConfig {
  if (PRESET_NAMES.includes(pathOrPreset)) return preset(pathOrPreset);
  let path = pathOrPreset;
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'config.json');
  if (!existsSync(path)) throw new FileError(`config '${pathOrPreset}': no such file, and not a preset (${PRESET_NAMES.join(', ')})`);
  const text = new TextDecoder().decode(readBytes(path, 'config', MAX_JSON_BYTES));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FileError(`config '${path}': not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(json, path);
}

/** The folder's preprocessor_config.json as JSON, or undefined when it has none. */
export function readPreprocessorJson(folder: string): unknown {
  const path = join(folder, 'preprocessor_config.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(readBytes(path, 'preprocessor config', MAX_JSON_BYTES)));
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(`preprocessor config '${path}': not valid JSON (${(e as Error).message})`);
  }
}

export async function compileKernels(config: MaeConfig, encoderLengths?: number[], cacheDir?: string, simd: SimdVariant = chooseSimd(), threads = false): Promise<KernelModule> {
  const built = await buildKernels(config, { encoderLengths, cacheDir, simd, threads });
  return { module: await WebAssembly.compile(built.wasm as Uint8Array<ArrayBuffer>), manifest: built.manifest };
}

/** The training kernel module for a config (forward with tape + backward kernels), built and cached like the forward's. */
export async function compileTrainingKernels(config: MaeConfig, encoderLengths?: number[], cacheDir?: string, simd: SimdVariant = chooseSimd(), threads = false): Promise<KernelModule> {
  const built = await buildKernels(config, { encoderLengths, cacheDir, simd, training: true, threads });
  return { module: await WebAssembly.compile(built.wasm as Uint8Array<ArrayBuffer>), manifest: built.manifest };
}

export async function loadModelSource(opts: LoadOptions): Promise<ModelSource> {
  if (!opts.model && !(opts.config && opts.weights)) throw new UsageError('a model folder, or both a config and a weights file, is required');
  if (opts.model !== undefined) {
    if (!existsSync(opts.model) || !statSync(opts.model).isDirectory()) throw new FileError(`model folder '${opts.model}': no such folder`);
    for (const [file, needed] of [['config.json', !opts.config], ['model.safetensors', !opts.weights]] as const) {
      if (needed && !existsSync(join(opts.model, file))) throw new FileError(`model folder '${opts.model}' has no ${file} (a Hugging Face ViT-MAE folder holds config.json and model.safetensors)`);
    }
  }
  const config = readConfig(opts.config ?? join(opts.model!, 'config.json'));
  const weightsPath = opts.weights ?? join(opts.model!, 'model.safetensors');
  // Read tensor by tensor while packing: the model is never in memory twice.
  const bytes = openFileSource(weightsPath, 'weights');
  let weights;
  try {
    weights = loadWeights(SafetensorsFile.open(bytes, weightsPath), config, { lazy: true });
  } catch (e) {
    bytes.close();
    throw e;
  }
  const simd = chooseSimd(opts.simd);
  if (simd === 'relaxed' && !relaxedSimdSupported()) throw new KernelError('relaxed SIMD was asked for, but this engine does not validate it (Node 20: run with --experimental-wasm-relaxed-simd)');
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`threads must be a positive integer, got ${threads}`);
  const kernels = await compileKernels(config, undefined, opts.cacheDir, simd, threads > 1);
  return {
    config,
    preprocessor: opts.model ? readPreprocessorJson(opts.model) : undefined,
    weights,
    kernels,
    extend: (lengths) => compileKernels(config, lengths, opts.cacheDir, simd, threads > 1),
    threads,
    batch: opts.batch,
    startWorkers: startNodeWorkers,
    prefault: prefaultMemory,
    scratch: (region) => bytes.useScratch(region),
    device: opts.device,
    release: () => bytes.close(),
    // Gradients re-read the weights whole (the trainer keeps its own plain copy) and build the
    // training module for the mask ratio asked for.
    training: async (keep) => ({
      weights: readWholeWeights(weightsPath, config),
      kernels: await compileTrainingKernels(config, [...new Set([...defaultEncoderLengths(config), 1 + keep])], opts.cacheDir, simd, threads > 1),
      threads,
      startWorkers: startNodeWorkers,
    }),
  };
}
