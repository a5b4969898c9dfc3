/**
 * Decompression and scan bombs, built byte by byte here: a progressive JPEG with thousands of
 * scans, junk bytes before a huge frame header, a zlib bomb within the 8 MiB body limit and
 * oversized headers must each be refused with an ImageError in milliseconds (bound: 1 s), from
 * the header or within a small budget of work, and through the server as a 4xx JSON answer while
 * /healthz keeps answering and memory stays low.
 *
 * Each decode runs in a worker thread that is stopped at a deadline, and the server in a child
 * process that is killed, so a decoder that regresses to decoding the bomb fails the test instead
 * of holding it for minutes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { Worker } from 'node:worker_threads';
import { decodeImage, crc32, type DecodeLimits } from '../src/image/decode.js';
import { imageSize } from '../src/image/image-size.js';
import { checkImageSize, parsePreprocessorConfig } from '../src/image/preprocess.js';
import { ImageError } from '../src/errors.js';

const MiB = 2 ** 20;
const BOUND_MS = 1000;

// ---------------------------------------------------------------------------------------------
// Builders

const u16 = (v: number) => [v >> 8, v & 255];
const u32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

/** A JPEG segment: marker and payload with its length. */
const segment = (marker: number, payload: number[]) => [0xff, marker, ...u16(payload.length + 2), ...payload];

/**
 * A gray 8-bit JPEG of `width`×`height` whose Huffman tables have one 1-bit code each (DC
 * difference 0, AC end-of-block) and whose scans carry no entropy data at all: each scan header
 * is followed by the next marker, so every scan covers the whole frame with zero bits.
 * `junk` goes between the first two segments (libjpeg skips such bytes).
 */
function grayJpeg(opts: { width: number; height: number; progressive: boolean; acScans?: number; junk?: number[] }): Uint8Array {
  const { width, height, progressive, acScans = 0, junk = [] } = opts;
  const oneCode = (tableClass: number, symbol: number) => [tableClass << 4, 1, ...new Array<number>(15).fill(0), symbol];
  const parts: number[][] = [
    [0xff, 0xd8],
    segment(0xdb, [0, ...new Array<number>(64).fill(1)]),
    junk,
    segment(progressive ? 0xc2 : 0xc0, [8, ...u16(height), ...u16(width), 1, 1, 0x11, 0]),
    segment(0xc4, [...oneCode(0, 0), ...oneCode(1, 0)]),
    segment(0xda, [1, 1, 0x00, 0, progressive ? 0 : 63, 0]),
  ];
  const ac = segment(0xda, [1, 1, 0x00, 1, 63, 0]);
  for (let i = 0; i < acScans; i++) parts.push(ac);
  parts.push([0xff, 0xd9]);
  return Uint8Array.from(parts.flat());
}

function pngChunk(type: string, data: Uint8Array | number[]): Uint8Array {
  const body = new Uint8Array(4 + data.length);
  for (let i = 0; i < 4; i++) body[i] = type.charCodeAt(i);
  body.set(data, 4);
  const out = new Uint8Array(12 + data.length);
  out.set(u32(data.length), 0);
  out.set(body, 4);
  out.set(u32(crc32(body)), 8 + data.length);
  return out;
}

