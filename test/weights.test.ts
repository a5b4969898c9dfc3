import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfig, shapesOf, type MaeConfig } from '../src/config.js';
import { WeightsError } from '../src/errors.js';
import { sincos2dPositionEmbedding } from '../src/pos-embed.js';
import { SafetensorsFile, encodeSafetensors, type TensorToWrite } from '../src/safetensors.js';
import { loadWeights, detectNaming, type MaeWeights } from '../src/weights.js';

// Compiled to dist/test/, so the fixtures are two levels up from here.
const fixtureBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../test/fixtures/golden/${path}`, import.meta.url)));
const fixtureFile = (path: string): SafetensorsFile => SafetensorsFile.parse(fixtureBytes(path), path);
const fixtureConfig = (name: string): MaeConfig => parseConfig(JSON.parse(new TextDecoder().decode(fixtureBytes(`${name}/config.json`))), `${name}/config.json`);

const CASES = ['tiny', 'small'] as const;

/** Every tensor of a file as F32, ready to be edited and re-encoded. */
function tensorsOf(file: SafetensorsFile): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const name of file.names()) out[name] = { dtype: 'F32', shape: file.info(name).shape, data: file.f32(name) };
  return out;
}

const reencode = (tensors: Record<string, TensorToWrite>, source: string) => SafetensorsFile.parse(encodeSafetensors(tensors), source);

function assertSameWeights(a: MaeWeights, b: MaeWeights): void {
  const { naming: _a, ...restA } = a;
  const { naming: _b, ...restB } = b;
  assert.deepEqual(restA, restB);
}

function assertWeightsError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeightsError, `expected WeightsError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

for (const name of CASES) {
  test(`${name}: Hugging Face and original namings load to identical weights`, () => {
    const cfg = fixtureConfig(name);
    const hf = loadWeights(fixtureFile(`${name}/model.safetensors`), cfg);
    const orig = loadWeights(fixtureFile(`${name}/model.official.safetensors`), cfg);
    assert.equal(hf.naming, 'huggingface');
    assert.equal(orig.naming, 'original');
    assertSameWeights(hf, orig);

    const D = cfg.hiddenSize;
    const { numPatches, patchDim } = shapesOf(cfg);
    assert.equal(hf.encoder.length, cfg.numHiddenLayers);
    assert.equal(hf.decoder.length, cfg.decoderNumHiddenLayers);
    assert.equal(hf.clsToken.length, D);
    assert.equal(hf.posEmbed.length, (1 + numPatches) * D);
    assert.equal(hf.patchW.length, D * patchDim);
    assert.equal(hf.encoder[0]!.qkvW.length, 3 * D * D);
    assert.equal(hf.decoder[0]!.fc1W.length, cfg.decoderIntermediateSize * cfg.decoderHiddenSize);
    assert.equal(hf.predW.length, patchDim * cfg.decoderHiddenSize);

    // The fused qkv rows are q, then k, then v.
    const file = fixtureFile(`${name}/model.safetensors`);
    const key = file.f32('vit.encoder.layer.0.attention.attention.key.weight');
    assert.deepEqual(hf.encoder[0]!.qkvW.subarray(D * D, 2 * D * D), key);
    assert.deepEqual(hf.encoder[0]!.qkvB.subarray(D, 2 * D), file.f32('vit.encoder.layer.0.attention.attention.key.bias'));
  });

  test(`${name}: computed sin-cos tables equal the files' tables`, () => {
    const cfg = fixtureConfig(name);
    const { grid } = shapesOf(cfg);
    const file = fixtureFile(`${name}/model.official.safetensors`);
    for (const [tableName, dim] of [['pos_embed', cfg.hiddenSize], ['decoder_pos_embed', cfg.decoderHiddenSize]] as const) {
      const stored = file.f32(tableName);
      const computed = sincos2dPositionEmbedding(dim, grid);
      assert.equal(computed.length, stored.length);
      let maxDiff = 0;
      for (let i = 0; i < stored.length; i++) maxDiff = Math.max(maxDiff, Math.abs(computed[i]! - stored[i]!));
      assert.ok(maxDiff <= 1e-6, `${tableName}: max |Δ| ${maxDiff}`);
      assert.ok(computed.subarray(0, dim).every((v) => v === 0), 'cls row is zeros');
    }
  });

  test(`${name}: files without position tables get the computed ones`, () => {
    const cfg = fixtureConfig(name);
    const full = fixtureFile(`${name}/model.safetensors`);
    const tensors = tensorsOf(full);
    delete tensors['vit.embeddings.position_embeddings'];
    delete tensors['decoder.decoder_pos_embed'];
    const w = loadWeights(reencode(tensors, 'no-pos.safetensors'), cfg);
    const ref = loadWeights(full, cfg);
    for (const [a, b] of [[w.posEmbed, ref.posEmbed], [w.decoderPosEmbed, ref.decoderPosEmbed]] as const) {
      assert.equal(a.length, b.length);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6);
    }
  });
}

