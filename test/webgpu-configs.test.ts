/**
 * The WebGPU backend beyond the golden shapes, against the independent float64 reference
 * (test/reference): configs whose widths leave remainders in the WGSL kernels — patch dims 9, 49
 * and 588 (GEMM columns and K not multiples of 4), head widths 5 and 12, 1 to 7 heads, MLP 100,
 * qkv_bias off, eps 1e-12, mask ratios 0 to 0.9 — with the same bounds as the golden tests. Also:
 * buffers reused across calls give the same numbers; a disposed model refuses work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, shapesOf } from '../src/config.js';
import { seededNoise } from '../src/masking.js';
import { MaeModel } from '../src/node/index.js';
import type { KernelModule } from '../src/backend/wasm.js';
import { randomWeights, referenceEncodeAll, referenceForward } from './reference/mae-reference.js';
import { LOSS_TOL, TENSOR_TOL, assertClose, assertExact, maxScaledError } from './helpers.js';
import { GPU_TEST_TIMEOUT_MS, needWebGpu } from './webgpu-support.js';

/** The WebGPU backend generates its WGSL at load and never touches the WASM module. */
const NO_WASM_MODULE = undefined as unknown as KernelModule;

const base = { hidden_act: 'gelu', layer_norm_eps: 1e-6, qkv_bias: true, norm_pix_loss: false, model_type: 'vit_mae' };
const CASES: Array<{ name: string; config: Record<string, unknown>; maskRatio?: number }> = [
  { name: 'gray 12px patch 3 (patch dim 9), 2 heads, mask 0.5', config: { ...base, image_size: 12, patch_size: 3, num_channels: 1, hidden_size: 24, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 96, decoder_hidden_size: 16, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 4, decoder_intermediate_size: 64, mask_ratio: 0.5 } },
  { name: 'RGB 20px patch 4, 3 heads, MLP 100, no qkv bias, decoder 5 heads, mask 0.6', config: { ...base, image_size: 20, patch_size: 4, num_channels: 3, hidden_size: 36, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 100, qkv_bias: false, decoder_hidden_size: 20, decoder_num_hidden_layers: 2, decoder_num_attention_heads: 5, decoder_intermediate_size: 44, mask_ratio: 0.6 } },
  { name: 'gray 28px patch 7 (patch dim 49), 5 heads, decoder 7 heads, eps 1e-12, norm_pix_loss, mask 0.9', maskRatio: 0.9, config: { ...base, image_size: 28, patch_size: 7, num_channels: 1, hidden_size: 40, num_hidden_layers: 1, num_attention_heads: 5, intermediate_size: 160, layer_norm_eps: 1e-12, norm_pix_loss: true, decoder_hidden_size: 28, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 7, decoder_intermediate_size: 112, mask_ratio: 0.75 } },
  { name: 'RGB 42px patch 14 (patch dim 588), head width 5, mask 0 (nothing removed)', config: { ...base, image_size: 42, patch_size: 14, num_channels: 3, hidden_size: 20, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 80, decoder_hidden_size: 12, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 2, decoder_intermediate_size: 48, mask_ratio: 0 } },
];

function gaussianish(seed: number, n: number): Float32Array {
  const u = seededNoise(seed, 1, n * 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - u[2 * i])) * Math.cos(2 * Math.PI * u[2 * i + 1]);
  return out;
}

CASES.forEach((c, idx) => {
  test(`webgpu, any config: ${c.name} — forward and encode match the float64 reference`, { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
    if (!(await needWebGpu(t))) return;
    const cfg = parseConfig(c.config, c.name);
    const L = shapesOf(cfg).numPatches;
    const w = randomWeights(cfg, 200 + idx);
    const batch = 2;
    const pixels = gaussianish(17 + idx, batch * cfg.numChannels * cfg.imageSize ** 2);
    const noise = seededNoise(41 + idx, batch, L);
    const ratio = c.maskRatio ?? cfg.maskRatio;
    const ref = referenceForward(cfg, w, pixels, noise, batch, ratio);
    const model = await MaeModel.load({ config: cfg, weights: w, kernels: NO_WASM_MODULE, device: 'webgpu' });
    try {
      const r = await model.forward(pixels, { batch, noise, maskRatio: ratio });
      const all = await model.encode(pixels, { batch });
      const refAll = referenceEncodeAll(cfg, w, pixels, batch);
      t.diagnostic(`max |x − ref|/(1 + |ref|): latent ${maxScaledError(r.latent, ref.latent).toExponential(2)}, pred ${maxScaledError(r.pred, ref.pred).toExponential(2)}, latent_all ${maxScaledError(all, refAll).toExponential(2)}`);
      assert.equal(r.lenKeep, ref.lenKeep);
      assertClose(r.latent, ref.latent, TENSOR_TOL, 'latent');
      assertClose(r.pred, ref.pred, TENSOR_TOL, 'pred');
      assertExact(r.mask, ref.mask, 'mask');
      assertExact(r.idsRestore, ref.idsRestore, 'ids_restore');
      if (ref.lenKeep < L) {
        assertClose([r.loss], [ref.loss], LOSS_TOL, 'loss');
        assertClose([r.lossNormPix], [ref.lossNormPix], LOSS_TOL, 'loss_norm_pix');
      }
      assertClose(all, refAll, TENSOR_TOL, 'latent_all');
    } finally {
      model.dispose();
    }
  });
});

test('webgpu: buffers reused across calls and mask ratios give the same numbers; dispose() releases the device', { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
  if (!(await needWebGpu(t))) return;
  const cfg = parseConfig(CASES[0].config);
  const w = randomWeights(cfg, 7);
  const pixels = gaussianish(3, 3 * cfg.numChannels * cfg.imageSize ** 2);
  const model = await MaeModel.load({ config: cfg, weights: w, kernels: NO_WASM_MODULE, device: 'webgpu' });
  const a = await model.forward(pixels, { batch: 3, seed: 42 });
  // Another kept-patch count in between (a program built on demand), then the first again.
  const other = await model.forward(pixels, { batch: 3, seed: 42, maskRatio: 0.25 });
  const b = await model.forward(pixels, { batch: 3, seed: 42 });
  assertExact(a.pred, b.pred, 'pred of the same call twice');
  assertExact(a.latent, b.latent, 'latent of the same call twice');
  const ref = referenceForward(cfg, w, pixels, seededNoise(42, 3, shapesOf(cfg).numPatches), 3, 0.25);
  assertClose(other.pred, ref.pred, TENSOR_TOL, 'pred at mask ratio 0.25');
  // Calls issued together run one after the other on the shared buffers.
  const [x, y] = await Promise.all([model.encode(pixels, { batch: 3 }), model.encode(pixels, { batch: 3 })]);
  assertExact(x, y, 'concurrent encodes');
  model.dispose();
  await assert.rejects(model.encode(pixels, { batch: 3 }), /disposed/);
});
