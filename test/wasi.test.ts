/**
 * The WASI build of the kernel module (`edge-mae build --wasi`, @assemblyscript/wasi-shim): its
 * only imports are wasi_snapshot_preview1 functions, it defines and exports a memory sized from the
 * config's layout that cannot grow, and it is a reactor (`_initialize`, no `_start`). Instantiated
 * under Node's node:wasi (preview1), it runs the golden case `tiny` through the host (MaeModel →
 * WasmBackend on that instance's memory) within the golden bounds: latent, pred, latent_all within
 * 5e-5·(1+|ref|), losses within 1e-5·(1+|ref|), mask and ids exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { MaeModel } from '../src/node/index.js';
import { parseConfig } from '../src/config.js';
import { SafetensorsFile } from '../src/safetensors.js';
import { loadWeights } from '../src/weights.js';
import { ARENA_BASE } from '../src/plan.js';
import type { Manifest } from '../src/manifest.js';
import { compileAssemblyScript } from '../codegen/compile.js';
import { GOLDEN, LOSS_TOL, TENSOR_TOL, assertClose, assertExact, readTensors, runCli, tempDir } from './helpers.js';

const WASI_MODULE = 'wasi_snapshot_preview1';
const dir = join(GOLDEN, 'tiny');
const out = tempDir();
let built: { module: WebAssembly.Module; bytes: Uint8Array; manifest: Manifest } | undefined;

/** `edge-mae build --wasi --out DIR` for the tiny golden config, once. */
async function wasiBuild(): Promise<NonNullable<typeof built>> {
  if (built) return built;
  const r = runCli(['build', '--config', dir, '--simd', 'simd128', '--wasi', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /WASI/);
  const bytes = new Uint8Array(readFileSync(join(out, 'kernels.wasm')));
  built = { module: await WebAssembly.compile(bytes), bytes, manifest: JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest };
  return built;
}

/** An instance of the module under node:wasi, initialised as a reactor. */
async function underWasi(module: WebAssembly.Module, stderr?: number): Promise<WebAssembly.Instance> {
  const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true, ...(stderr !== undefined ? { stderr } : {}) });
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject() as WebAssembly.Imports);
  wasi.initialize(instance); // calls _initialize; throws if the module were a command (_start)
  return instance;
}

test('WASI build: imports only wasi_snapshot_preview1, exports a fixed memory sized from the layout, is a reactor', async () => {
  const { module, manifest } = await wasiBuild();
  assert.equal(manifest.wasi, true);
  assert.equal(manifest.threads, false);
  const imports = WebAssembly.Module.imports(module);
  assert.deepEqual(imports.filter((i) => i.module !== WASI_MODULE), [], 'no import outside wasi_snapshot_preview1 (no env.memory, no env.abort)');
  const exports = WebAssembly.Module.exports(module);
  assert.ok(exports.some((e) => e.name === 'memory' && e.kind === 'memory'), 'exports its memory');
  assert.ok(exports.some((e) => e.name === '_initialize' && e.kind === 'function'), 'reactor start _initialize');
  assert.ok(!exports.some((e) => e.name === '_start'), 'not a command');
  for (const k of manifest.kernels.filter((x) => x.exported)) assert.ok(exports.some((e) => e.name === k.name), `exports ${k.name}`);

  const memory = (await underWasi(module)).exports.memory as WebAssembly.Memory;
  assert.equal(memory.buffer.byteLength, manifest.memory.pages * 65536, 'initial memory = the layout\'s pages');
  assert.throws(() => memory.grow(1), RangeError, 'maximum = initial: the memory cannot grow');
});

