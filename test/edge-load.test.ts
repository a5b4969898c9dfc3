/**
 * Edge-safe loading: a model from bytes — config object, weights bytes, a precompiled
 * WebAssembly.Module and its manifest (as `edge-mae build --out` writes them) — without the file
 * system or the compiler; and the package's edge entry imports nothing from Node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MaeModel } from '../src/model.js';
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

test('the edge entry (dist/src/index.js) reaches no Node-only module through static imports', () => {
  const seen = new Set<string>();
  const nodeImports: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('node:') || ['fs', 'path', 'os', 'worker_threads', 'child_process'].includes(spec)) nodeImports.push(`${file}: ${spec}`);
      else if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
    }
  };
  visit(join(ROOT, 'dist', 'src', 'index.js'));
  assert.ok(seen.size > 10, `walked the import graph (${seen.size} files)`);
  assert.deepEqual(nodeImports, []);
  assert.ok(![...seen].some((f) => f.includes(`${join('src', 'node')}`)), 'no file under src/node/ is reachable');
});
