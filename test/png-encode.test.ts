/**
 * encodePng against the PNG specification, read independently: the chunks are walked and their
 * CRCs checked with node:zlib's crc32, IDAT is inflated with node:zlib, and the rows are unfiltered
 * by this file's own code; the pixels must come back exactly, and also through the project's
 * decoder. Every row's filter must be the one libpng's heuristic picks (least sum of |residual| as
 * signed bytes, lowest type on a tie), computed here the plain way: five candidates per row.
 * Images are made so that every filter type wins somewhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, inflateSync } from 'node:zlib';
import { encodePng } from '../src/image/encode-png.js';
import { decodeImage } from '../src/image/decode.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const COLOR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;
type Channels = 1 | 2 | 3 | 4;

/** A small deterministic generator (xorshift32): the same images on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s & 0xff;
  };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** The predictor of filter f for byte i of a row, from the raw bytes of this row and the one above. */
function predict(f: number, cur: ArrayLike<number>, prev: ArrayLike<number>, i: number, bpp: number): number {
  const a = i >= bpp ? cur[i - bpp] : 0;
  const b = prev[i];
  const c = i >= bpp ? prev[i - bpp] : 0;
  return [0, a, b, (a + b) >> 1, paeth(a, b, c)][f];
}

/**
 * Rows made for each filter type, cycling through them, over random rows: a row of small values
 * (None), a horizontal ramp (Sub), the row above plus one (Up), each byte the mean of its left and
 * upper neighbours (Average), each byte its Paeth prediction (Paeth), a repeat of the row above.
 */
function makeImage(width: number, height: number, channels: Channels, seed: number): Uint8Array {
  const next = rng(seed);
  const stride = width * channels;
  const px = new Uint8Array(stride * height);
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const cur = px.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? px.subarray((y - 1) * stride, y * stride) : zero;
    const kind = (y + seed) % 7;
    for (let i = 0; i < stride; i++) {
      const noise = next();
      switch (kind) {
        case 0: cur[i] = noise; break;
        case 1: cur[i] = (noise & 3) - 1; break; // 255, 0, 1, 2: None
        case 2: cur[i] = (i >= channels ? cur[i - channels] : noise) + 9; break; // Sub
        case 3: cur[i] = prev[i] + 1; break; // Up
        case 4: cur[i] = predict(3, cur, prev, i, channels) + (noise & 1); break; // Average
        case 5: cur[i] = predict(4, cur, prev, i, channels); break; // Paeth
        default: cur[i] = prev[i]; break; // a repeated row
      }
    }
  }
  return px;
}

interface Parsed { width: number; height: number; depth: number; colorType: number; interlace: number; idat: Uint8Array; chunkTypes: string[] }

/** Walks the chunks, checking each length and CRC (node:zlib), and joins the IDAT data. */
function parsePng(png: Uint8Array): Parsed {
  assert.deepEqual([...png.subarray(0, 8)], SIGNATURE, 'signature');
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunkTypes: string[] = [];
  const idat: Uint8Array[] = [];
  let ihdr: DataView | undefined;
  let pos = 8;
  while (pos < png.length) {
    assert.ok(pos + 12 <= png.length, `chunk header at ${pos} runs past the end`);
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...png.subarray(pos + 4, pos + 8));
    assert.ok(pos + 12 + len <= png.length, `${type} runs past the end`);
    assert.equal(dv.getUint32(pos + 8 + len), crc32(png.subarray(pos + 4, pos + 8 + len)), `CRC of ${type}`);
    const data = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') ihdr = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (type === 'IDAT') idat.push(data);
    chunkTypes.push(type);
    pos += 12 + len;
  }
  assert.equal(pos, png.length, 'nothing after the last chunk');
  assert.ok(ihdr && ihdr.byteLength === 13, 'IHDR of 13 bytes');
  return {
    width: ihdr.getUint32(0), height: ihdr.getUint32(4), depth: ihdr.getUint8(8), colorType: ihdr.getUint8(9),
    interlace: ihdr.getUint8(12), idat: Buffer.concat(idat), chunkTypes,
  };
}

