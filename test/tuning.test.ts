/**
 * Tuned GEMM tiles: `edge-mae build --tune` records a tile per Linear shape, and every module
 * built afterwards for the config uses them — kernels, weight packing, thread split and layout
 * alike. Unusual tiles (3×8, 1×16, 4×4, 6×8) must still reproduce the golden reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { parseConfig } from '../src/config.js';
import { linearShapes, tileKey } from '../src/plan.js';
import { tuningPath, writeTuning } from '../codegen/compile.js';
import { GOLDEN, TENSOR_TOL, assertClose, readTensors, runCli, tempDir } from './helpers.js';

const DIR = join(GOLDEN, 'tiny');

test('recorded tiles are used by later builds and the results still match the reference', async () => {
  const cache = tempDir();
  const cfg = parseConfig(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')));
  const odd = [{ mr: 3, nr: 8 }, { mr: 1, nr: 16 }, { mr: 4, nr: 4 }, { mr: 6, nr: 8 }];
  const tiles = Object.fromEntries(linearShapes(cfg).map(([n, k], i) => [tileKey(k, n), odd[i % odd.length]]));
  writeTuning(cache, cfg, 'simd128', { tiles, tuning: 'test' });
  const io = readTensors(join(DIR, 'io.safetensors'));
  for (const threads of [1, 2]) {
    const model = await MaeModel.load({ model: DIR, cacheDir: cache, simd: 'simd128', threads });
    try {
      const r = await model.forward(io.f32('pixel_values'), { batch: 2, noise: io.f32('noise') });
      assertClose(r.pred, io.f32('pred'), TENSOR_TOL, `pred (${threads} threads)`);
      assertClose(r.latent, io.f32('latent'), TENSOR_TOL, `latent (${threads} threads)`);
    } finally {
      model.dispose();
    }
  }
});

test('edge-mae build --tune times the candidates and records a choice for every Linear shape', () => {
  const cache = tempDir();
  const r = runCli(['build', '--config', DIR, '--tune', '--simd', 'simd128', '--cache', cache]);
  assert.equal(r.status, 0, r.stderr);
  const cfg = parseConfig(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')));
  const path = tuningPath(cache, cfg, 'simd128');
  assert.ok(existsSync(path));
  const rec = JSON.parse(readFileSync(path, 'utf8')) as { tiles: Record<string, { mr: number; nr: number }>; tuning: { gflops: Record<string, Record<string, number>> } };
  for (const [n, k] of linearShapes(cfg)) {
    const key = tileKey(k, n);
    const timings = rec.tuning.gflops[key];
    assert.ok(timings && Object.keys(timings).length > 1, `candidates timed for ${key}`);
    const best = Object.entries(timings).sort((a, b) => b[1] - a[1])[0][0];
    assert.equal(`${rec.tiles[key].mr}x${rec.tiles[key].nr}`, best, `the fastest tile is chosen for ${key}`);
  }
  assert.match(r.stdout, /built \(simd128, tuned tiles\)/);
});