function png(width: number, height: number, idat: Uint8Array | undefined): Uint8Array {
  const chunks = [
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', [...u32(width), ...u32(height), 8, 0, 0, 0, 0]), // 8-bit gray
    ...(idat ? [pngChunk('IDAT', idat)] : []),
    pngChunk('IEND', []),
  ];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

/**
 * A zlib stream of `bytes` bytes that inflates to about 1032 times as much, zeros: one dynamic
 * Huffman block whose length code 285 (258 bytes) and distance code 0 (distance 1) are 1-bit
 * codes, so every 2 bits of input copy 258 bytes.
 */
function zlibBomb(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let bit = 0;
  const put = (value: number, n: number) => { // LSB first, as deflate packs fields
    for (let i = 0; i < n; i++, bit++) if ((value >> i) & 1) out[bit >> 3]! |= 1 << (bit & 7);
  };
  const code = (value: number, n: number) => { for (let i = n - 1; i >= 0; i--) put((value >> i) & 1, 1); }; // Huffman codes: MSB first
  out[0] = 0x78; out[1] = 0x01; bit = 16; // zlib header: deflate, 32 KiB window, no dictionary
  put(1, 1); put(2, 2); // final block, dynamic Huffman
  put(286 - 257, 5); put(0, 5); put(18 - 4, 4); // 286 length codes, 1 distance code, 18 code-length codes
  // Code-length code lengths, in deflate's order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1: 18 → 1 bit, 1 and 2 → 2 bits.
  for (const sym of [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1]) put(sym === 18 ? 1 : sym === 1 || sym === 2 ? 2 : 0, 3);
  const CL18 = [0, 1], CL1 = [2, 2], CL2 = [3, 2]; // canonical codes of the code-length alphabet
  const zeros = (n: number) => { code(CL18[0]!, CL18[1]!); put(n - 11, 7); };
  // Literal/length lengths: 0 → 2, 1..255 → 0, 256 → 2, 257..284 → 0, 285 → 1; distance 0 → 1.
  code(CL2[0]!, CL2[1]!); zeros(138); zeros(117); code(CL2[0]!, CL2[1]!); zeros(28); code(CL1[0]!, CL1[1]!); code(CL1[0]!, CL1[1]!);
  code(2, 2); // literal 0 (code 10)
  // The rest is (length 258 = code 0, distance 1 = code 0) pairs: zero bits, already there. No
  // end-of-block: the stream is cut by the buffer's end, far past what any image needs.
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding in a worker, stopped at a deadline

interface Outcome {
  ms: number;
  error?: { name: string; message: string };
  size?: string;
  timedOut?: boolean;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.decodeUrl).then(({ decodeImage }) => {
  const t0 = performance.now();
  try {
    const img = decodeImage(workerData.bytes, 'bomb', workerData.limits);
    parentPort.postMessage({ ms: performance.now() - t0, size: img.width + 'x' + img.height });
  } catch (e) {
    parentPort.postMessage({ ms: performance.now() - t0, error: { name: e.name, message: e.message } });
  }
});`;

function decodeInWorker(bytes: Uint8Array, limits: Omit<DecodeLimits, 'checkSize'> = {}, deadlineMs = 20_000): Promise<Outcome> {
  const decodeUrl = new URL('../src/image/decode.js', import.meta.url).href;
  const worker = new Worker(WORKER, { eval: true, workerData: { decodeUrl, bytes, limits } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { void worker.terminate(); resolve({ ms: deadlineMs, timedOut: true }); }, deadlineMs);
    worker.once('message', (m: Outcome) => { clearTimeout(timer); void worker.terminate(); resolve(m); });
    worker.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function assertRefused(bytes: Uint8Array, problem: RegExp, limits?: Omit<DecodeLimits, 'checkSize'>): Promise<void> {
  const r = await decodeInWorker(bytes, limits);
  assert.ok(!r.timedOut, `still decoding at the ${r.ms} ms deadline`);
  assert.ok(r.error, `decoded (${r.size}) in ${r.ms.toFixed(0)} ms instead of being refused`);
  assert.equal(r.error.name, 'ImageError', r.error.message);
  assert.match(r.error.message, problem);
  assert.ok(r.ms < BOUND_MS, `refused after ${r.ms.toFixed(0)} ms`);
}

// ---------------------------------------------------------------------------------------------
// The decoders

test('progressive JPEG with 10,000 empty scans over 4096×4096 is refused within its work budget', { timeout: 60_000 }, async () => {
  const bomb = grayJpeg({ width: 4096, height: 4096, progressive: true, acScans: 10_000 });
  assert.ok(bomb.length < 110_000);
  await assertRefused(bomb, /scans/);
});

test('progressive JPEG: 400 scans over 4096×4096 exceed the work budget, 2,000 scans over 28×28 the scan limit', { timeout: 60_000 }, async () => {
  await assertRefused(grayJpeg({ width: 4096, height: 4096, progressive: true, acScans: 400 }), /passes over the frame/);
  await assertRefused(grayJpeg({ width: 28, height: 28, progressive: true, acScans: 2000 }), /more than 500 scans/);
  // A few scans are fine: the frame decodes (to uniform gray, as libjpeg leaves data-less blocks).
  const few = decodeImage(grayJpeg({ width: 28, height: 28, progressive: true, acScans: 5 }), 'few.jpg');
  assert.deepEqual([few.width, few.height, few.channels], [28, 28, 1]);
  assert.ok(few.data.every((v) => v === 128));
});

test('junk bytes before a huge frame header: imageSize reads the size the decoder reads, and maxSide refuses it', { timeout: 60_000 }, async () => {
  for (const junk of [[0x00], [0x12, 0x34, 0x56], [0xff, 0x00, 0x7f]]) {
    const bomb = grayJpeg({ width: 8000, height: 8000, progressive: false, junk });
    assert.deepEqual(imageSize(bomb), { width: 8000, height: 8000 }, `junk ${junk}`);
  }
  const bomb = grayJpeg({ width: 13377, height: 13377, progressive: false, junk: [0x00] });
  assert.deepEqual(imageSize(bomb), { width: 13377, height: 13377 });
  await assertRefused(bomb, /too large \(13377×13377 pixels, limit 4096 per side\)/, { maxSide: 4096 });
});

test('zlib bomb: a 1×1 PNG with 2 MiB of image data that inflates to 2 GB is refused after the rows it needs', { timeout: 60_000 }, async () => {
  const bomb = png(1, 1, zlibBomb(2 * MiB));
  assert.ok(bomb.length < 8 * MiB);
  await assertRefused(bomb, /corrupt PNG \(image data inflates to more than the 2 bytes its header calls for\)/);
  const peak = process.resourceUsage().maxRSS * 1024; // this process's peak, the worker's decode included
  assert.ok(peak < 400 * MiB, `peak RSS ${(peak / MiB).toFixed(0)} MiB`);
});

test('oversize dimensions are refused from the header before decoding: maxPixels and maxSide', { timeout: 60_000 }, async () => {
  // 5000×5000 JPEG without entropy data: a decoder that ignored the limit would decode 25 Mpx of gray.
  await assertRefused(grayJpeg({ width: 5000, height: 5000, progressive: false }), /too large \(5000×5000 pixels, limit 16777216\)/, { maxPixels: 4096 * 4096 });
  await assertRefused(png(5000, 5000, undefined), /too large \(5000×5000 pixels, limit 4096 per side\)/, { maxSide: 4096 });
  await assertRefused(png(1 << 16, 1 << 16, undefined), /too large \(65536×65536 pixels, limit 178956970\)/); // MAX_IMAGE_PIXELS by default
});

test('do_resize false: an image of the wrong size is refused from its header, before decoding', () => {
  const fixed = parsePreprocessorConfig({ do_resize: false, size: { height: 28, width: 28 } }, 28, 1);
  const resizing = parsePreprocessorConfig(undefined, 28, 1);
  assert.throws(() => checkImageSize({ width: 29, height: 28 }, fixed, 'x.png'), (e: unknown) => e instanceof ImageError && /^x\.png: image is 29×28 but the model needs 28×28, and do_resize is false/.test(e.message));
  checkImageSize({ width: 28, height: 28 }, fixed);
  checkImageSize({ width: 4000, height: 3 }, resizing);
  // A header with no image data behind it: the size check answers before the decoder looks further.
  const headerOnly = png(4000, 4000, undefined);
  assert.throws(() => decodeImage(headerOnly, 'big.png', { checkSize: (s) => checkImageSize(s, fixed, 'big.png') }), /big\.png: image is 4000×4000 but the model needs 28×28/);
  assert.throws(() => decodeImage(headerOnly, 'big.png'), /no image data/);
});

// ---------------------------------------------------------------------------------------------
// Through the server

const SERVER = `
const { MaeModel } = await import(process.env.URL_MODEL);
const { createHandler } = await import(process.env.URL_HANDLER);
const { createHttpServer } = await import(process.env.URL_ADAPTER);
const { DEFAULT_MODEL_DIR } = await import(process.env.URL_PATHS);
const model = await MaeModel.load(DEFAULT_MODEL_DIR);
const server = createHttpServer(createHandler({ model, stats: () => ({ maxRss: process.resourceUsage().maxRSS * 1024 }) }));
server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'));`;

interface Answer { status: number; body: string; ms: number }

/** One request on its own connection, given up after `limitMs`. */
function send(port: number, method: string, path: string, body: Uint8Array | undefined, limitMs: number): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, timeout: limitMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), ms: performance.now() - t0 }));
    });
    req.on('timeout', () => { req.destroy(); resolve({ status: 0, body: `no answer within ${limitMs} ms`, ms: limitMs }); });
    req.on('error', (e) => resolve({ status: 0, body: e.message, ms: performance.now() - t0 }));
    req.end(body);
  });
}

