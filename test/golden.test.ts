/**
 * The authors' PyTorch outputs (test/fixtures/golden, copied from shared/golden) reproduced through
 * the API and the CLI, with both weight namings.
 * Bounds: latent, pred, latent_all within 5e-5·(1+|ref|); losses within 1e-6·(1+|ref|);
 * mask and ids_restore exact.
 */
import { test } from 'node:test';
import v8 from 'node:v8';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { GOLDEN, LOSS_TOL, TENSOR_TOL, assertClose, assertExact, readTensors, runCli, tempDir } from './helpers.js';

// Both kernel variants: relaxed SIMD needs this flag on Node 20.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const VARIANTS = ['simd128', 'relaxed'] as const;
const CASES = ['tiny', 'small'];
const NAMINGS = [['huggingface', 'model.safetensors'], ['original', 'model.official.safetensors']] as const;

for (const c of CASES) {
  const dir = join(GOLDEN, c);
  const io = readTensors(join(dir, 'io.safetensors'));
  const batch = io.info('pixel_values').shape[0];

  for (const [naming, file] of NAMINGS) for (const simd of VARIANTS) {
    test(`golden ${c}, ${naming} names, ${simd}, API: forward and encode match the reference`, async () => {
      const model = await MaeModel.load({ model: dir, weights: join(dir, file), simd });
      assert.match(model.backendDescription, simd === 'relaxed' ? /relaxed SIMD/ : /SIMD128/);
      try {
        const r = await model.forward(io.f32('pixel_values'), { batch, noise: io.f32('noise') });
        assertClose(r.latent, io.f32('latent'), TENSOR_TOL, 'latent');
        assertClose(r.pred, io.f32('pred'), TENSOR_TOL, 'pred');
        assertExact(r.mask, io.f32('mask'), 'mask');
        assertExact(r.idsRestore, io.i64('ids_restore'), 'ids_restore');
        assertExact(r.idsKeep, io.i64('ids_keep'), 'ids_keep');
        assertExact(r.targetPatches, io.f32('target_patches'), 'target_patches');
        assertClose([r.loss], io.f32('loss'), LOSS_TOL, 'loss');
        assertClose([r.lossNormPix], io.f32('loss_norm_pix'), LOSS_TOL, 'loss_norm_pix');
        const all = await model.encode(io.f32('pixel_values'), { batch });
        assertClose(all, io.f32('latent_all'), TENSOR_TOL, 'latent_all');
      } finally {
        model.dispose();
      }
    });

  }
  for (const [naming, file] of NAMINGS) {
    test(`golden ${c}, ${naming} names, CLI: edge-mae forward and encode write the reference tensors`, () => {
      const out = tempDir();
      const fw = runCli(['forward', '--model', dir, '--weights', join(dir, file), '--inputs', join(dir, 'io.safetensors'), '--out', join(out, 'fw.safetensors')]);
      assert.equal(fw.status, 0, fw.stderr);
      const r = readTensors(join(out, 'fw.safetensors'));
      for (const name of ['latent', 'pred']) assertClose(r.f32(name), io.f32(name), TENSOR_TOL, name);
      assert.deepEqual(r.info('latent').shape, io.info('latent').shape);
      assert.equal(r.info('ids_restore').dtype, 'I64');
      assertExact(r.f32('mask'), io.f32('mask'), 'mask');
      assertExact(r.i64('ids_restore'), io.i64('ids_restore'), 'ids_restore');
      assertExact(r.f32('target_patches'), io.f32('target_patches'), 'target_patches');
      assert.deepEqual(r.info('loss').shape, []);
      for (const name of ['loss', 'loss_norm_pix']) assertClose(r.f32(name), io.f32(name), LOSS_TOL, name);

      const enc = runCli(['encode', '--model', dir, '--weights', join(dir, file), '--inputs', join(dir, 'io.safetensors'), '--out', join(out, 'enc.safetensors')]);
      assert.equal(enc.status, 0, enc.stderr);
      const e = readTensors(join(out, 'enc.safetensors'));
      assert.deepEqual(e.info('latent_all').shape, io.info('latent_all').shape);
      assertClose(e.f32('latent_all'), io.f32('latent_all'), TENSOR_TOL, 'latent_all');
    });
  }
}

test('golden small: a wrong LayerNorm eps in config.json breaks the tensor and the loss bounds (the test can fail)', async () => {
  const dir = join(GOLDEN, 'small');
  const { parseConfig } = await import('../src/config.js');
  const { readFileSync } = await import('node:fs');
  const { SafetensorsFile } = await import('../src/safetensors.js');
  const { loadWeights } = await import('../src/weights.js');
  const { compileKernels } = await import('../src/node/load.js');
  const cfg = parseConfig({ ...JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), layer_norm_eps: 1e-5 });
  const weights = loadWeights(SafetensorsFile.parse(new Uint8Array(readFileSync(join(dir, 'model.safetensors')))), cfg);
  const model = await MaeModel.load({ config: cfg, weights, kernels: await compileKernels(cfg) });
  const io = readTensors(join(dir, 'io.safetensors'));
  const r = await model.forward(io.f32('pixel_values'), { batch: 2, noise: io.f32('noise') });
  assert.throws(() => assertClose(r.latent, io.f32('latent'), TENSOR_TOL, 'latent'));
  assert.throws(() => assertClose([r.loss], io.f32('loss'), LOSS_TOL, 'loss'));
  assert.throws(() => assertClose([r.lossNormPix], io.f32('loss_norm_pix'), LOSS_TOL, 'loss_norm_pix'));
  model.dispose();
});
