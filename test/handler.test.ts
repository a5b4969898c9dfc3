/**
 * The serverless handler: routes, 4xx JSON errors for bad input, results equal to the API's,
 * options checked at creation, a bounded queue, and a loopback load test through the Node http
 * adapter (4000 requests, 8 at a time, valid and invalid bodies mixed): no 5xx, every invalid
 * request a 4xx JSON error, memory flat once warmed up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { UsageError } from '../src/errors.js';
import { createHandler } from '../src/serve/handler.js';
import { crc32, decodeImage } from '../src/image/decode.js';
import { encodePng } from '../src/image/encode-png.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { reconstruct } from '../src/jobs/reconstruct.js';
import { DEFAULT_MODEL_DIR, DEFAULT_SAMPLES_DIR } from '../src/node/paths.js';
import { type ApiServer, type LoadRequest, type ServerMemory, loadRequests, runLoad, startApiServer } from './support/handler-load.js';
import { nonResizingModel } from './helpers.js';

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
    [post('/score?mask_ratio=0', samples[0]), 400, /'mask_ratio' must be a number in \(0, 1\) for a score/],
    [post('/reconstruct?mask_ratio=1', samples[0]), 400, /'mask_ratio' must be a number in \[0, 1\)/],
    [post('/encode?pool=max', samples[0]), 400, /'pool' must be mean or cls/],
    [post('/reconstruct', new Uint8Array(5000)), 413, /exceeds the 4096-byte limit/],
    [post('/reconstruct', encodePng(big, 80, 51, 1) as Uint8Array<ArrayBuffer>), 413, /80×51, larger than the 64-pixel limit/],
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

test('an image of another size: resized by the bundled model (do_resize true), refused with a 400 by a model that does not resize', async () => {
  const png = encodePng(new Uint8Array(32 * 32).map((_, i) => i & 0xff), 32, 32, 1) as Uint8Array<ArrayBuffer>;
  const resizing = await MaeModel.load(DEFAULT_MODEL_DIR);
  try {
    const res = await createHandler({ model: resizing }).fetch(post('/score', png));
    assert.equal(res.status, 200, await res.clone().text());
    assert.ok(Number.isFinite((await res.json() as { score: number }).score));
  } finally {
    resizing.dispose();
  }
  const fixed = await MaeModel.load(nonResizingModel());
  try {
    const res = await createHandler({ model: fixed }).fetch(post('/reconstruct', png));
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.match((await res.json() as { error: string }).error, /32×32 but the model needs 28×28/);
  } finally {
    fixed.dispose();
  }
});

test('createHandler without a model, or with a limit that is not a positive integer, throws a UsageError at once', async () => {
  assert.throws(() => createHandler({} as never), (e: unknown) => e instanceof UsageError && /options\.model must be a loaded MaeModel/.test(e.message));
  assert.throws(() => createHandler(undefined as never), UsageError);
  assert.throws(() => createHandler({ model: DEFAULT_MODEL_DIR } as never), UsageError);
  const model = await MaeModel.load(DEFAULT_MODEL_DIR);
  try {
    for (const [name, v] of [['maxPendingRequests', 0], ['maxBodyBytes', -1], ['maxRepeats', 1.5], ['maxImageSide', NaN]] as const) {
      assert.throws(() => createHandler({ model, limits: { [name]: v } }), (e: unknown) => e instanceof UsageError && e.message.includes(`limits.${name} must be a positive integer`), name);
    }
  } finally {
    model.dispose();
  }
});

test('a full queue answers 503 with Retry-After before reading the body; a slot frees when a request ends', async () => {
  const model = await MaeModel.load(DEFAULT_MODEL_DIR);
  const h = createHandler({ model, limits: { maxPendingRequests: 2 } });
  try {
    // Two uploads whose bodies have not arrived yet hold the two slots.
    const held = [0, 1].map(() => {
      let finish!: () => void;
      const body = new ReadableStream<Uint8Array>({ start: (c) => { c.enqueue(samples[0].subarray(0, 10)); finish = () => { c.enqueue(samples[0].subarray(10)); c.close(); }; } });
      const res = h.fetch(new Request('http://edge.test/score', { method: 'POST', body, duplex: 'half' } as RequestInit));
      return { res, finish };
    });
    await new Promise((r) => setTimeout(r, 50));
    let bodyRead = false;
    const third = new ReadableStream<Uint8Array>({ pull: (c) => { bodyRead = true; c.enqueue(samples[1]); c.close(); } }, { highWaterMark: 0 });
    const busy = await h.fetch(new Request('http://edge.test/encode', { method: 'POST', body: third, duplex: 'half' } as RequestInit));
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.equal(busy.headers.get('content-type'), 'application/json');
    assert.match((await busy.json() as { error: string }).error, /busy: 2 requests already admitted \(limit 2\)/);
    assert.equal(bodyRead, false, 'the refused body was not read');
    assert.equal((await h.fetch(post('/healthz', undefined, 'GET'))).status, 200, '/healthz is not queued');
    for (const { finish } of held) finish();
    for (const { res } of held) assert.equal((await res).status, 200);
    assert.equal((await h.fetch(post('/encode', samples[1]))).status, 200, 'slots are given back');
    // Refused requests give their slot back too.
    for (let i = 0; i < 3; i++) assert.equal((await h.fetch(post('/score?repeats=0', samples[0]))).status, 400);
    assert.equal((await h.fetch(post('/score', samples[0]))).status, 200);
  } finally {
    model.dispose();
  }
});

/** `png` with a `bytes`-long tEXt chunk after IHDR: a valid image with a larger body, as editors write them. */
function withTextChunk(png: Uint8Array, bytes: number): Uint8Array<ArrayBuffer> {
  const text = new Uint8Array(12 + bytes);
  const dv = new DataView(text.buffer);
  dv.setUint32(0, bytes);
  text.set(new TextEncoder().encode('tEXtComment\0'), 4);
  text.fill(0x78, 16, 8 + bytes);
  dv.setUint32(8 + bytes, crc32(text, 4, 8 + bytes));
  const ihdrEnd = 8 + 25;
  const out = new Uint8Array(png.length + text.length);
  out.set(png.subarray(0, ihdrEnd));
  out.set(text, ihdrEnd);
  out.set(png.subarray(ihdrEnd), ihdrEnd + text.length);
  return out;
}

