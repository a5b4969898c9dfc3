/**
 * Configs beyond the two golden cases — other image and patch sizes, 1 to 3 channels, head counts,
 * depths, MLP widths, mask ratios, qkv_bias off, eps 1e-12 — written as Hugging Face model folders
 * with random weights in either naming, run through `edge-mae forward`/`encode`, and compared with
 * the independent float64 reference (test/reference). Same bounds as the golden tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MaeConfig, parseConfig, shapesOf, toHfJson } from '../src/config.js';
import { encodeSafetensors } from '../src/safetensors.js';
import { seededNoise } from '../src/masking.js';
import { randomWeights, referenceEncodeAll, referenceForward, toHfTensors, toOriginalTensors } from './reference/mae-reference.js';
import { LOSS_TOL, TENSOR_TOL, assertClose, assertExact, readTensors, runCli, tempDir } from './helpers.js';

interface Case {
  name: string;
  config: Record<string, unknown>;
  naming: 'huggingface' | 'original';
  /** Run forward with this --mask-ratio instead of the config's. */
  maskRatioFlag?: number;
}

const base = { hidden_act: 'gelu', layer_norm_eps: 1e-6, qkv_bias: true, norm_pix_loss: false, model_type: 'vit_mae' };
const CASES: Case[] = [
  { name: 'gray 12px patch 3, 2 heads, mask 0.5', naming: 'huggingface', config: { ...base, image_size: 12, patch_size: 3, num_channels: 1, hidden_size: 24, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 96, decoder_hidden_size: 16, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 4, decoder_intermediate_size: 64, mask_ratio: 0.5 } },
  { name: 'RGB 20px patch 4, 3 heads, MLP 100, no qkv bias, mask 0.6', naming: 'original', config: { ...base, image_size: 20, patch_size: 4, num_channels: 3, hidden_size: 36, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 100, qkv_bias: false, decoder_hidden_size: 20, decoder_num_hidden_layers: 2, decoder_num_attention_heads: 5, decoder_intermediate_size: 44, mask_ratio: 0.6 } },
  { name: '2 channels 16px patch 8, 1 head, 3 layers, mask 0.25', naming: 'huggingface', config: { ...base, image_size: 16, patch_size: 8, num_channels: 2, hidden_size: 8, num_hidden_layers: 3, num_attention_heads: 1, intermediate_size: 32, decoder_hidden_size: 12, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 3, decoder_intermediate_size: 48, mask_ratio: 0.25 } },
  { name: 'gray 28px patch 7, 5 heads, eps 1e-12, norm_pix_loss, --mask-ratio 0.9', naming: 'original', maskRatioFlag: 0.9, config: { ...base, image_size: 28, patch_size: 7, num_channels: 1, hidden_size: 40, num_hidden_layers: 1, num_attention_heads: 5, intermediate_size: 160, layer_norm_eps: 1e-12, norm_pix_loss: true, decoder_hidden_size: 28, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 7, decoder_intermediate_size: 112, mask_ratio: 0.75 } },
  { name: 'RGB 42px patch 14, head width 5, mask 0 (nothing removed)', naming: 'huggingface', config: { ...base, image_size: 42, patch_size: 14, num_channels: 3, hidden_size: 20, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 80, decoder_hidden_size: 12, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 2, decoder_intermediate_size: 48, mask_ratio: 0 } },
];

function gaussianish(seed: number, n: number): Float32Array {
  const u = seededNoise(seed, 1, n * 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - u[2 * i])) * Math.cos(2 * Math.PI * u[2 * i + 1]);
  return out;
}

function writeModelFolder(dir: string, cfg: MaeConfig, c: Case, seed: number) {
  mkdirSync(dir, { recursive: true });
  const w = randomWeights(cfg, seed);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...toHfJson(cfg), ...c.config }, null, 2));
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(c.naming === 'huggingface' ? toHfTensors(cfg, w) : toOriginalTensors(cfg, w)));
  return w;
}