test('sin-cos table layout: first half encodes the column, second half the row', () => {
  const dim = 8;
  const grid = 3;
  const t = sincos2dPositionEmbedding(dim, grid);
  // patch l = r·grid + c at row l+1; ω = [1, 1/100] for dim/4 = 2.
  const r = 2;
  const c = 1;
  const row = t.subarray((1 + r * grid + c) * dim, (2 + r * grid + c) * dim);
  const expected = [Math.sin(c), Math.sin(c / 100), Math.cos(c), Math.cos(c / 100), Math.sin(r), Math.sin(r / 100), Math.cos(r), Math.cos(r / 100)];
  assert.deepEqual([...row], expected.map(Math.fround));
});

test('a wrong-shaped tensor gives a WeightsError naming it with both shapes', () => {
  const cfg = fixtureConfig('tiny');
  const tensors = tensorsOf(fixtureFile('tiny/model.safetensors'));
  tensors['vit.encoder.layer.1.intermediate.dense.weight'] = { dtype: 'F32', shape: [128, 64], data: new Float32Array(128 * 64) };
  assertWeightsError(
    () => loadWeights(reencode(tensors, 'bad-shape.safetensors'), cfg),
    /^bad-shape\.safetensors: tensor 'vit\.encoder\.layer\.1\.intermediate\.dense\.weight' has shape \[128,64\], expected \[256,64\]$/,
  );

  const orig = tensorsOf(fixtureFile('tiny/model.official.safetensors'));
  orig['patch_embed.proj.weight'] = { dtype: 'F32', shape: [64, 4, 4, 3], data: new Float32Array(64 * 48) };
  assertWeightsError(() => loadWeights(reencode(orig, 'o.safetensors'), cfg), /tensor 'patch_embed\.proj\.weight' has shape \[64,4,4,3\], expected \[64,3,4,4\]/);

  // Weights for another config: the depth is checked first, then each tensor.
  assertWeightsError(() => loadWeights(fixtureFile('small/model.safetensors'), cfg), /has 3 encoder blocks \(huggingface naming\), config 'num_hidden_layers' is 2/);
  const biggerPatches = { ...cfg, imageSize: 64, patchSize: 8 }; // same L = 64, larger patches
  assertWeightsError(
    () => loadWeights(fixtureFile('tiny/model.safetensors'), biggerPatches),
    /tensor 'vit\.embeddings\.patch_embeddings\.projection\.weight' has shape \[64,3,4,4\], expected \[64,3,8,8\]/,
  );
});

test('a NaN or infinite weight gives a WeightsError naming the tensor and the index, read eagerly or lazily', () => {
  const cfg = fixtureConfig('tiny');
  const cases: Array<[string, number, number, RegExp]> = [
    // Past the first 4096 values, in the middle of a group of four, and the last value of a short tensor.
    ['vit.encoder.layer.1.intermediate.dense.weight', 5001, NaN, /tensor 'vit\.encoder\.layer\.1\.intermediate\.dense\.weight' has a NaN value at index 5001$/],
    ['decoder.decoder_layers.0.attention.attention.key.weight', 0, Infinity, /tensor 'decoder\.decoder_layers\.0\.attention\.attention\.key\.weight' has an infinite value at index 0$/],
    ['vit.layernorm.bias', 63, -Infinity, /^nan\.safetensors: tensor 'vit\.layernorm\.bias' has an infinite value at index 63$/],
  ];
  for (const [name, at, value, pattern] of cases) {
    const tensors = tensorsOf(fixtureFile('tiny/model.safetensors'));
    (tensors[name]!.data as Float32Array)[at] = value;
    for (const lazy of [false, true]) {
      assertWeightsError(() => {
        const w = loadWeights(reencode(tensors, 'nan.safetensors'), cfg, { lazy });
        // Lazily, a tensor is read (and checked) when its field is used, as packing does.
        for (const b of [...w.encoder, ...w.decoder]) Object.values(b).forEach((v) => v.length);
        return w.normB.length;
      }, pattern);
    }
  }
  // The largest and smallest finite values and subnormals pass.
  const tensors = tensorsOf(fixtureFile('tiny/model.safetensors'));
  (tensors['vit.layernorm.bias']!.data as Float32Array).set([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0]);
  loadWeights(reencode(tensors, 'finite.safetensors'), cfg);
});

