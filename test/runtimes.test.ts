/**
 * The package in the runtimes edge users have: Deno and Bun (from their npm packages) importing
 * `edge-mae/edge` from the installed `npm pack` tarball, and Vercel's edge-runtime VM running an
 * 'edge-light' bundle with the kernel module compiled in the host realm. Each serves the bundled
 * model; every endpoint is checked over HTTP, and every number against Node's reference model with
 * SIMD128 kernels, bit for bit. Under CI a missing runtime binary fails the test.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel, encode, encodePng, loadImage, preprocess, reconstruct, renderFigure, score } from '../src/node/index.js';
import { DEFAULT_MODEL_DIR, DEFAULT_SAMPLES_DIR } from '../src/node/paths.js';
import { ROOT } from './helpers.js';
import { UNDER_CI } from './webgpu-support.js';
import { type ModelAssets, type RuntimeServer, buildAssets, bundleEdgeFunction, installPackedPackage, runtimeBinary, startEdgeRuntime, startProcessRuntime } from './support/runtimes.js';

const SAMPLE = new Uint8Array(readFileSync(join(DEFAULT_SAMPLES_DIR, readdirSync(DEFAULT_SAMPLES_DIR).filter((f) => f.endsWith('.png')).sort()[0])));
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** What Node's reference model answers, computed once. */
interface Expected {
  figurePng: Uint8Array;
  loss: number;
  lossNormPix: number;
  lossHalf: number;
  embedding: number[];
  score: number;
  scoreLoss: number;
}

let expected: Expected;
let withHalf: ModelAssets;
let plain: ModelAssets;
let project: string;

before(async () => {
  withHalf = buildAssets([0.5]);
  plain = buildAssets();
  project = installPackedPackage();
  const node = await MaeModel.load({ model: DEFAULT_MODEL_DIR, simd: 'simd128' });
  try {
    const px = preprocess(node, [loadImage(SAMPLE)]);
    const [row] = await reconstruct(node, px, node.preprocessor, { batch: 1, seed: 3 });
    const fig = renderFigure([row], {});
    const [half] = await reconstruct(node, px, node.preprocessor, { batch: 1, seed: 3, maskRatio: 0.5 });
    const [s] = await score(node, px, { batch: 1, seed: 7, repeats: 3 });
    const emb = await encode(node, px, { batch: 1, pool: 'mean' });
    expected = {
      figurePng: encodePng(fig.data, fig.width, fig.height, 3),
      loss: row.loss,
      lossNormPix: row.lossNormPix,
      lossHalf: half.loss,
      embedding: Array.from(emb),
      score: s.score,
      scoreLoss: s.loss,
    };
  } finally {
    node.dispose();
  }
});

const servers: RuntimeServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const dir of [project, withHalf?.dir, plain?.dir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function post(base: string, path: string, body: Uint8Array): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', body: body as Uint8Array<ArrayBuffer> });
}

