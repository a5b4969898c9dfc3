/** `edge-mae forward`: the MAE forward on pixel tensors → latent, pred, mask, ids, losses. */
import { MaeModel } from '../model.js';
import type { DeviceChoice } from '../backend/webgpu-select.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';
import { checkOutputPath } from '../node/atomic-write.js';
import { f32, i64, readInputs, scalar, writeTensors } from './tensors-io.js';

export interface ForwardArgs {
  model?: string;
  weights?: string;
  config?: string;
  inputs: string;
  out: string;
  simd?: 'auto' | 'simd128' | 'relaxed';
  threads?: number;
  device?: DeviceChoice;
  maskRatio?: number;
  seed?: number;
}

export async function runForward(a: ForwardArgs, log: (line: string) => void): Promise<void> {
  checkOutputPath(a.out);
  const model = await MaeModel.load({ model: a.model ?? (a.config && a.weights ? undefined : DEFAULT_MODEL_DIR), weights: a.weights, config: a.config, simd: a.simd, threads: a.threads, device: a.device });
  try {
    const cfg = model.config;
    const { pixels, batch, noise } = readInputs(a.inputs, cfg);
    const r = await model.forward(pixels, { batch, noise, seed: a.seed, maskRatio: a.maskRatio });
    const { numPatches: L, patchDim: P } = model.shapes;
    writeTensors(a.out, {
      latent: f32([batch, 1 + r.lenKeep, cfg.hiddenSize], r.latent),
      pred: f32([batch, L, P], r.pred),
      mask: f32([batch, L], r.mask),
      ids_restore: i64([batch, L], r.idsRestore),
      ids_keep: i64([batch, r.lenKeep], r.idsKeep),
      target_patches: f32([batch, L, P], r.targetPatches),
      loss: scalar(r.loss),
      loss_norm_pix: scalar(r.lossNormPix),
    }, { producer: 'edge-mae forward', mask_ratio: String(a.maskRatio ?? cfg.maskRatio), noise: noise ? 'input' : `seed ${a.seed ?? 0}` });
    log(`forward: ${batch} image(s), ${r.lenKeep}/${L} patches kept, loss ${r.loss.toFixed(6)}, loss_norm_pix ${r.lossNormPix.toFixed(6)} → ${a.out} (${model.backendDescription})`);
  } finally {
    model.dispose();
  }
}
