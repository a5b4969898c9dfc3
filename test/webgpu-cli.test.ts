/**
 * Choosing the backend: `edge-mae forward/encode --device webgpu` on a golden case (same tensors
 * and bounds as WASM), 'auto' with and without an adapter (a child process whose VK_ICD_FILENAMES
 * names no file: no Vulkan driver, so no adapter), an explicit 'webgpu' that cannot be had, and
 * the API's reasons when the GPU source has no GPU or the adapter's limits are too small.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { parseConfig } from '../src/config.js';
import { SafetensorsFile } from '../src/safetensors.js';
import { loadWeights } from '../src/weights.js';
import { compileKernels } from '../src/node/load.js';
import { KernelError } from '../src/errors.js';
import type { Gpu, GpuAdapter } from '../src/backend/webgpu-types.js';
import { GOLDEN, LOSS_TOL, ROOT, TENSOR_TOL, assertClose, assertExact, readTensors, tempDir, type CliResult } from './helpers.js';
import { GPU_TEST_TIMEOUT_MS, gpuChildEnv, needWebGpu } from './webgpu-support.js';

const DIR = join(GOLDEN, 'tiny');
const IO = join(DIR, 'io.safetensors');

/** bin/edge-mae.js with a time limit (no GPU watchdog on CPU drivers). */
function cli(args: string[], env: Record<string, string | undefined>): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'edge-mae.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: ROOT, timeout: 240_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** No Vulkan driver at all: the loader finds no ICD, Dawn no adapter. */
const NO_ADAPTER = { VK_ICD_FILENAMES: '/nonexistent/edge-mae-no-such-icd.json' };