test('WASI build under node:wasi runs the golden case through the host on the instance\'s memory', async () => {
  const { module, manifest } = await wasiBuild();
  const instance = await underWasi(module);
  const memory = instance.exports.memory as WebAssembly.Memory;
  const config = parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const weights = loadWeights(SafetensorsFile.parse(new Uint8Array(readFileSync(join(dir, 'model.safetensors')))), config);
  const model = await MaeModel.load({ config, weights, kernels: { module, manifest, instance } });
  try {
    assert.match(model.backendDescription, /SIMD128.*WASI/);
    const io = readTensors(join(dir, 'io.safetensors'));
    const batch = io.info('pixel_values').shape[0];
    const r = await model.forward(io.f32('pixel_values'), { batch, noise: io.f32('noise') });
    // The last image's prediction lies in the instance's exported memory, where the kernels wrote it.
    const { numPatches: L, patchDim: P } = model.shapes;
    const predAt = ARENA_BASE + manifest.memory.layout.buffers.pred.offset + P * 4;
    assert.deepEqual(new Float32Array(memory.buffer, predAt, L * P), r.pred.subarray((batch - 1) * L * P));
    assertClose(r.latent, io.f32('latent'), TENSOR_TOL, 'latent');
    assertClose(r.pred, io.f32('pred'), TENSOR_TOL, 'pred');
    assertExact(r.mask, io.f32('mask'), 'mask');
    assertExact(r.idsRestore, io.i64('ids_restore'), 'ids_restore');
    assertExact(r.idsKeep, io.i64('ids_keep'), 'ids_keep');
    assertClose([r.loss], io.f32('loss'), LOSS_TOL, 'loss');
    assertClose([r.lossNormPix], io.f32('loss_norm_pix'), LOSS_TOL, 'loss_norm_pix');
    assertClose(await model.encode(io.f32('pixel_values'), { batch }), io.f32('latent_all'), TENSOR_TOL, 'latent_all');
  } finally {
    model.dispose();
  }
});

test('WASI build from bytes without a WASI runtime: the host instantiates it on its own memory', async () => {
  const { bytes, manifest } = await wasiBuild();
  const model = await MaeModel.load({ config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), weights: new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), kernels: { module: bytes, manifest } });
  try {
    const io = readTensors(join(dir, 'io.safetensors'));
    const r = await model.forward(io.f32('pixel_values'), { batch: io.info('pixel_values').shape[0], noise: io.f32('noise') });
    assertClose(r.pred, io.f32('pred'), TENSOR_TOL, 'pred');
    assertClose([r.loss], io.f32('loss'), LOSS_TOL, 'loss');
  } finally {
    model.dispose();
  }
});

test('an instance is refused for a module that imports its memory (the normal build)', async () => {
  const { module: wasiModule, manifest } = await wasiBuild();
  const instance = await underWasi(wasiModule);
  // The smallest module importing env.memory, as every normal kernel module does.
  const module = await WebAssembly.compile(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 0x0f, 1, 3, ...Buffer.from('env'), 6, ...Buffer.from('memory'), 2, 0, 1]));
  const config = parseConfig(manifest.config);
  const weights = loadWeights(SafetensorsFile.parse(new Uint8Array(readFileSync(join(dir, 'model.safetensors')))), config);
  await assert.rejects(MaeModel.load({ config, weights, kernels: { module, manifest, instance } }), /imports its memory/);
});

test('the shim routes an abort through WASI: fd_write to stderr, then proc_exit', async () => {
  // The kernels never reach abort (no assertions, no allocation), so the kernel module imports no
  // WASI function at all; a module that does abort shows where the shim sends it.
  const wasm = await compileAssemblyScript('export function boom(): void { abort("boom"); }', 'simd128', false, { pages: 1 });
  const module = await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  assert.deepEqual(WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).sort(), [`${WASI_MODULE}.fd_write`, `${WASI_MODULE}.proc_exit`]);
  const errPath = join(tempDir(), 'stderr.txt');
  const fd = openSync(errPath, 'w');
  try {
    const instance = await underWasi(module, fd);
    assert.throws(() => (instance.exports.boom as () => void)());
  } finally {
    closeSync(fd);
  }
  assert.match(readFileSync(errPath, 'utf8'), /^abort: boom in /);
});