async function assertJsonError(r: Response, what: string): Promise<string> {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}`);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/, what);
  const { error } = await r.json() as { error: unknown };
  assert.equal(typeof error, 'string', what);
  return error as string;
}

/** Every endpoint of a server on the module with 0.5 built in, and 0.5 refused by one without. */
async function checkEndpoints(served: RuntimeServer, refusing: RuntimeServer): Promise<void> {
  const base = served.url;
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  const h = await health.json() as { status: string; backend: string; model: { image_size: number } };
  assert.equal(h.status, 'ok');
  assert.match(h.backend, /^wasm: SIMD128, 1 thread/);
  assert.equal(h.model.image_size, 28);

  const rec = await post(base, '/reconstruct?seed=3', SAMPLE);
  assert.equal(rec.status, 200, await rec.clone().text());
  assert.equal(rec.headers.get('content-type'), 'image/png');
  const png = new Uint8Array(await rec.arrayBuffer());
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
  // The figure is drawn from the prediction: the same PNG bytes as Node's mean the same pixels.
  assert.deepEqual(png, expected.figurePng, 'the figure PNG, byte for byte as Node encodes it');
  assert.equal(Number(rec.headers.get('x-loss')), expected.loss, 'loss, bit for bit');
  assert.equal(Number(rec.headers.get('x-loss-norm-pix')), expected.lossNormPix, 'normalised-pixel loss, bit for bit');

  const enc = await post(base, '/encode', SAMPLE);
  assert.equal(enc.status, 200);
  const e = await enc.json() as { pool: string; dim: number; embedding: number[] };
  assert.equal(e.pool, 'mean');
  assert.equal(e.dim, 128);
  assert.deepEqual(e.embedding, expected.embedding, 'embedding, bit for bit');

  const sc = await post(base, '/score?seed=7&repeats=3', SAMPLE);
  assert.equal(sc.status, 200);
  const s = await sc.json() as { score: number; loss: number; repeats: number; maskRatio: number };
  assert.deepEqual({ score: s.score, loss: s.loss, repeats: s.repeats, maskRatio: s.maskRatio }, { score: expected.score, loss: expected.scoreLoss, repeats: 3, maskRatio: 0.75 });

  await assertJsonError(await post(base, '/reconstruct', new TextEncoder().encode('not an image, just text')), 'garbage body');
  await assertJsonError(await post(base, '/score?repeats=zero', SAMPLE), 'bad parameter');

  const half = await post(base, '/reconstruct?mask_ratio=0.5&seed=3', SAMPLE);
  assert.equal(half.status, 200, `mask_ratio=0.5 on a module built with it: ${await half.clone().text()}`);
  assert.equal(Number(half.headers.get('x-loss')), expected.lossHalf, 'loss at mask ratio 0.5, bit for bit');
  await half.arrayBuffer();

  const refused = await post(refusing.url, '/reconstruct?mask_ratio=0.5&seed=3', SAMPLE);
  assert.equal(refused.status, 400);
  assert.match(await assertJsonError(refused, 'mask_ratio=0.5 on a module without it'), /serves mask ratios 0 \(all 49 patches\), \(0\.7347, 0\.7551\] \(12 kept\)/);
}

test('the installed package resolves: edge-mae/edge and the workerd/edge-light conditions to the edge entry (before node), plain Node to the Node entry', () => {
  const resolve = (specifier: string, conditions: string[]): string => {
    const r = spawnSync(process.execPath, [...conditions.map((c) => `--conditions=${c}`), '--input-type=module', '-e', `console.log(import.meta.resolve(${JSON.stringify(specifier)}))`], { cwd: project, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().replace(/^.*\/node_modules\/edge-mae\//, '');
  };
  // Node always matches 'node' too: only conditions listed before it win.
  assert.equal(resolve('edge-mae', []), 'dist/src/node/index.js');
  assert.equal(resolve('edge-mae', ['workerd']), 'dist/src/index.js');
  assert.equal(resolve('edge-mae', ['edge-light']), 'dist/src/index.js');
  assert.equal(resolve('edge-mae/edge', []), 'dist/src/index.js');
  const pkg = JSON.parse(readFileSync(join(project, 'node_modules', 'edge-mae', 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
  assert.equal(pkg.exports['./edge'].types, './dist/src/index.d.ts');
  assert.ok(existsSync(join(project, 'node_modules', 'edge-mae', 'dist', 'src', 'index.d.ts')), 'the types are in the tarball');
});

for (const name of ['deno', 'bun'] as const) {
  test(`${name}: edge-mae/edge from the packed package, served with ${name === 'deno' ? 'Deno.serve' : 'Bun.serve'}, answers every endpoint with Node's numbers`, { timeout: 60_000 }, async (t) => {
    const bin = runtimeBinary(name);
    if ('missing' in bin) {
      if (UNDER_CI) assert.fail(bin.missing);
      t.skip(bin.missing);
      return;
    }
    const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies[name];
    assert.ok(bin.version.includes(pinned), `${name} ${bin.version}, pinned ${pinned}`);
    const served = await startProcessRuntime(name, bin.path, project, withHalf);
    servers.push(served);
    const refusing = await startProcessRuntime(name, bin.path, project, plain);
    servers.push(refusing);
    await checkEndpoints(served, refusing);
  });
}

test('edge-runtime (Vercel): the edge-light bundle in an EdgeRuntime VM, kernel module compiled in the host realm, answers every endpoint with Node\'s numbers', { timeout: 60_000 }, async () => {
  const bundle = await bundleEdgeFunction(project);
  const served = await startEdgeRuntime(bundle, withHalf);
  servers.push(served);
  const refusing = await startEdgeRuntime(bundle, plain);
  servers.push(refusing);
  await checkEndpoints(served, refusing);
});
