import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfig, shapesOf, type MaeConfig } from '../src/config.js';
import { SafetensorsFile, encodeSafetensors } from '../src/safetensors.js';
import { loadWeights, type MaeWeights } from '../src/weights.js';
import { erf, gelu, randomWeights, referenceDecode, referenceEncodeAll, referenceForward, toHfTensors, toOriginalTensors } from './reference/mae-reference.js';

// Compiled to dist/test/, so the fixtures are two levels up from here.
const fixtureBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../test/fixtures/golden/${path}`, import.meta.url)));
const fixtureFile = (path: string): SafetensorsFile => SafetensorsFile.parse(fixtureBytes(path), path);
const fixtureConfig = (name: string): MaeConfig => parseConfig(JSON.parse(new TextDecoder().decode(fixtureBytes(`${name}/config.json`))), `${name}/config.json`);

/** Elementwise |x − g| ≤ tol·(1 + |g|), reporting the worst element. */
function assertClose(what: string, actual: ArrayLike<number>, golden: ArrayLike<number>, tol: number): void {
  assert.equal(actual.length, golden.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < golden.length; i++) {
    const err = Math.abs(actual[i]! - golden[i]!) / (1 + Math.abs(golden[i]!));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max |x − g|/(1+|g|) = ${worst} at ${at} (x ${actual[at]}, g ${golden[at]}), tolerance ${tol}`);
}

function assertExact(what: string, actual: ArrayLike<number>, golden: ArrayLike<number>): void {
  assert.deepEqual(Array.from(actual), Array.from(golden), what);
}

for (const name of ['tiny', 'small'] as const) {
  test(`${name}: the reference reproduces the golden forward`, () => {
    const cfg = fixtureConfig(name);
    const w = loadWeights(fixtureFile(`${name}/model.safetensors`), cfg);
    const io = fixtureFile(`${name}/io.safetensors`);
    const n = io.info('pixel_values').shape[0]!;
    const pixels = io.f32('pixel_values');
    const out = referenceForward(cfg, w, pixels, io.f32('noise'), n, cfg.maskRatio);

    assert.equal(out.lenKeep, Number(io.metadata.len_keep));
    assertExact('mask', out.mask, io.f32('mask'));
    assertExact('ids_restore', out.idsRestore, io.int32('ids_restore'));
    assertExact('ids_shuffle', out.idsShuffle, io.int32('ids_shuffle'));
    assertExact('ids_keep', out.idsKeep, io.int32('ids_keep'));
    assertExact('target_patches', out.targetPatches, io.f32('target_patches'));
    assertClose('target_patches_norm_pix', out.targetPatchesNormPix, io.f32('target_patches_norm_pix'), 2e-5);
    assertClose('patch_embeds', out.patchEmbeds, io.f32('patch_embeds'), 2e-5);
    assertClose('latent', out.latent, io.f32('latent'), 2e-5);
    assertClose('pred', out.pred, io.f32('pred'), 2e-5);
    assertClose('loss', [out.loss], io.f32('loss'), 1e-6);
    assertClose('loss_norm_pix', [out.lossNormPix], io.f32('loss_norm_pix'), 1e-6);

    const latentAll = referenceEncodeAll(cfg, w, pixels, n);
    assertClose('latent_all', latentAll, io.f32('latent_all'), 2e-5);
    const { numPatches: L } = shapesOf(cfg);
    const identity = Int32Array.from({ length: n * L }, (_, i) => i % L);
    assertClose('pred_all', referenceDecode(cfg, w, latentAll, identity, n, L), io.f32('pred_all'), 2e-5);
  });

  test(`${name}: toHfTensors / toOriginalTensors load back identically`, () => {
    const cfg = fixtureConfig(name);
    const w = loadWeights(fixtureFile(`${name}/model.official.safetensors`), cfg);
    assertRoundTrips(cfg, w);
    // The HF dict has exactly the fixture file's names and shapes.
    const hfFile = fixtureFile(`${name}/model.safetensors`);
    const hf = toHfTensors(cfg, w);
    assert.deepEqual(Object.keys(hf).sort(), hfFile.names().sort());
    for (const [k, t] of Object.entries(hf)) assert.deepEqual(t.shape, hfFile.info(k).shape, k);
    const origFile = fixtureFile(`${name}/model.official.safetensors`);
    const orig = toOriginalTensors(cfg, w);
    assert.deepEqual(Object.keys(orig).sort(), origFile.names().sort());
    for (const [k, t] of Object.entries(orig)) assert.deepEqual(t.shape, origFile.info(k).shape, k);
  });
}

function stripNaming(w: MaeWeights): Omit<MaeWeights, 'naming'> {
  const { naming: _, ...rest } = w;
  return rest;
}

function assertRoundTrips(cfg: MaeConfig, w: MaeWeights): void {
  const viaHf = loadWeights(SafetensorsFile.parse(encodeSafetensors(toHfTensors(cfg, w)), 'hf'), cfg);
  const viaOrig = loadWeights(SafetensorsFile.parse(encodeSafetensors(toOriginalTensors(cfg, w)), 'orig'), cfg);
  assert.equal(viaHf.naming, 'huggingface');
  assert.equal(viaOrig.naming, 'original');
  assert.deepEqual(stripNaming(viaHf), stripNaming(w));
  assert.deepEqual(stripNaming(viaOrig), stripNaming(w));
}

