/**
 * Image decoding: JPEG paths against libjpeg-turbo's output, PNG encoding round trips, and the
 * error paths (empty, truncated, corrupt, unsupported), which must be one-line ImageErrors that
 * name the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeImage, sniffImageFormat, crc32 } from '../src/image/decode.js';
import { encodePng } from '../src/image/encode-png.js';
import { ImageError } from '../src/errors.js';

const PRE = new URL('../../test/fixtures/preprocess/', import.meta.url);
const JPG = new URL('../../test/fixtures/jpeg/', import.meta.url);
const read = (dir: URL, name: string) => new Uint8Array(readFileSync(new URL(name, dir)));

/** Binary PPM/PGM → pixels. */
function readPnm(bytes: Uint8Array): { width: number; height: number; channels: number; data: Uint8Array } {
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 64));
  const m = /^P([56])\s+(\d+)\s+(\d+)\s+255\s/.exec(head);
  assert.ok(m, 'PNM header');
  return { width: Number(m[2]), height: Number(m[3]), channels: m[1] === '6' ? 3 : 1, data: bytes.subarray(m[0].length) };
}

function assertImageError(fn: () => unknown, name: string, problem: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ImageError, `expected ImageError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${name}: `), `message names the file: ${e.message}`);
    assert.match(e.message, problem);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// JPEG decoding is bit-exact with libjpeg-turbo (what Pillow uses)

for (const name of ['progressive-420-37x23', 'baseline-422-restart-17x9', 'baseline-440-13x11', 'gray-progressive-17x9', 'rgb-adobe-9x7']) {
  test(`JPEG ${name} decodes to libjpeg-turbo's pixels`, () => {
    const img = decodeImage(read(JPG, `${name}.jpg`), `${name}.jpg`);
    const want = readPnm(read(JPG, `${name}.pnm`));
    assert.deepEqual([img.width, img.height, img.channels, img.bitDepth], [want.width, want.height, want.channels, 8]);
    assert.deepEqual(img.data, new Uint8Array(want.data));
  });
}

test('arithmetic-coded JPEG is refused as unsupported', () => {
  assertImageError(() => decodeImage(read(JPG, 'arithmetic-9x9.jpg'), 'arithmetic-9x9.jpg'), 'arithmetic-9x9.jpg', /unsupported JPEG.*arithmetic/);
});

test('fixture images decode with their sizes and channels', () => {
  const cases: [string, number, number, number][] = [
    ['gray-224.png', 224, 224, 1],
    ['rgb-320x240.png', 320, 240, 3],
    ['rgba-100x150.png', 100, 150, 4],
    ['rgb-320x240.jpg', 320, 240, 3],
  ];
  for (const [file, w, h, c] of cases) {
    const img = decodeImage(read(PRE, file), file);
    assert.deepEqual([img.width, img.height, img.channels, img.bitDepth, img.data.length, img.name], [w, h, c, 8, w * h * c, file]);
  }
  assert.equal(sniffImageFormat(read(PRE, 'gray-224.png')), 'png');
  assert.equal(sniffImageFormat(read(PRE, 'rgb-320x240.jpg')), 'jpeg');
});

// ---------------------------------------------------------------------------------------------
// PNG encoding

