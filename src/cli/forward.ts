/** `edge-mae forward`: the MAE forward on pixel tensors → latent, pred, mask, ids, losses. */
import { type ModelArgs, loadModel } from './model-args.js';
import { checkOutputPath } from '../node/atomic-write.js';
import { f32, i64, readInputs, scalar, writeTensors } from './tensors-io.js';

export interface ForwardArgs extends ModelArgs {
  inputs: string;
  out: string;
  maskRatio?: number;
  seed?: number;
}

export async function runForward(a: ForwardArgs, log: (line: string) => void): Promise<void> {
  checkOutputPath(a.out);
  const model = await loadModel(a);
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