const randomConfig = (overrides: Record<string, unknown>): MaeConfig =>
  parseConfig({
    image_size: 24, patch_size: 4, num_channels: 2,
    hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 40,
    decoder_hidden_size: 16, decoder_num_hidden_layers: 2, decoder_num_attention_heads: 2, decoder_intermediate_size: 36,
    layer_norm_eps: 1e-6, mask_ratio: 0.6, ...overrides,
  }, 'random config');

test('random weights: deterministic, non-trivial, and round-trip through both namings', () => {
  for (const cfg of [randomConfig({}), randomConfig({ qkv_bias: false, num_channels: 1, hidden_size: 16, num_attention_heads: 4 })]) {
    const w = randomWeights(cfg, 7);
    assert.deepEqual(w, randomWeights(cfg, 7));
    assert.notDeepEqual(w.patchW, randomWeights(cfg, 8).patchW);
    const { grid, patchDim } = shapesOf(cfg);
    assert.equal(w.patchW.length, cfg.hiddenSize * patchDim);
    assert.equal(w.posEmbed.length, (1 + grid * grid) * cfg.hiddenSize);
    for (const blk of [...w.encoder, ...w.decoder]) {
      for (const arr of [blk.ln1W, blk.ln1B, blk.ln2W, blk.ln2B, blk.projB, blk.fc1B, blk.fc2B]) assert.ok(arr.every((v) => v !== 0 && v !== 1));
      assert.ok(cfg.qkvBias ? blk.qkvB.every((v) => v !== 0) : blk.qkvB.every((v) => v === 0));
    }
    assertRoundTrips(cfg, w);
    if (!cfg.qkvBias) assert.ok(!Object.keys(toHfTensors(cfg, w)).some((k) => k.endsWith('query.bias')));
  }
});

test('reference on a random config: masking invariants, decoder on all patches, mask ratio 0', () => {
  const cfg = randomConfig({});
  const w = randomWeights(cfg, 3);
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const n = 2;
  const pixels = Float32Array.from({ length: n * cfg.numChannels * cfg.imageSize ** 2 }, (_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 1.3));
  const noise = Float32Array.from({ length: n * L }, (_, i) => ((i * 7919) % 101) / 101 + i * 1e-5);
  const out = referenceForward(cfg, w, pixels, noise, n, cfg.maskRatio);
  const keep = Math.trunc(L * (1 - cfg.maskRatio));
  assert.equal(out.lenKeep, keep);
  assert.equal(out.latent.length, n * (1 + keep) * cfg.hiddenSize);
  assert.equal(out.pred.length, n * L * P);
  for (let img = 0; img < n; img++) {
    assert.equal(out.mask.subarray(img * L, (img + 1) * L).reduce((a, b) => a + b, 0), L - keep);
    for (let j = 0; j < keep; j++) {
      const l = out.idsKeep[img * keep + j]!;
      assert.equal(out.mask[img * L + l], 0);
      assert.equal(out.idsRestore[img * L + l], j);
      if (j > 0) assert.ok(noise[img * L + l]! > noise[img * L + out.idsKeep[img * keep + j - 1]!]!, 'kept in ascending noise order');
    }
  }
  assert.ok(Number.isFinite(out.loss) && out.loss > 0);
  assert.ok(Number.isFinite(out.lossNormPix) && out.lossNormPix > 0);
  // The decoder entry point matches the forward's own decoder.
  assertClose('decode', referenceDecode(cfg, w, out.latent, out.idsRestore, n, keep), out.pred, 1e-12);

  // Mask ratio 0 with identity noise is referenceEncodeAll; its loss is 0/0.
  const identityNoise = Float32Array.from({ length: n * L }, (_, i) => i % L);
  const all = referenceForward(cfg, w, pixels, identityNoise, n, 0);
  assertClose('encodeAll', referenceEncodeAll(cfg, w, pixels, n), all.latent, 1e-12);
  assert.ok(Number.isNaN(all.loss));
});

test('erf and GELU against high-precision values', () => {
  const cases: [number, number][] = [
    [0, 0], [1e-8, 1.1283791670955126e-8], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
    [1.5, 0.9661051464753108], [2, 0.9953222650189527], [3, 0.9999779095030014], [4, 0.9999999845827421],
    [5, 0.9999999999984626], [-0.5, -0.5204998778130465], [-2, -0.9953222650189527], [10, 1], [-10, -1],
  ];
  for (const [x, value] of cases) assert.ok(Math.abs(erf(x) - value) <= 1e-15 + 1e-14 * Math.abs(value), `erf(${x}) = ${erf(x)}, expected ${value}`);
  assert.ok(Number.isNaN(erf(NaN)));
  // GELU(1) = 0.8413447460685429 (= Φ(1)), GELU(-1) = -0.15865525393145707.
  assert.ok(Math.abs(gelu(1) - 0.8413447460685429) < 1e-15);
  assert.ok(Math.abs(gelu(-1) + 0.15865525393145707) < 1e-15);
  assert.ok(Math.abs(gelu(-8)) < 1e-14);
});
