/**
 * The WebGPU backend against the authors' reference outputs: every golden case (tiny, small; both
 * weight namings) and the bundled model's reference.safetensors, through the API with
 * device 'webgpu'. Same bounds as the WASM backend (test/golden.test.ts): latent, pred, latent_all
 * within 5e-5·(1 + |ref|); losses within 1e-6·(1 + |ref|); mask, ids and target patches exact.
 * No kernel needs a looser bound. The measured errors are printed as test diagnostics.
 *
 * Needs a WebGPU adapter: fails under CI without one, skips elsewhere (test/webgpu-support.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { GOLDEN, LOSS_TOL, ROOT, TENSOR_TOL, assertClose, assertExact, maxScaledError, readTensors } from './helpers.js';
import { GPU_TEST_TIMEOUT_MS, needWebGpu } from './webgpu-support.js';

const NAMINGS = [['huggingface', 'model.safetensors'], ['original', 'model.official.safetensors']] as const;

const CASES: Array<{ name: string; dir: string; weights: string; ref: string }> = [
  ...['tiny', 'small'].flatMap((c) => NAMINGS.map(([naming, file]) => ({
    name: `golden ${c}, ${naming} names`, dir: join(GOLDEN, c), weights: join(GOLDEN, c, file), ref: join(GOLDEN, c, 'io.safetensors'),
  }))),
  { name: 'bundled mae-fashion-mnist reference', dir: join(ROOT, 'models', 'mae-fashion-mnist'), weights: join(ROOT, 'models', 'mae-fashion-mnist', 'model.safetensors'), ref: join(ROOT, 'models', 'mae-fashion-mnist', 'reference.safetensors') },
];

for (const c of CASES) {
  test(`webgpu: ${c.name} — forward and encode match the reference`, { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
    if (!(await needWebGpu(t))) return;
    const io = readTensors(c.ref);
    const batch = io.info('pixel_values').shape[0];
    const model = await MaeModel.load({ model: c.dir, weights: c.weights, device: 'webgpu' });
    try {
      assert.equal(model.backendKind, 'webgpu');
      assert.match(model.backendDescription, /^webgpu: /);
      const r = await model.forward(io.f32('pixel_values'), { batch, noise: io.f32('noise') });
      const all = await model.encode(io.f32('pixel_values'), { batch });
      const errors = {
        latent: maxScaledError(r.latent, io.f32('latent')),
        pred: maxScaledError(r.pred, io.f32('pred')),
        latent_all: maxScaledError(all, io.f32('latent_all')),
        loss: maxScaledError([r.loss], io.f32('loss')),
        loss_norm_pix: maxScaledError([r.lossNormPix], io.f32('loss_norm_pix')),
      };
      t.diagnostic(`${model.backendDescription}; max |x − ref|/(1 + |ref|): ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
      assertClose(r.latent, io.f32('latent'), TENSOR_TOL, 'latent');
      assertClose(r.pred, io.f32('pred'), TENSOR_TOL, 'pred');
      assertExact(r.mask, io.f32('mask'), 'mask');
      assertExact(r.idsRestore, io.i64('ids_restore'), 'ids_restore');
      if (io.has('ids_keep')) assertExact(r.idsKeep, io.i64('ids_keep'), 'ids_keep');
      if (io.has('target_patches')) assertExact(r.targetPatches, io.f32('target_patches'), 'target_patches');
      assertClose([r.loss], io.f32('loss'), LOSS_TOL, 'loss');
      assertClose([r.lossNormPix], io.f32('loss_norm_pix'), LOSS_TOL, 'loss_norm_pix');
      assertClose(all, io.f32('latent_all'), TENSOR_TOL, 'latent_all');
    } finally {
      model.dispose();
    }
  });
}
