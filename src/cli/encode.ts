/** `edge-mae encode --inputs`: encoder features on all patches, in order, of pixel tensors. */
import { type ModelArgs, loadModel } from './model-args.js';
import { checkOutputPath } from '../node/atomic-write.js';
import { f32, readInputs, writeTensors } from './tensors-io.js';

export interface EncodeTensorsArgs extends ModelArgs {
  inputs: string;
  out: string;
}

export async function runEncodeTensors(a: EncodeTensorsArgs, log: (line: string) => void): Promise<void> {
  checkOutputPath(a.out);
  const model = await loadModel(a);
  try {
    const { pixels, batch } = readInputs(a.inputs, model.config);
    const latentAll = await model.encode(pixels, { batch });
    writeTensors(a.out, { latent_all: f32([batch, 1 + model.shapes.numPatches, model.config.hiddenSize], latentAll) }, { producer: 'edge-mae encode' });
    log(`encode: ${batch} image(s) → latent_all [${batch},${1 + model.shapes.numPatches},${model.config.hiddenSize}] → ${a.out} (${model.backendDescription})`);
  } finally {
    model.dispose();
  }
}