/** Inflates and unfilters; returns the pixels and each row's filter type. */
function unfilter(p: Parsed, channels: Channels): { pixels: Uint8Array; filters: number[] } {
  const raw = inflateSync(p.idat);
  const stride = p.width * channels;
  assert.equal(raw.length, (stride + 1) * p.height, 'inflated size: one filter byte + a row, per row');
  const pixels = new Uint8Array(stride * p.height);
  const zero = new Uint8Array(stride);
  const filters: number[] = [];
  for (let y = 0; y < p.height; y++) {
    const f = raw[y * (stride + 1)];
    assert.ok(f <= 4, `row ${y}: filter type ${f}`);
    filters.push(f);
    const cur = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : zero;
    for (let i = 0; i < stride; i++) cur[i] = raw[y * (stride + 1) + 1 + i] + predict(f, cur, prev, i, channels);
  }
  return { pixels, filters };
}

/** libpng's heuristic, the plain way: each row's five candidates, least sum of |signed residual|. */
function expectedFilters(px: Uint8Array, width: number, height: number, channels: Channels): number[] {
  const stride = width * channels;
  const zero = new Uint8Array(stride);
  const out: number[] = [];
  for (let y = 0; y < height; y++) {
    const cur = px.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? px.subarray((y - 1) * stride, y * stride) : zero;
    const sums = [0, 1, 2, 3, 4].map((f) => {
      let s = 0;
      for (let i = 0; i < stride; i++) {
        const r = (cur[i] - predict(f, cur, prev, i, channels)) & 0xff;
        s += r < 128 ? r : 256 - r;
      }
      return s;
    });
    out.push(sums.indexOf(Math.min(...sums)));
  }
  return out;
}

test('encodePng: gray, gray+alpha, RGB, RGBA, widths 1..40 — exact pixels back, the heuristic filter per row, every filter type used', () => {
  const seen = new Set<number>();
  for (const channels of [1, 2, 3, 4] as const) {
    for (let width = 1; width <= 40; width++) {
      const height = 1 + ((width * 5 + channels) % 23);
      const px = makeImage(width, height, channels, width * 10 + channels);
      const png = encodePng(px, width, height, channels);
      const what = `${width}×${height}×${channels}`;
      const p = parsePng(png);
      assert.deepEqual(p.chunkTypes, ['IHDR', 'IDAT', 'IEND'], what);
      assert.deepEqual([p.width, p.height, p.depth, p.colorType, p.interlace], [width, height, 8, COLOR_TYPE[channels], 0], `${what}: IHDR`);
      const { pixels, filters } = unfilter(p, channels);
      assert.ok(Buffer.from(pixels).equals(Buffer.from(px)), `${what}: pixels after inflate + unfilter`);
      assert.deepEqual(filters, expectedFilters(px, width, height, channels), `${what}: filter per row`);
      for (const f of filters) seen.add(f);
      const img = decodeImage(png, what);
      assert.deepEqual([img.width, img.height, img.channels, img.bitDepth], [width, height, channels, 8], `${what}: decoded header`);
      assert.ok(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).equals(Buffer.from(px)), `${what}: pixels through decodeImage`);
    }
  }
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4], 'filter types used');
});

test('encodePng: rows equal to the one above (an enlarged figure) and all-zero rows', () => {
  // 3 distinct rows, each repeated 4 times, then zero rows: Up for repeats, None for zero rows.
  const width = 17, channels = 3, stride = width * channels;
  const px = new Uint8Array(stride * 16);
  const next = rng(99);
  for (let y = 0; y < 12; y++) {
    if (y % 4 === 0) for (let i = 0; i < stride; i++) px[y * stride + i] = next();
    else px.copyWithin(y * stride, (y - 1) * stride, y * stride);
  }
  const png = encodePng(px, width, 16, channels);
  const { pixels, filters } = unfilter(parsePng(png), channels);
  assert.ok(Buffer.from(pixels).equals(Buffer.from(px)));
  assert.deepEqual(filters, expectedFilters(px, width, 16, channels));
  assert.deepEqual(filters.slice(1, 4), [2, 2, 2], 'a repeated row: Up');
  assert.deepEqual(filters.slice(13), [0, 0, 0], 'an all-zero row under an all-zero row: None');
});

test('encodePng: refuses a wrong size or channel count', () => {
  assert.throws(() => encodePng(new Uint8Array(5), 2, 1, 3), RangeError);
  assert.throws(() => encodePng(new Uint8Array(0), 0, 1, 1), RangeError);
  assert.throws(() => encodePng(new Uint8Array(1.5 * 2), 1.5, 1, 2), RangeError);
  assert.throws(() => encodePng(new Uint8Array(5), 1, 1, 5 as Channels), RangeError);
});
