/**
 * Which mask ratios a precompiled kernel module serves: `edge-mae build --mask-ratios` adds encoder
 * lengths, the error for another ratio is a 4xx that says what the module serves, and a ratio built
 * in gives the same result as the Node model (which compiles lengths on demand).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { preset } from '../src/config.js';
import { ConfigError, MaskRatioError } from '../src/errors.js';
import { describeServedRatios, encoderLengthsFor } from '../src/mask-ratios.js';
import { lenKeep } from '../src/shapes.js';
import { createHandler } from '../src/serve/handler.js';
import { decodeImage } from '../src/image/decode.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { DEFAULT_MODEL_DIR, DEFAULT_SAMPLES_DIR } from '../src/node/paths.js';
import { runCli, tempDir } from './helpers.js';

const sample = new Uint8Array(readFileSync(join(DEFAULT_SAMPLES_DIR, readdirSync(DEFAULT_SAMPLES_DIR).filter((f) => f.endsWith('.png'))[0])));
const readJson = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));

test('encoder lengths: 1 + trunc(L·(1−r)) for the config\'s ratio, all patches and each ratio asked for', () => {
  const cfg = JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.mask_ratio, 0.75);
  // 7×7 = 49 patches: 0.75 keeps 12, 0.5 keeps 24 (24.5), 0.9 keeps 4 (4.9).
  const bundled = { ...preset('vit-mae-base'), imageSize: 28, patchSize: 4, maskRatio: 0.75 };
  assert.deepEqual(encoderLengthsFor(bundled), [13, 50]);
  assert.deepEqual(encoderLengthsFor(bundled, [0.5, 0.9, 0.75]), [5, 13, 25, 50]);
  assert.throws(() => encoderLengthsFor(bundled, [0.99]), (e: unknown) => e instanceof ConfigError && /0\.99 keeps no patch of the 49/.test((e as Error).message));
  assert.throws(() => encoderLengthsFor(bundled, [1]), ConfigError);
});

test('the served ratios read back: every ratio in a printed interval keeps that many patches, and no other does', () => {
  const L = 49;
  const lengths = [5, 13, 25, 50];
  const text = describeServedRatios(lengths, L);
  assert.equal(text, '0 (all 49 patches), (0.4898, 0.5102] (24 kept), (0.7347, 0.7551] (12 kept), (0.8980, 0.9184] (4 kept)');
  const intervals = [...text.matchAll(/\((\d\.\d+), (\d\.\d+)\] \((\d+) kept\)/g)].map((m) => ({ lo: Number(m[1]), hi: Number(m[2]), keep: Number(m[3]) }));
  assert.equal(intervals.length, 3);
  for (let i = 1; i < 10_000; i++) {
    const r = i / 10_000;
    const keep = lenKeep(L, r);
    // 4-decimal bounds: skip ratios within rounding of an edge.
    const near = intervals.some((iv) => Math.abs(r - iv.lo) < 1e-4 || Math.abs(r - iv.hi) < 1e-4);
    if (near) continue;
    const inside = intervals.find((iv) => r > iv.lo && r <= iv.hi);
    assert.equal(inside?.keep, lengths.includes(1 + keep) ? keep : undefined, `ratio ${r} keeps ${keep}`);
  }
});

async function modelFromBuild(extra: string[]): Promise<MaeModel> {
  const out = tempDir();
  const r = runCli(['build', '--config', DEFAULT_MODEL_DIR, '--simd', 'simd128', '--out', out, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return MaeModel.load({
    config: readJson(join(DEFAULT_MODEL_DIR, 'config.json')) as Record<string, unknown>,
    weights: new Uint8Array(readFileSync(join(DEFAULT_MODEL_DIR, 'model.safetensors'))),
    kernels: { module: await WebAssembly.compile(readFileSync(join(out, 'kernels.wasm'))), manifest: readJson(join(out, 'manifest.json')) as never },
    preprocessor: readJson(join(DEFAULT_MODEL_DIR, 'preprocessor_config.json')),
  });
}

test('a precompiled module answers another ratio with a 4xx naming what it serves; built with --mask-ratios it serves it, equal to Node', { timeout: 120_000 }, async () => {
  const plain = await modelFromBuild([]);
  const withHalf = await modelFromBuild(['--mask-ratios', '0.5,0.9']);
  const node = await MaeModel.load({ model: DEFAULT_MODEL_DIR, simd: 'simd128' });
  try {
    const pixels = preprocessImage(decodeImage(sample), plain.preprocessor, 1);
    await assert.rejects(plain.forward(pixels, { batch: 1, maskRatio: 0.5 }), (e: unknown) => e instanceof MaskRatioError && /no encoder for 24 kept patches of 49; it serves mask ratios 0 \(all 49 patches\), \(0\.7347, 0\.7551\] \(12 kept\)/.test((e as Error).message));

    for (const path of ['/reconstruct?mask_ratio=0.5&seed=3', '/score?mask_ratio=0.5&seed=3']) {
      const refused = await createHandler({ model: plain }).fetch(new Request(`http://edge.test${path}`, { method: 'POST', body: sample }));
      assert.equal(refused.status, 400, path);
      assert.equal(refused.headers.get('content-type'), 'application/json');
      assert.match((await refused.json() as { error: string }).error, /serves mask ratios 0 \(all 49 patches\), \(0\.7347, 0\.7551\] \(12 kept\): build it with `edge-mae build --mask-ratios/);
    }
    const served = await createHandler({ model: withHalf }).fetch(new Request('http://edge.test/reconstruct?mask_ratio=0.5&seed=3', { method: 'POST', body: sample }));
    assert.equal(served.status, 200);
    const ref = await node.forward(pixels, { batch: 1, maskRatio: 0.5, seed: 3 });
    assert.equal(Number(served.headers.get('x-loss')), ref.loss, 'the same loss as the Node model, bit for bit');
    for (const r of [0.5, 0.75, 0.9]) {
      const a = await withHalf.forward(pixels, { batch: 1, maskRatio: r, seed: 5 });
      const b = await node.forward(pixels, { batch: 1, maskRatio: r, seed: 5 });
      assert.deepEqual(a.pred, b.pred, `pred at ratio ${r}`);
    }
  } finally {
    plain.dispose();
    withHalf.dispose();
    node.dispose();
  }
});