test('server: each bomb POSTed to /reconstruct gets a 4xx JSON within 1 s while /healthz answers, and RSS stays under 400 MiB', { timeout: 120_000 }, async () => {
  const url = (p: string) => new URL(p, import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, URL_MODEL: url('../src/node/index.js'), URL_HANDLER: url('../src/serve/handler.js'), URL_ADAPTER: url('../src/node/http-adapter.js'), URL_PATHS: url('../src/node/paths.js') },
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(String(d)); if (m) resolve(Number(m[1])); });
      child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const bombs: [string, Uint8Array][] = [
      ['progressive JPEG, 4096×4096, 10,000 scans', grayJpeg({ width: 4096, height: 4096, progressive: true, acScans: 10_000 })],
      ['progressive JPEG, 28×28 (the model size), 2,000 scans', grayJpeg({ width: 28, height: 28, progressive: true, acScans: 2000 })],
      ['junk byte before an 8000×8000 frame', grayJpeg({ width: 8000, height: 8000, progressive: false, junk: [0] })],
      ['zlib bomb, 28×28 PNG, 2 MiB of image data', png(28, 28, zlibBomb(2 * MiB))],
      ['PNG header of 5000×5000', png(5000, 5000, undefined)],
    ];
    for (const [what, body] of bombs) {
      const answer = send(port, 'POST', '/reconstruct', body, 10_000);
      await new Promise((r) => setTimeout(r, 20));
      const health = await send(port, 'GET', '/healthz', undefined, 10_000);
      const a = await answer;
      assert.ok(a.status >= 400 && a.status < 500, `${what}: status ${a.status} ${a.body.slice(0, 200)}`);
      assert.equal(typeof (JSON.parse(a.body) as { error: unknown }).error, 'string', what);
      assert.ok(a.ms < BOUND_MS, `${what}: answered after ${a.ms.toFixed(0)} ms`);
      assert.equal(health.status, 200, `${what}: /healthz ${health.status} ${health.body}`);
      assert.ok(health.ms < BOUND_MS, `${what}: /healthz answered after ${health.ms.toFixed(0)} ms`);
    }
    const stats = JSON.parse((await send(port, 'GET', '/healthz', undefined, 10_000)).body) as { maxRss: number };
    assert.ok(stats.maxRss < 400 * MiB, `server peak RSS ${(stats.maxRss / MiB).toFixed(0)} MiB`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('CLI image batches check the model size from the header before decoding', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { imageFiles } = await import('../src/node/image-files.js');
  const { pixelBatches } = await import('../src/cli/image-batches.js');
  const dir = mkdtempSync(join(tmpdir(), 'edge-mae-bombs-'));
  try {
    const file = join(dir, 'big.png');
    writeFileSync(file, png(4000, 4000, undefined)); // a header, no image data
    const model = { preprocessor: parsePreprocessorConfig({ do_resize: false, size: 28 }, 28, 1), config: { numChannels: 1, imageSize: 28 } };
    const skipped: string[] = [];
    const batches = [...pixelBatches(imageFiles([file]), model as unknown as Parameters<typeof pixelBatches>[1], 4, (why) => skipped.push(why))];
    assert.equal(batches.length, 0);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /big\.png: image is 4000×4000 but the model needs 28×28/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