test('squeezed leading 1s are accepted ([D] for [1,1,D])', () => {
  const cfg = fixtureConfig('tiny');
  const tensors = tensorsOf(fixtureFile('tiny/model.official.safetensors'));
  tensors['cls_token'] = { ...tensors['cls_token']!, shape: [64] };
  tensors['pos_embed'] = { ...tensors['pos_embed']!, shape: [65, 64] };
  const w = loadWeights(reencode(tensors, 'squeezed'), cfg);
  assertSameWeights(w, loadWeights(fixtureFile('tiny/model.official.safetensors'), cfg));
});

test('a missing tensor gives a WeightsError naming it and the naming detected', () => {
  const cfg = fixtureConfig('tiny');
  const hf = tensorsOf(fixtureFile('tiny/model.safetensors'));
  delete hf['decoder.decoder_layers.0.attention.attention.value.bias'];
  assertWeightsError(
    () => loadWeights(reencode(hf, 'hf-missing.safetensors'), cfg),
    /^hf-missing\.safetensors: missing tensor 'decoder\.decoder_layers\.0\.attention\.attention\.value\.bias' \(huggingface naming\), expected shape \[32\]$/,
  );
  const orig = tensorsOf(fixtureFile('tiny/model.official.safetensors'));
  delete orig['decoder_pred.weight'];
  assertWeightsError(() => loadWeights(reencode(orig, 'o.safetensors'), cfg), /missing tensor 'decoder_pred\.weight' \(original naming\), expected shape \[48,32\]/);
});

test('qkv_bias false: biases not required, qkvB is zeros', () => {
  const cfg = { ...fixtureConfig('tiny'), qkvBias: false };
  const orig = tensorsOf(fixtureFile('tiny/model.official.safetensors'));
  for (const n of Object.keys(orig)) if (n.endsWith('attn.qkv.bias')) delete orig[n];
  const w = loadWeights(reencode(orig, 'nobias'), cfg);
  assert.ok(w.encoder.every((b) => b.qkvB.length === 3 * 64 && b.qkvB.every((v) => v === 0)));
  assert.ok(w.decoder.every((b) => b.qkvB.length === 3 * 32 && b.qkvB.every((v) => v === 0)));
});

test('a depth mismatch with the config is reported', () => {
  const cfg = { ...fixtureConfig('tiny'), numHiddenLayers: 3 };
  assertWeightsError(() => loadWeights(fixtureFile('tiny/model.safetensors'), cfg), /has 2 encoder blocks \(huggingface naming\), config 'num_hidden_layers' is 3/);
  const cfg2 = { ...fixtureConfig('tiny'), decoderNumHiddenLayers: 0 as number };
  assertWeightsError(() => loadWeights(fixtureFile('tiny/model.official.safetensors'), cfg2), /has 1 decoder blocks \(original naming\), config 'decoder_num_hidden_layers' is 0/);
});

test('a file in neither naming says so and lists some keys', () => {
  const cfg = fixtureConfig('tiny');
  const io = fixtureFile('tiny/io.safetensors');
  assertWeightsError(() => loadWeights(io, cfg), /^tiny\/io\.safetensors: not ViT-MAE pretraining weights in a known naming/, /found 15 tensors, e\.g\. 'ids_keep'/);
  const mixed = tensorsOf(fixtureFile('tiny/model.safetensors'));
  mixed['blocks.0.norm1.weight'] = { dtype: 'F32', shape: [64], data: new Float32Array(64) };
  assertWeightsError(() => detectNaming(reencode(mixed, 'mixed')), /mixes Hugging Face names/);
});