test('CLI: forward and encode --device webgpu on golden tiny write the reference tensors and say webgpu ran', { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
  if (!(await needWebGpu(t))) return;
  const io = readTensors(IO);
  const out = tempDir();
  const fw = cli(['forward', '--model', DIR, '--inputs', IO, '--out', join(out, 'fw.safetensors'), '--device', 'webgpu'], gpuChildEnv());
  assert.equal(fw.status, 0, fw.stderr);
  assert.match(fw.stdout, /\(webgpu: .*generated WGSL kernels/);
  const r = readTensors(join(out, 'fw.safetensors'));
  for (const name of ['latent', 'pred']) assertClose(r.f32(name), io.f32(name), TENSOR_TOL, name);
  assertExact(r.f32('mask'), io.f32('mask'), 'mask');
  assertExact(r.i64('ids_restore'), io.i64('ids_restore'), 'ids_restore');
  for (const name of ['loss', 'loss_norm_pix']) assertClose(r.f32(name), io.f32(name), LOSS_TOL, name);

  const enc = cli(['encode', '--model', DIR, '--inputs', IO, '--out', join(out, 'enc.safetensors'), '--device', 'webgpu'], gpuChildEnv());
  assert.equal(enc.status, 0, enc.stderr);
  assert.match(enc.stdout, /\(webgpu: /);
  assertClose(readTensors(join(out, 'enc.safetensors')).f32('latent_all'), io.f32('latent_all'), TENSOR_TOL, 'latent_all');
});

test('CLI: --device auto takes WebGPU when there is an adapter, and says so', { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
  if (!(await needWebGpu(t))) return;
  const out = tempDir();
  const enc = cli(['encode', '--model', DIR, '--inputs', IO, '--out', join(out, 'enc.safetensors'), '--device', 'auto'], gpuChildEnv());
  assert.equal(enc.status, 0, enc.stderr);
  assert.match(enc.stdout, /\(webgpu: .*\(auto\)\)/);
  assertClose(readTensors(join(out, 'enc.safetensors')).f32('latent_all'), readTensors(IO).f32('latent_all'), TENSOR_TOL, 'latent_all');
});

test('CLI: --device auto without any adapter runs on WASM and says why', { timeout: GPU_TEST_TIMEOUT_MS }, () => {
  const out = tempDir();
  const enc = cli(['encode', '--model', DIR, '--inputs', IO, '--out', join(out, 'enc.safetensors'), '--device', 'auto'], NO_ADAPTER);
  assert.equal(enc.status, 0, enc.stderr);
  // With the optional package installed the reason is the missing adapter; without it, the package.
  assert.match(enc.stdout, /\(wasm: .*\(auto: webgpu: (no adapter|the optional 'webgpu' package)/);
  assertClose(readTensors(join(out, 'enc.safetensors')).f32('latent_all'), readTensors(IO).f32('latent_all'), TENSOR_TOL, 'latent_all');
});

test('CLI: --device webgpu without any adapter fails in one line saying why', { timeout: GPU_TEST_TIMEOUT_MS }, () => {
  const out = tempDir();
  const fw = cli(['forward', '--model', DIR, '--inputs', IO, '--out', join(out, 'fw.safetensors'), '--device', 'webgpu'], NO_ADAPTER);
  assert.equal(fw.status, 1, fw.stdout);
  assert.match(fw.stderr, /^edge-mae: device 'webgpu' is not available: webgpu: (no adapter|the optional 'webgpu' package)/m);
  const bad = cli(['forward', '--model', DIR, '--inputs', IO, '--out', join(out, 'fw.safetensors'), '--device', 'cuda'], {});
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--device.*cuda.*(auto|wasm|webgpu)/s);
});

async function tinySource() {
  const config = parseConfig(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')));
  const weights = loadWeights(SafetensorsFile.parse(new Uint8Array(readFileSync(join(DIR, 'model.safetensors')))), config);
  return { config, weights, kernels: await compileKernels(config) };
}

/** An adapter whose storage buffers are too small for any model. */
const tinyAdapter: GpuAdapter = {
  limits: { maxStorageBufferBindingSize: 1024, maxBufferSize: 1024, maxStorageBuffersPerShaderStage: 8, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupsPerDimension: 65535, maxUniformBufferBindingSize: 65536, minUniformBufferOffsetAlignment: 256 },
  requestDevice: () => Promise.reject(new Error('not reached')),
};

test('API: device auto falls back to WASM with the reason in backendDescription; device webgpu is a KernelError', async () => {
  const src = await tinySource();
  const none = async (): Promise<string> => 'webgpu: no GPU in this test';
  const auto = await MaeModel.load({ ...src, device: 'auto', gpu: none });
  try {
    assert.equal(auto.backendKind, 'wasm');
    assert.match(auto.backendDescription, /^wasm: .*\(auto: webgpu: no GPU in this test\)$/);
    const io = readTensors(IO);
    assertClose(await auto.encode(io.f32('pixel_values'), { batch: 2 }), io.f32('latent_all'), TENSOR_TOL, 'latent_all');
  } finally {
    auto.dispose();
  }

  const noAdapter: Gpu = { requestAdapter: async () => null };
  await assert.rejects(MaeModel.load({ ...src, device: 'webgpu', gpu: async () => noAdapter }), (e: Error) => e instanceof KernelError && /device 'webgpu' is not available: webgpu: no adapter/.test(e.message));

  const small: Gpu = { requestAdapter: async () => tinyAdapter };
  const fits = await MaeModel.load({ ...src, device: 'auto', gpu: async () => small });
  try {
    assert.match(fits.backendDescription, /\(auto: webgpu: the model needs maxStorageBufferBindingSize [\d.]+ MiB, the adapter allows 0\.0 MiB\)$/);
  } finally {
    fits.dispose();
  }
  await assert.rejects(MaeModel.load({ ...src, device: 'webgpu', gpu: async () => small }), /maxStorageBufferBindingSize/);
  await assert.rejects(MaeModel.load({ ...src, device: 'tpu' as never }), /device must be one of auto, wasm, webgpu/);
});