/** Requests before memory is first measured: V8 and the allocator settle over the first ~1,500 (measured: after that, post-GC heap and external memory grow < 0.4 MiB in 2,500 more). */
const WARM_UP = 1500;
const MEASURED = 2500;

/** Kept objects and buffers. */
const kept = (m: ServerMemory): number => m.heapUsed + m.external;

/** The server's memory once idle a moment: V8 frees array buffers' memory in the background after a GC, so the least of three. */
async function settledMemory(server: ApiServer): Promise<ServerMemory> {
  let least: ServerMemory | undefined;
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const m = await server.memory();
    if (!least || kept(m) < kept(least)) least = m;
  }
  return least!;
}

test(`loopback load: ${WARM_UP + MEASURED} requests, 8 concurrent, mixed bodies — no 5xx, invalid ones 4xx JSON, memory flat after warm-up`, { timeout: 300_000 }, async (t) => {
  // --expose-gc: the server collects garbage before it reports memory, so what is left is what is kept.
  const server = await startApiServer({ nodeArgs: ['--expose-gc'] });
  const kinds: LoadRequest[] = [...loadRequests(), { path: '/encode', body: () => withTextChunk(samples[5], 16 * 1024), valid: true }];
  try {
    const statuses = new Map<number, number>();
    const check = (k: LoadRequest, res: Response, body: Uint8Array): void => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = new TextDecoder().decode(body);
      assert.ok(res.status < 500, `${k.path}: ${res.status} ${text.slice(0, 200)}`);
      if (k.valid) assert.equal(res.status, 200, `${k.path}: ${text.slice(0, 200)}`);
      else {
        assert.ok(res.status >= 400 && res.status < 500, `${k.path}: ${res.status}`);
        assert.equal(res.headers.get('content-type'), 'application/json');
        assert.ok(typeof (JSON.parse(text) as { error: string }).error === 'string');
      }
    };
    await runLoad(server.base, WARM_UP, 8, check, kinds);
    const warm = await settledMemory(server);
    await runLoad(server.base, MEASURED, 8, check, kinds);
    const end = await settledMemory(server);
    assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), WARM_UP + MEASURED);
    const mib = (m: ServerMemory, key: keyof ServerMemory): string => (m[key] / 2 ** 20).toFixed(2);
    t.diagnostic(`after GC: heap + external ${(kept(warm) / 2 ** 20).toFixed(2)} -> ${(kept(end) / 2 ** 20).toFixed(2)} MiB, RSS ${mib(warm, 'rss')} -> ${mib(end, 'rss')} MiB`);
    // A handler keeping each body would keep > 4 MiB more here (1 in 9 bodies is 16 KiB).
    assert.ok(kept(end) - kept(warm) < 2 * 2 ** 20,
      `heap + external after GC grew ${((kept(end) - kept(warm)) / 2 ** 20).toFixed(2)} MiB in ${MEASURED} requests (heap ${mib(warm, 'heapUsed')} -> ${mib(end, 'heapUsed')}, external ${mib(warm, 'external')} -> ${mib(end, 'external')} MiB)`);
    // RSS moves by up to ~20 MiB as the allocator keeps or returns pages; a native leak of even 30 KB a request would pass 64 MiB.
    assert.ok(end.rss - warm.rss < 64 * 2 ** 20, `RSS ${mib(warm, 'rss')} -> ${mib(end, 'rss')} MiB in ${MEASURED} requests`);
  } finally {
    server.stop();
  }
});
