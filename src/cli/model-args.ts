/** The model options the tensor commands share (forward, encode --inputs), and loading from them. */
import { MaeModel } from '../node/index.js';
import type { DeviceChoice } from '../backend/webgpu-select.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';

export interface ModelArgs {
  model?: string;
  weights?: string;
  config?: string;
  simd?: 'auto' | 'simd128' | 'relaxed';
  threads?: number;
  device?: DeviceChoice;
  /** Images per kernel call: the memory for that many is laid out at load (default: what 64 MiB of activations hold, at most 64). */
  batch?: number;
}

/** The named folder, or explicit config + weights files, or else the bundled model. */
export function loadModel(a: ModelArgs): Promise<MaeModel> {
  const model = a.model ?? (a.config && a.weights ? undefined : DEFAULT_MODEL_DIR);
  return MaeModel.load({ model, weights: a.weights, config: a.config, simd: a.simd, threads: a.threads, device: a.device, batch: a.batch });
}
