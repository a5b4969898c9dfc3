/**
 * The edge section of `npm run bench`: what a deployment pays.
 *   - kernel module size per config (raw and gzip; SIMD128, relaxed, WASI for the default model);
 *   - cold start: a fresh process from nothing to the first forward result (default model,
 *     vit-mae-base), kernels cached;
 *   - the serverless handler under a bounded load on loopback: 1000 requests, 8 concurrent,
 *     valid and invalid bodies mixed — throughput, p50/p99 latency of the valid ones, server RSS
 *     after the first 100 and after all 1000 requests;
 *   - the bundled model on WebGPU beside WASM when an adapter is present (labelled when the
 *     adapter is a CPU driver);
 *   - PNG encoding of the reconstruction figures, in Node and inside node:vm (bench/png.ts).
 *   - the handler's latency per runtime: Node, Deno, Bun, Vercel's edge-runtime (edge-runtimes.ts).
 * Writes its JSON to --out.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { preset } from '../src/config.js';
import { readConfig } from '../src/node/load.js';
import { DEFAULT_MODEL_DIR } from '../src/node/paths.js';
import { runLoad, startApiServer } from '../test/support/handler-load.js';
import { buildKernels } from '../codegen/compile.js';
import { ensureBaseAssets } from './assets.js';
import { pngEncoding } from './png.js';
import { runtimeLatency } from './edge-runtimes.js';
import { log, parseArgs, sectionMain } from './timing.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const args = parseArgs();

async function moduleSizes(): Promise<Array<Record<string, unknown>>> {
  const configs = [
    ['mae-fashion-mnist', readConfig(DEFAULT_MODEL_DIR)],
    ['golden tiny', readConfig(join(ROOT, 'test', 'fixtures', 'golden', 'tiny'))],
    ['golden small', readConfig(join(ROOT, 'test', 'fixtures', 'golden', 'small'))],
    ['vit-mae-base', preset('vit-mae-base')],
    ['vit-mae-large', preset('vit-mae-large')],
  ] as const;
  const rows = [];
  for (const [name, cfg] of configs) {
    for (const variant of [{ simd: 'simd128' as const }, { simd: 'relaxed' as const }, ...(name === 'mae-fashion-mnist' ? [{ simd: 'simd128' as const, wasi: true }] : [])]) {
      const k = await buildKernels(cfg, variant);
      rows.push({ config: name, variant: `${variant.simd}${'wasi' in variant ? ' wasi' : ''}`, raw: k.wasm.length, gzip: gzipSync(k.wasm, { level: 9 }).length, kernels: k.manifest.kernels.filter((x) => x.exported).length });
    }
  }
  return rows;
}

/** A fresh node process: load the model (kernels cached), run one forward; wall time from spawn to its result. */
function coldStart(model: string): { ms: number[] } {
  const code = `const t=performance.now();const {MaeModel}=await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'node', 'index.js'))});` +
    `const m=await MaeModel.load(${JSON.stringify(model)});const c=m.config;const px=new Float32Array(c.numChannels*c.imageSize*c.imageSize).fill(0.1);` +
    `await m.forward(px,{batch:1});process.stdout.write('ok');`;
  const ms: number[] = [];
  for (let i = 0; i < (args.quick ? 2 : 3); i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    if (r.stdout !== 'ok') throw new Error(`cold start of ${model} failed: ${r.stderr}`);
    ms.push(Math.round(performance.now() - t0));
  }
  return { ms };
}

async function handlerLoad(): Promise<Record<string, unknown>> {
  const server = await startApiServer();
  try {
    const rssStart = await server.rss();
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let rss100 = 0;
    const t0 = performance.now();
    await runLoad(server.base, 1000, 8, async (k, res, _body, ms, done) => {
      if (k.valid) latencies.push(ms);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (done === 100) rss100 = await server.rss();
    });
    const seconds = (performance.now() - t0) / 1000;
    const rssEnd = await server.rss();
    latencies.sort((a, b) => a - b);
    const q = (p: number): number => +latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2);
    return { requests: 1000, concurrency: 8, seconds: +seconds.toFixed(2), requestsPerSecond: +(1000 / seconds).toFixed(1), validP50ms: q(0.5), validP99ms: q(0.99), statuses, rssStartMiB: +(rssStart / 2 ** 20).toFixed(1), rssAfter100MiB: +(rss100 / 2 ** 20).toFixed(1), rssAfter1000MiB: +(rssEnd / 2 ** 20).toFixed(1) };
  } finally {
    server.stop();
  }
}

/**
 * The bundled model's forward (its 16 reference images) on WASM and, when an adapter can be had,
 * on WebGPU, with the adapter's description. A CPU Vulkan driver (SwiftShader, lavapipe) says
 * nothing about GPU speed: the row is labelled with what ran.
 */
async function webgpuVsWasm(): Promise<Array<Record<string, unknown>>> {
  const { MaeModel } = await import('../src/node/index.js');
  const { SafetensorsFile } = await import('../src/safetensors.js');
  const ref = SafetensorsFile.parse(new Uint8Array(readFileSync(join(DEFAULT_MODEL_DIR, 'reference.safetensors'))));
  const pixels = ref.f32('pixel_values');
  const noise = ref.f32('noise');
  const batch = ref.info('pixel_values').shape[0];
  const rows = [];
  for (const device of ['wasm', 'webgpu'] as const) {
    let model;
    try {
      model = await MaeModel.load({ model: DEFAULT_MODEL_DIR, device });
    } catch (e) {
      rows.push({ device, skipped: (e as Error).message });
      continue;
    }
    try {
      await model.forward(pixels, { batch, noise });
      const ms: number[] = [];
      for (let i = 0; i < (args.quick ? 2 : 4); i++) {
        const t0 = performance.now();
        await model.forward(pixels, { batch, noise });
        ms.push(+(performance.now() - t0).toFixed(1));
      }
      const cpuDriver = /swiftshader|llvmpipe|lavapipe|fallback/i.test(model.backendDescription);
      rows.push({ device, backend: model.backendDescription, images: batch, ms, note: device === 'webgpu' && cpuDriver ? 'CPU Vulkan driver: correctness only, not GPU speed' : undefined });
    } finally {
      model.dispose();
    }
  }
  return rows;
}

const sizes = await moduleSizes();
log('edge: module sizes done');
const baseDir = ensureBaseAssets().dir;
const cold = { 'mae-fashion-mnist': coldStart(DEFAULT_MODEL_DIR), 'vit-mae-base': coldStart(baseDir) };
log('edge: cold starts done');
const handler = await handlerLoad();
log('edge: handler load done');
const webgpu = await webgpuVsWasm();
log('edge: webgpu vs wasm done');
const png = await pngEncoding(args.quick);
log('edge: PNG encoding done');
const runtimes = await runtimeLatency(!!args.quick);
log('edge: runtimes done');
const result = { sizes, coldStartMs: cold, handler, webgpu, png, runtimes };
await sectionMain('edge', async () => result);
