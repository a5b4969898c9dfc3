/**
 * The serverless handler: routes, 4xx JSON errors for bad input, results equal to the API's, and a
 * bounded loopback load test through the Node http adapter (1000 requests, 8 at a time, valid and
 * invalid bodies mixed): no 5xx, every invalid request a 4xx JSON error, memory flat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/model.js';
import { createHandler } from '../src/serve/handler.js';
import { decodeImage } from '../src/image/decode.js';
import { encodePng } from '../src/image/encode-png.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { reconstruct } from '../src/jobs/reconstruct.js';
import { DEFAULT_MODEL_DIR, DEFAULT_SAMPLES_DIR } from '../src/node/paths.js';
import { startApiServer, runLoad } from './support/handler-load.js';

const samples = readdirSync(DEFAULT_SAMPLES_DIR).filter((f) => f.endsWith('.png')).map((f) => new Uint8Array(readFileSync(join(DEFAULT_SAMPLES_DIR, f))));
const post = (path: string, body?: BodyInit, method = 'POST'): Request => new Request(`http://edge.test${path}`, { method, body });

test('handler routes: healthz, reconstruct (PNG + losses equal to the API), encode, score', async () => {
  const model = await MaeModel.load(DEFAULT_MODEL_DIR);
  const h = createHandler({ model });
  try {
    const health = await h.fetch(post('/healthz', undefined, 'GET'));
    assert.equal(health.status, 200);
    assert.equal((await health.json() as { status: string }).status, 'ok');

    const r = await h.fetch(post('/reconstruct?seed=7&mask_ratio=0.5&scale=2', samples[0]));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/png');
    const fig = decodeImage(new Uint8Array(await r.arrayBuffer()));
    assert.equal(fig.height, 4 + 28 * 2 + 4);
    const pixels = preprocessImage(decodeImage(samples[0]), model.preprocessor, 1);
    const [row] = await reconstruct(model, pixels, model.preprocessor, { batch: 1, seed: 7, maskRatio: 0.5 });
    assert.equal(Number(r.headers.get('x-loss')), row.loss);
    assert.equal(Number(r.headers.get('x-loss-norm-pix')), row.lossNormPix);

    const e = await h.fetch(post('/encode?pool=cls', samples[1]));
    assert.equal(e.status, 200);
    const emb = await e.json() as { dim: number; embedding: number[] };
    assert.equal(emb.dim, 128);
    assert.equal(emb.embedding.length, 128);
    const latent = await model.encode(preprocessImage(decodeImage(samples[1]), model.preprocessor, 1), { batch: 1 });
    assert.deepEqual(emb.embedding, Array.from(latent.subarray(0, 128)));

    const s = await h.fetch(post('/score?repeats=3&seed=1', samples[2]));
    assert.equal(s.status, 200);
    const sc = await s.json() as { score: number; repeats: number };
    assert.equal(sc.repeats, 3);
    assert.ok(sc.score > 0 && Number.isFinite(sc.score));
  } finally {
    model.dispose();
  }
});

test('handler answers bad input with a specific 4xx JSON error', async () => {
  const model = await MaeModel.load(DEFAULT_MODEL_DIR);
  const h = createHandler({ model, limits: { maxBodyBytes: 4096, maxImageSide: 64 } });
  const big = new Uint8Array(80 * 51);
  const cases: Array<[Request, number, RegExp]> = [
    [post('/reconstruct', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), 400, /unsupported image format/],
    [post('/reconstruct'), 400, /empty body/],
    [post('/encode', samples[0].subarray(0, 60)), 400, /truncated|PNG/],
    [post('/score?repeats=0', samples[0]), 400, /'repeats' must be an integer from 1 to 32/],
    [post('/reconstruct?mask_ratio=1', samples[0]), 400, /'mask_ratio' must be a number in \[0, 1\)/],
    [post('/encode?pool=max', samples[0]), 400, /'pool' must be mean or cls/],
    [post('/reconstruct', new Uint8Array(5000)), 413, /exceeds the 4096-byte limit/],
    [post('/reconstruct', encodePng(big, 80, 51, 1) as Uint8Array<ArrayBuffer>), 413, /80×51, larger than the 64-pixel limit/],
    [post('/reconstruct', encodePng(new Uint8Array(32 * 32), 32, 32, 1) as Uint8Array<ArrayBuffer>), 400, /32×32 but the model needs 28×28/],
    [post('/nope', samples[0]), 404, /no route \/nope/],
    [post('/reconstruct', undefined, 'GET'), 405, /use POST/],
  ];
  try {
    for (const [req, status, message] of cases) {
      const res = await h.fetch(req);
      assert.equal(res.status, status, `${req.method} ${req.url}`);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.match((await res.json() as { error: string }).error, message);
    }
  } finally {
    model.dispose();
  }
});

test('loopback load: 1000 requests, 8 concurrent, mixed bodies — no 5xx, invalid ones 4xx JSON, RSS flat', { timeout: 300_000 }, async () => {
  const server = await startApiServer();
  try {
    const statuses = new Map<number, number>();
    let rssAt100 = 0;
    await runLoad(server.base, 1000, 8, async (k, res, body, _ms, done) => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = new TextDecoder().decode(body);
      assert.ok(res.status < 500, `${k.path}: ${res.status} ${text.slice(0, 200)}`);
      if (k.valid) assert.equal(res.status, 200, `${k.path}: ${text.slice(0, 200)}`);
      else {
        assert.ok(res.status >= 400 && res.status < 500, `${k.path}: ${res.status}`);
        assert.equal(res.headers.get('content-type'), 'application/json');
        assert.ok(typeof (JSON.parse(text) as { error: string }).error === 'string');
      }
      if (done === 100) rssAt100 = await server.rss();
    });
    const rssEnd = await server.rss();
    assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), 1000);
    assert.ok(Math.abs(rssEnd - rssAt100) <= 0.1 * rssAt100, `RSS after 1000 requests ${(rssEnd / 2 ** 20).toFixed(1)} MiB vs ${(rssAt100 / 2 ** 20).toFixed(1)} MiB after 100`);
  } finally {
    server.stop();
  }
});
