/** `edge-mae encode --inputs`: encoder features on all patches, in order, of pixel tensors. */
import { MaeModel } from '../model.js';
import type { DeviceChoice } from '../backend/webgpu-select.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';
import { checkOutputPath } from '../node/atomic-write.js';
import { f32, readInputs, writeTensors } from './tensors-io.js';

export interface EncodeTensorsArgs {
  model?: string;
  weights?: string;
  config?: string;
  inputs: string;
  out: string;
  simd?: 'auto' | 'simd128' | 'relaxed';
  threads?: number;
  device?: DeviceChoice;
}

export async function runEncodeTensors(a: EncodeTensorsArgs, log: (line: string) => void): Promise<void> {
  checkOutputPath(a.out);
  const model = await MaeModel.load({ model: a.model ?? (a.config && a.weights ? undefined : DEFAULT_MODEL_DIR), weights: a.weights, config: a.config, simd: a.simd, threads: a.threads, device: a.device });
  try {
    const { pixels, batch } = readInputs(a.inputs, model.config);
    const latentAll = await model.encode(pixels, { batch });
    writeTensors(a.out, { latent_all: f32([batch, 1 + model.shapes.numPatches, model.config.hiddenSize], latentAll) }, { producer: 'edge-mae encode' });
    log(`encode: ${batch} image(s) → latent_all [${batch},${1 + model.shapes.numPatches},${model.config.hiddenSize}] → ${a.out} (${model.backendDescription})`);
  } finally {
    model.dispose();
  }
}
