/**
 * PNG encoding for figures: 8-bit gray, gray+alpha, RGB or RGBA, non-interlaced, each row with
 * the filter that minimises the sum of absolute residuals (libpng's heuristic), deflated with
 * fflate. Edge-safe (returns bytes; writing them is the caller's business).
 *
 * Speed: the five filters are scored in one pass over a row without writing them, and only the
 * chosen one is written, straight into the deflate input. A row equal to the one above (every
 * row of an enlarged figure but the first of each pixel) needs neither: Up's residuals are zero.
 * No Math.* per byte: inside a VM context (Vercel's edge runtime) every global lookup is slow;
 * integer absolute values come from locals. What is left is mostly fflate's deflate.
 */
import { zlibSync } from 'fflate';
import { crc32 } from './decode.js';

const COLOR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * The Paeth predictor of left a, above b, upper-left c: |p − a| = |b − c|, |p − b| = |a − c|,
 * |p − c| = |a + b − 2c| for p = a + b − c; integer abs on locals (no Math.* per byte).
 */
function paeth(a: number, b: number, c: number): number {
  let pa = b - c;
  pa = (pa ^ (pa >> 31)) - (pa >> 31);
  let pb = a - c;
  pb = (pb ^ (pb >> 31)) - (pb >> 31);
  let pc = a + b - c - c;
  pc = (pc ^ (pc >> 31)) - (pc >> 31);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Whether the row at `co` equals the one at `po`. */
function sameRow(cur: Uint8Array, co: number, prev: Uint8Array, po: number, stride: number): boolean {
  for (let i = 0; i < stride; i++) if (cur[co + i] !== prev[po + i]) return false;
  return true;
}

/** Whether the row at `co` is all zeros. */
function zeroRow(cur: Uint8Array, co: number, stride: number): boolean {
  for (let i = 0; i < stride; i++) if (cur[co + i] !== 0) return false;
  return true;
}

/**
 * The filter (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) whose residuals, read as signed bytes, have
 * the smallest sum of absolute values; the lowest type wins a tie. `prev` is the row above at
 * `po` (all zeros for the first row), `cur` the row at `co`. One pass scores all five.
 */
function chooseFilter(cur: Uint8Array, co: number, prev: Uint8Array, po: number, stride: number, bpp: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  let t = 0;
  // The first pixel has no left neighbour (a = c = 0): Sub is None, Paeth predicts b.
  const head = bpp < stride ? bpp : stride;
  for (let i = 0; i < head; i++) {
    const x = cur[co + i]!;
    const b = prev[po + i]!;
    t = (x << 24) >> 24;
    t = (t ^ (t >> 31)) - (t >> 31);
    s0 += t;
    s1 += t;
    t = ((x - b) << 24) >> 24;
    t = (t ^ (t >> 31)) - (t >> 31);
    s2 += t;
    s4 += t;
    t = ((x - (b >> 1)) << 24) >> 24;
    s3 += (t ^ (t >> 31)) - (t >> 31);
  }
  for (let i = head; i < stride; i++) {
    const x = cur[co + i]!;
    const a = cur[co + i - bpp]!;
    const b = prev[po + i]!;
    const c = prev[po + i - bpp]!;
    // |residual| as a signed byte: t = (x − pred) << 24 >> 24, then (t ^ t>>31) − t>>31.
    t = (x << 24) >> 24;
    s0 += (t ^ (t >> 31)) - (t >> 31);
    t = ((x - a) << 24) >> 24;
    s1 += (t ^ (t >> 31)) - (t >> 31);
    t = ((x - b) << 24) >> 24;
    s2 += (t ^ (t >> 31)) - (t >> 31);
    t = ((x - ((a + b) >> 1)) << 24) >> 24;
    s3 += (t ^ (t >> 31)) - (t >> 31);
    t = ((x - paeth(a, b, c)) << 24) >> 24;
    s4 += (t ^ (t >> 31)) - (t >> 31);
  }
  let best = 0;
  let bestScore = s0;
  if (s1 < bestScore) { best = 1; bestScore = s1; }
  if (s2 < bestScore) { best = 2; bestScore = s2; }
  if (s3 < bestScore) { best = 3; bestScore = s3; }
  if (s4 < bestScore) best = 4;
  return best;
}

/** Writes row `cur` at `co` filtered with `f` into `out` at `oo` (residuals mod 256). */
function filterRow(f: number, cur: Uint8Array, co: number, prev: Uint8Array, po: number, stride: number, bpp: number, out: Uint8Array, oo: number): void {
  const head = bpp < stride ? bpp : stride;
  switch (f) {
    case 0:
      out.set(cur.subarray(co, co + stride), oo);
      return;
    case 1:
      for (let i = 0; i < head; i++) out[oo + i] = cur[co + i]!;
      for (let i = bpp; i < stride; i++) out[oo + i] = cur[co + i]! - cur[co + i - bpp]!;
      return;
    case 2:
      for (let i = 0; i < stride; i++) out[oo + i] = cur[co + i]! - prev[po + i]!;
      return;
    case 3:
      for (let i = 0; i < head; i++) out[oo + i] = cur[co + i]! - (prev[po + i]! >> 1);
      for (let i = bpp; i < stride; i++) out[oo + i] = cur[co + i]! - ((cur[co + i - bpp]! + prev[po + i]!) >> 1);
      return;
    default:
      // Paeth with a = c = 0 predicts b.
      for (let i = 0; i < head; i++) out[oo + i] = cur[co + i]! - prev[po + i]!;
      for (let i = bpp; i < stride; i++) {
        const a = cur[co + i - bpp]!;
        const b = prev[po + i]!;
        out[oo + i] = cur[co + i]! - paeth(a, b, prev[po + i - bpp]!);
      }
  }
}

/**
 * Encodes interleaved 8-bit pixels (`channels` per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA)
 * as a PNG file.
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: size must be positive integers, got ${width}×${height}`);
  }
  const colorType = COLOR_TYPE[channels];
  if (colorType === undefined) throw new RangeError(`encodePng: channels must be 1, 2, 3 or 4, got ${channels}`);
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new RangeError(`encodePng: ${width}×${height}×${channels} needs ${stride * height} bytes, got ${pixels.length}`);
  }
  const bpp = channels;
  const filtered = new Uint8Array((stride + 1) * height);
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const co = y * stride;
    const prev = y > 0 ? pixels : zero;
    const po = y > 0 ? co - stride : 0;
    const oo = y * (stride + 1);
    if (sameRow(pixels, co, prev, po, stride)) {
      // Up's residuals are all zero (the output is zeroed already); None and Sub score zero too
      // only for an all-zero row, and then None wins the tie.
      filtered[oo] = zeroRow(pixels, co, stride) ? 0 : 2;
      continue;
    }
    const f = chooseFilter(pixels, co, prev, po, stride, bpp);
    filtered[oo] = f;
    filterRow(f, pixels, co, prev, po, stride, bpp, filtered, oo + 1);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibSync(filtered, { level: 6 })),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