test('encodePng round-trips gray, gray+alpha, RGB and RGBA', () => {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24);
  for (const channels of [1, 2, 3, 4] as const) {
    for (const [w, h] of [[1, 1], [5, 3], [64, 17]] as const) {
      // Smooth plus noise, so every filter type gets chosen somewhere.
      const px = Uint8Array.from({ length: w * h * channels }, (_, i) => ((i % 7) * 30 + (next() & 15)) & 255);
      const png = encodePng(px, w, h, channels);
      const back = decodeImage(png, 'out.png');
      assert.deepEqual([back.width, back.height, back.channels, back.bitDepth], [w, h, channels, 8]);
      assert.deepEqual(back.data, px);
    }
  }
  assert.throws(() => encodePng(new Uint8Array(5), 2, 2, 1), RangeError);
  assert.throws(() => encodePng(new Uint8Array(0), 0, 2, 1), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Errors

test('empty file', () => {
  assertImageError(() => decodeImage(new Uint8Array(0), 'empty.png'), 'empty.png', /empty/);
});

test('random bytes and other formats are unsupported', () => {
  let s = 7;
  const junk = Uint8Array.from({ length: 1000 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24));
  junk[0] = 0x42; // not a known magic
  junk[1] = 0x00;
  assertImageError(() => decodeImage(junk, 'noise.bin'), 'noise.bin', /unsupported image format.*PNG, JPEG/);
  const enc = (t: string) => Uint8Array.from(t, (c) => c.charCodeAt(0));
  assertImageError(() => decodeImage(enc('GIF89a\x01\x00\x01\x00\x00\x00\x00;'), 'anim.gif'), 'anim.gif', /unsupported image format \(looks like GIF\)/);
  assertImageError(() => decodeImage(enc('RIFF\x00\x00\x00\x00WEBPVP8 '), 'p.webp'), 'p.webp', /looks like WebP/);
  assertImageError(() => decodeImage(enc('BM\x00\x00\x00\x00\x00\x00'), 'p.bmp'), 'p.bmp', /looks like BMP/);
  assertImageError(() => decodeImage(enc('II*\x00\x08\x00\x00\x00'), 'p.tif'), 'p.tif', /looks like TIFF/);
});

test('truncated PNG', () => {
  const png = read(PRE, 'rgb-320x240.png');
  for (const n of [3, 8, 20, 33, 100, Math.floor(png.length / 2), png.length - 20]) {
    assertImageError(() => decodeImage(png.subarray(0, n), 'cut.png'), 'cut.png', /truncated PNG/);
  }
  // Cut exactly after the last image data chunk (only IEND missing): Pillow reads the image, so do we.
  const withoutIend = png.subarray(0, png.length - 12);
  assert.deepEqual(decodeImage(withoutIend, 'noend.png').data, decodeImage(png, 'full.png').data);
});

test('corrupt PNG: bad CRC, broken zlib stream, bad header, missing data', () => {
  const png = read(PRE, 'gray-224.png');
  const badCrc = png.slice();
  const lastCrc = png.length - 12 - 1; // the last byte of the CRC of the chunk before IEND
  badCrc[lastCrc] = badCrc[lastCrc]! ^ 0xff;
  assertImageError(() => decodeImage(badCrc, 'crc.png'), 'crc.png', /corrupt PNG \(bad CRC/);

  // Rebuild chunks with valid CRCs around bad contents.
  const chunk = (type: string, data: number[]) => {
    const body = Uint8Array.from([...type].map((c) => c.charCodeAt(0)).concat(data));
    const crc = crc32(body);
    const len = data.length;
    return [len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, ...body, crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255];
  };
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const ihdr = (depth: number, ct: number) => chunk('IHDR', [0, 0, 0, 4, 0, 0, 0, 4, depth, ct, 0, 0, 0]);
  const file = (...chunks: number[][]) => Uint8Array.from(sig.concat(...chunks));
  assertImageError(() => decodeImage(file(ihdr(8, 0), chunk('IDAT', [0x78, 0x9c, 0xff, 0xff, 0xff]), chunk('IEND', [])), 'z.png'), 'z.png', /PNG/);
  assertImageError(() => decodeImage(file(ihdr(3, 0), chunk('IEND', [])), 'depth.png'), 'depth.png', /corrupt PNG \(bit depth 3/);
  assertImageError(() => decodeImage(file(ihdr(8, 5), chunk('IEND', [])), 'ct.png'), 'ct.png', /colour type 5/);
  assertImageError(() => decodeImage(file(ihdr(8, 0), chunk('IEND', [])), 'nodata.png'), 'nodata.png', /no image data/);
  assertImageError(() => decodeImage(file(chunk('IEND', [])), 'noihdr.png'), 'noihdr.png', /expected IHDR/);
  assertImageError(() => decodeImage(file(ihdr(8, 3), chunk('IDAT', [0x78, 0x9c, 3, 0, 0, 0, 0, 1]), chunk('IEND', [])), 'nopal.png'), 'nopal.png', /PLTE/);
  // A complete zlib stream with too few rows for the image.
  assertImageError(() => decodeImage(file(ihdr(8, 0), chunk('IDAT', [0x78, 0x01, 0x01, 0x05, 0x00, 0xfa, 0xff, 0, 1, 2, 3, 4, 0x00, 0x19, 0x00, 0x0b])), 'short.png'), 'short.png', /truncated PNG|corrupt PNG/);
  // Huge declared size: refused before allocating (Pillow's decompression-bomb limit).
  const huge = file(chunk('IHDR', [0, 1, 0, 0, 0, 1, 0, 0, 8, 2, 0, 0, 0]), chunk('IEND', []));
  assertImageError(() => decodeImage(huge, 'huge.png'), 'huge.png', /too large/);
});

test('truncated and corrupt JPEG', () => {
  const jpg = read(PRE, 'rgb-320x240.jpg');
  for (const n of [2, 3, 20, 200, 700, Math.floor(jpg.length / 2), jpg.length - 2]) {
    assertImageError(() => decodeImage(jpg.subarray(0, n), 'cut.jpg'), 'cut.jpg', /truncated JPEG/);
  }
  const prog = read(JPG, 'progressive-420-37x23.jpg');
  assertImageError(() => decodeImage(prog.subarray(0, prog.length - 300), 'prog.jpg'), 'prog.jpg', /truncated JPEG/);
  // SOI then end of image, no frame.
  assertImageError(() => decodeImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]), 'eoi.jpg'), 'eoi.jpg', /JPEG/);
  // A 12-bit frame header.
  const sof12 = Uint8Array.from([0xff, 0xd8, 0xff, 0xc1, 0, 11, 12, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xff, 0xd9]);
  assertImageError(() => decodeImage(sof12, 'deep.jpg'), 'deep.jpg', /unsupported JPEG \(12-bit/);
});
