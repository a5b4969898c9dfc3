/**
 * The Cloudflare example (examples/cloudflare-worker) as a user runs it: its own `npm run assets`,
 * then its own wrangler (`wrangler dev`, local mode: workerd on loopback, no network) serving the
 * bundled model. Every endpoint is checked, and the answers are compared with the Node reference
 * run of the same model (the same numbers bit for bit: same kernels, same seeds).
 *
 * The example's dependencies come from `npm ci` in its folder (.ci/run). Without its wrangler the
 * suite is skipped with the reason, except under CI=true, where it fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/model.js';
import '../src/node/index.js';
import { decodeImage } from '../src/image/decode.js';
import { encodePng } from '../src/image/encode-png.js';
import { preprocess } from '../src/jobs/preprocess.js';
import { reconstruct } from '../src/jobs/reconstruct.js';
import { renderFigure } from '../src/jobs/figure.js';
import { embed } from '../src/jobs/embed.js';
import { DEFAULT_MODEL_DIR } from '../src/node/paths.js';
import { runCli } from './helpers.js';
import { type WranglerServer, startWrangler, wranglerMissing } from './support/wrangler.js';

const IN_CI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
const SAMPLE = join(DEFAULT_MODEL_DIR, 'samples', 'test-0-ankle-boot.png');
const SEED = 3;
const REPEATS = 4;
/** The whole suite, wrangler's start included. */
const SUITE_MS = 90_000;

const missing = wranglerMissing();
const skip = missing && !IN_CI ? missing : false;

function isFiniteArray(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

describe('Cloudflare example on workerd (wrangler dev)', { skip, timeout: SUITE_MS }, () => {
  let server: WranglerServer | undefined;
  let base = '';
  const sample = new Uint8Array(readFileSync(SAMPLE));

  before(async () => {
    if (missing) assert.fail(`CI=true and ${missing}`);
    server = await startWrangler();
    base = server.url;
  });

  after(async () => {
    await server?.stop();
  });

  const post = (path: string, body: Uint8Array | string): Promise<Response> => fetch(base + path, { method: 'POST', body: body as BodyInit });

  test('GET /healthz: the bundled model on the precompiled SIMD128 kernels', async () => {
    const res = await fetch(base + '/healthz');
    assert.equal(res.status, 200);
    const j = await res.json() as { status: string; backend: string; model: { image_size: number; num_channels: number } };
    assert.equal(j.status, 'ok');
    assert.match(j.backend, /^wasm: SIMD128/);
    assert.deepEqual([j.model.image_size, j.model.num_channels], [28, 1]);
  });

  test('POST /reconstruct, /encode: the same PNG and embedding as the Node reference', async () => {
    const model = await MaeModel.load({ model: DEFAULT_MODEL_DIR, simd: 'simd128' });
    try {
      const px = preprocess(model, [decodeImage(sample, SAMPLE)]);
      const [row] = await reconstruct(model, px, model.preprocessor, { batch: 1, seed: SEED });
      const fig = renderFigure([row!], {});
      const want = encodePng(fig.data, fig.width, fig.height, 3);

      const res = await post(`/reconstruct?seed=${SEED}`, sample);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get('content-type'), 'image/png');
      const png = new Uint8Array(await res.arrayBuffer());
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
      const dv = new DataView(png.buffer, png.byteOffset);
      assert.deepEqual([dv.getUint32(16), dv.getUint32(20)], [fig.width, fig.height], 'IHDR size = the figure of 3 panels');
      assert.equal(Number(res.headers.get('x-loss')), row!.loss, 'loss: workerd vs Node');
      assert.ok(Buffer.from(png).equals(Buffer.from(want)), 'the PNG is byte-identical to the Node run');

      const enc = await post('/encode', sample);
      assert.equal(enc.status, 200);
      const e = await enc.json() as { dim: number; embedding: number[] };
      assert.equal(e.dim, model.config.hiddenSize);
      assert.ok(isFiniteArray(e.embedding));
      assert.deepEqual(e.embedding, Array.from(await embed(model, px, { batch: 1, pool: 'mean' })), 'embedding: workerd vs Node');
    } finally {
      model.dispose();
    }
  });

  test('POST /score: the loss and score of `edge-mae score` with the same seed', async () => {
    const res = await post(`/score?seed=${SEED}&repeats=${REPEATS}`, sample);
    assert.equal(res.status, 200);
    const s = await res.json() as { score: number; loss: number; repeats: number };
    assert.ok(Number.isFinite(s.score) && Number.isFinite(s.loss) && s.score > 0, JSON.stringify(s));
    assert.equal(s.repeats, REPEATS);
    const cli = runCli(['score', SAMPLE, '--seed', String(SEED), '--repeats', String(REPEATS), '--format', 'jsonl']);
    assert.equal(cli.status, 0, cli.stderr);
    const ref = JSON.parse(cli.stdout.trim()) as { score: number; loss: number };
    assert.deepEqual([s.score, s.loss], [ref.score, ref.loss], 'score, loss: workerd vs node bin/edge-mae.js');
  });

  test('a garbage body: 4xx JSON naming the problem', async () => {
    const res = await post('/reconstruct', 'this is not an image');
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const j = await res.json() as { error: string };
    assert.match(j.error, /image/);
  });

  test('?mask_ratio=0.5: served (the example builds its kernels with that ratio), the loss of the Node run; 0.3: a 4xx naming the ratios served', async () => {
    const res = await post(`/reconstruct?mask_ratio=0.5&seed=${SEED}`, sample);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'image/png');
    const model = await MaeModel.load({ model: DEFAULT_MODEL_DIR, simd: 'simd128' });
    try {
      const px = preprocess(model, [decodeImage(sample, SAMPLE)]);
      const [row] = await reconstruct(model, px, model.preprocessor, { batch: 1, seed: SEED, maskRatio: 0.5 });
      assert.equal(Number(res.headers.get('x-loss')), row!.loss, 'loss at mask ratio 0.5: workerd vs Node');
    } finally {
      model.dispose();
    }
    const other = await post('/reconstruct?mask_ratio=0.3', sample);
    assert.ok(other.status >= 400 && other.status < 500, `mask_ratio=0.3: status ${other.status} ${await other.clone().text()}`);
    assert.match(other.headers.get('content-type') ?? '', /application\/json/);
    assert.match((await other.json() as { error: string }).error, /serves mask ratios .*\(24 kept\)/, "names the ratios served, 0.5 (24 kept) among them");
  });
});
