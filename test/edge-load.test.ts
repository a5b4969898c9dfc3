/**
 * Edge-safe loading: a model from bytes — config object, weights bytes, a precompiled
 * WebAssembly.Module and its manifest (as `edge-mae build --out` writes them) — without the file
 * system or the compiler; and the package's edge entry imports nothing from Node (bundled, dynamic
 * imports included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { InputError, MaeModel } from '../src/index.js';
import { GOLDEN, ROOT, TENSOR_TOL, assertClose, readTensors, runCli, tempDir } from './helpers.js';

test('MaeModel.load from bytes and a precompiled module reproduces the golden case', async () => {
  const out = tempDir();
  const dir = join(GOLDEN, 'tiny');
  const r = runCli(['build', '--config', dir, '--simd', 'simd128', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const module = await WebAssembly.compile(readFileSync(join(out, 'kernels.wasm')));
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  const weights = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
  const model = await MaeModel.load({ config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), weights, kernels: { module, manifest } });
  try {
    const io = readTensors(join(dir, 'io.safetensors'));
    const res = await model.forward(io.f32('pixel_values'), { batch: 2, noise: io.f32('noise') });
    assertClose(res.pred, io.f32('pred'), TENSOR_TOL, 'pred');
    assertClose(res.latent, io.f32('latent'), TENSOR_TOL, 'latent');
    // The weights bytes are read in place, not consumed: a second model from the same bytes agrees.
    const again = await MaeModel.load({ config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), weights: weights.buffer, kernels: { module: readFileSync(join(out, 'kernels.wasm')), manifest } });
    assert.deepEqual((await again.forward(io.f32('pixel_values'), { batch: 2, noise: io.f32('noise') })).pred, res.pred);
    again.dispose();
  } finally {
    model.dispose();
  }
});

test('the edge entry asked for a path says, in one line, to pass the bytes (no Node loader is registered)', async () => {
  assert.equal(MaeModel.folderLoader, undefined, 'this test file imports only the edge entry');
  for (const source of [join(GOLDEN, 'tiny'), { model: join(GOLDEN, 'tiny') }, { config: 'vit-mae-base' }]) {
    await assert.rejects(MaeModel.load(source), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.match(e.message, /pass the bytes: \{ config, weights, kernels: \{ module, manifest \} \}/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  }
});

test('the edge entry (dist/src/index.js), bundled as Workers/Vercel/browsers do, contains no Node-only module and no variable import()', async () => {
  // A bundler follows static and dynamic imports alike; its metafile lists every input it took in.
  const r = await build({
    entryPoints: [join(ROOT, 'dist', 'src', 'index.js')],
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'edge-light', 'browser'],
    mainFields: ['browser', 'module', 'main'],
    // Node builtins stay as imports, so the metafile shows them instead of the build failing.
    external: ['node:*', ...builtinModules],
    logLevel: 'silent',
  });
  const inputs = Object.keys(r.metafile.inputs);
  assert.ok(inputs.length > 10, `bundled the entry (${inputs.length} inputs)`);
  assert.ok(inputs.includes('dist/src/model.js'), 'the bundle holds the model');
  assert.deepEqual(inputs.filter((f) => f.startsWith('dist/src/node/') || f.startsWith('dist/src/cli/')), [], 'no input under src/node/ or src/cli/');
  const builtins = Object.entries(r.metafile.inputs).flatMap(([f, i]) => i.imports.filter((x) => x.external).map((x) => `${f}: ${x.path}`));
  assert.deepEqual(builtins, [], 'no Node builtin is imported');
  // What a bundler cannot resolve stays as import(...) in its output; Miniflare refuses such a specifier.
  const text = r.outputFiles[0].text;
  assert.deepEqual([...text.matchAll(/.{0,60}\bimport\s*\(.{0,60}/g)].map((m) => m[0]), [], 'no import() left in the bundle');
});