CASES.forEach((c, idx) => {
  test(`any config: ${c.name} (${c.naming} names) — CLI forward/encode match the float64 reference`, () => {
    const cfg = parseConfig(c.config, c.name);
    const { numPatches: L } = shapesOf(cfg);
    const dir = tempDir();
    const w = writeModelFolder(join(dir, 'model'), cfg, c, 100 + idx);
    const batch = 2;
    const pixels = gaussianish(7 + idx, batch * cfg.numChannels * cfg.imageSize ** 2);
    const noise = seededNoise(31 + idx, batch, L);
    const inputs = join(dir, 'inputs.safetensors');
    writeFileSync(inputs, encodeSafetensors({
      pixel_values: { dtype: 'F32', shape: [batch, cfg.numChannels, cfg.imageSize, cfg.imageSize], data: pixels },
      noise: { dtype: 'F32', shape: [batch, L], data: noise },
    }));
    const ratio = c.maskRatioFlag ?? cfg.maskRatio;
    const ref = referenceForward(cfg, w, pixels, noise, batch, ratio);

    const args = ['forward', '--model', join(dir, 'model'), '--inputs', inputs, '--out', join(dir, 'fw.safetensors')];
    if (c.maskRatioFlag !== undefined) args.push('--mask-ratio', String(c.maskRatioFlag));
    const fw = runCli(args);
    assert.equal(fw.status, 0, fw.stderr);
    const out = readTensors(join(dir, 'fw.safetensors'));
    assert.deepEqual(out.info('latent').shape, [batch, 1 + ref.lenKeep, cfg.hiddenSize]);
    assertClose(out.f32('latent'), ref.latent, TENSOR_TOL, 'latent');
    assertClose(out.f32('pred'), ref.pred, TENSOR_TOL, 'pred');
    assertExact(out.f32('mask'), ref.mask, 'mask');
    assertExact(out.i64('ids_restore'), ref.idsRestore, 'ids_restore');
    if (ref.lenKeep < L) {
      assertClose(out.f32('loss'), [ref.loss], LOSS_TOL, 'loss');
      assertClose(out.f32('loss_norm_pix'), [ref.lossNormPix], LOSS_TOL, 'loss_norm_pix');
    } else {
      assert.ok(Number.isNaN(out.f32('loss')[0]), 'with nothing removed the loss is 0/0 = NaN, as in torch');
    }

    const enc = runCli(['encode', '--model', join(dir, 'model'), '--inputs', inputs, '--out', join(dir, 'enc.safetensors')]);
    assert.equal(enc.status, 0, enc.stderr);
    assertClose(readTensors(join(dir, 'enc.safetensors')).f32('latent_all'), referenceEncodeAll(cfg, w, pixels, batch), TENSOR_TOL, 'latent_all');
  });
});

test('any config: without noise the mask comes from the seed, reproducibly, and matches the reference on that noise', async () => {
  const c = CASES[0];
  const cfg = parseConfig(c.config);
  const dir = tempDir();
  const w = writeModelFolder(join(dir, 'model'), cfg, c, 5);
  const { MaeModel } = await import('../src/node/index.js');
  const model = await MaeModel.load(join(dir, 'model'));
  const pixels = gaussianish(3, 3 * cfg.numChannels * cfg.imageSize ** 2);
  const a = await model.forward(pixels, { batch: 3, seed: 42 });
  const b = await model.forward(pixels, { batch: 3, seed: 42 });
  const other = await model.forward(pixels, { batch: 3, seed: 43 });
  assertExact(a.mask, b.mask, 'same seed, same mask');
  assert.notDeepEqual(Array.from(a.mask), Array.from(other.mask));
  const ref = referenceForward(cfg, w, pixels, seededNoise(42, 3, shapesOf(cfg).numPatches), 3, cfg.maskRatio);
  assertClose(a.pred, ref.pred, TENSOR_TOL, 'pred');
  model.dispose();
});
