/**
 * vit-mae-base at full size: `edge-mae build --config vit-mae-base` produces a module, and a
 * forward and an encode on random weights (made here, not stored) run with finite outputs of the
 * right shapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { preset, shapesOf } from '../src/config.js';
import { MaeModel } from '../src/node/index.js';
import { compileKernels } from '../src/node/load.js';
import { seededNoise } from '../src/masking.js';
import { randomWeights } from './reference/mae-reference.js';
import { runCli } from './helpers.js';

test('edge-mae build --config vit-mae-base writes a kernel module', () => {
  const r = runCli(['build', '--config', 'vit-mae-base']);
  assert.equal(r.status, 0, r.stderr);
  const m = /(?:built|cached) \([^)]*\): (\S+kernels\.wasm)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(existsSync(m[1]));
  assert.ok(existsSync(join(m[1], '..', 'manifest.json')));
  assert.ok(existsSync(join(m[1], '..', 'kernels.ts')), 'the generated source is kept beside the module');
});

test('vit-mae-base on random weights: forward and encode give finite values of the right shapes', async () => {
  const cfg = preset('vit-mae-base');
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const model = await MaeModel.load({ config: cfg, weights: randomWeights(cfg, 1), kernels: await compileKernels(cfg) });
  try {
    const pixels = seededNoise(9, 1, 3 * 224 * 224).map((v) => v * 4 - 2);
    const r = await model.forward(pixels, { batch: 1, seed: 0 });
    assert.equal(r.lenKeep, 49);
    assert.equal(r.latent.length, 50 * 768);
    assert.equal(r.pred.length, L * P);
    assert.ok(r.latent.every(Number.isFinite) && r.pred.every(Number.isFinite));
    assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.lossNormPix));
    const all = await model.encode(pixels, { batch: 1 });
    assert.equal(all.length, 197 * 768);
    assert.ok(all.every(Number.isFinite));
  } finally {
    model.dispose();
  }
});
