/**
 * Image preprocessing against Hugging Face's ViTImageProcessor (Pillow 9.4 decode, convert("RGB"),
 * BILINEAR resize, rescale, normalize) on the fixture images, plus properties on synthetic PNGs of
 * every colour type: gray replication, alpha ignored, palette expansion, 16-bit handling, luma,
 * Pillow's resize on hand-checked cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { zlibSync } from 'fflate';
import { decodeImage, crc32, type RawImage } from '../src/image/decode.js';
import { parsePreprocessorConfig, preprocessImage, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, type PreprocessorConfig } from '../src/image/preprocess.js';
import { resizeBilinearPil, resizeNearest } from '../src/image/resize.js';
import { toLuma8, toRgb8, lumaOf } from '../src/image/rgb.js';
import { SafetensorsFile } from '../src/safetensors.js';
import { ConfigError, ImageError } from '../src/errors.js';

const FIXTURES = new URL('../../test/fixtures/preprocess/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, FIXTURES)));
const PP_JSON = JSON.parse(readFileSync(new URL('preprocessor_config.json', FIXTURES), 'utf8'));

// ---------------------------------------------------------------------------------------------
// A minimal PNG writer written independently of the decoder under test (filter 0, optional
// Adam7), for synthetic colour types and depths.

function packRow(samples: number[], depth: number): number[] {
  if (depth === 8) return samples;
  if (depth === 16) return samples.flatMap((v) => [v >> 8, v & 255]);
  const out: number[] = [];
  const per = 8 / depth;
  for (let i = 0; i < samples.length; i += per) {
    let b = 0;
    for (let j = 0; j < per; j++) b |= (samples[i + j] ?? 0) << (8 - depth * (j + 1));
    out.push(b);
  }
  return out;
}

function chunk(type: string, data: number[] | Uint8Array): number[] {
  const body = new Uint8Array(4 + data.length);
  for (let i = 0; i < 4; i++) body[i] = type.charCodeAt(i);
  body.set(data, 4);
  const len = data.length;
  const crc = crc32(body);
  return [len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, ...body, crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255];
}

const be32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

/** samples: row-major, `channels` per pixel. */
function writePng(
  w: number,
  h: number,
  samples: number[],
  opts: { depth: number; colorType: number; channels: number; interlace?: boolean; plte?: number[]; trns?: number[] },
): Uint8Array {
  const { depth, colorType, channels } = opts;
  const raw: number[] = [];
  const passes = opts.interlace
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes as [number, number, number, number][]) {
    for (let y = y0; y < h; y += dy) {
      const row: number[] = [];
      for (let x = x0; x < w; x += dx) for (let c = 0; c < channels; c++) row.push(samples[(y * w + x) * channels + c]!);
      if (row.length === 0) continue;
      raw.push(0, ...packRow(row, depth));
    }
  }
  const bytes = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
    ...chunk('IHDR', [...be32(w), ...be32(h), depth, colorType, 0, 0, opts.interlace ? 1 : 0]),
    ...(opts.plte ? chunk('PLTE', opts.plte) : []),
    ...(opts.trns ? chunk('tRNS', opts.trns) : []),
    ...chunk('IDAT', zlibSync(new Uint8Array(raw))),
    ...chunk('IEND', []),
  ];
  return new Uint8Array(bytes);
}

/** Deterministic pseudo-random integers in [0, n). */
function rand(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

const ppDefault = (size = 224, c = 3) => parsePreprocessorConfig(undefined, size, c);

// ---------------------------------------------------------------------------------------------
// Against the reference

const FIXTURE_IMAGES = ['gray-224.png', 'rgb-320x240.png', 'rgba-100x150.png', 'rgb-320x240.jpg'];

test('fixture images match ViTImageProcessor pixel_values (bar: PNG ≤ 1 level and ≥ 99% within 1e-5; JPEG 99% ≤ 3 levels)', () => {
  const ref = SafetensorsFile.parse(read('pixel_values.safetensors'), 'pixel_values.safetensors');
  const pp = parsePreprocessorConfig(PP_JSON, 224, 3);
  for (const file of FIXTURE_IMAGES) {
    const img = decodeImage(read(file), file);
    const x = preprocessImage(img, pp, 3);
    const r = ref.f32(file.replace('.', '_'));
    const want = (r as { data?: Float32Array }).data ?? (r as unknown as Float32Array);
    assert.equal(x.length, 3 * 224 * 224, file);
    assert.equal(want.length, x.length, file);
    let exact = 0;
    let within1 = 0;
    let within3 = 0;
    let maxLevels = 0;
    for (let i = 0; i < x.length; i++) {
      const c = Math.floor(i / (224 * 224));
      const level = 1 / 255 / pp.imageStd[c]!;
      const d = Math.abs(x[i]! - want[i]!);
      if (d <= 1e-5) exact++;
      if (d <= level * 1.0001) within1++;
      if (d <= 3 * level * 1.0001) within3++;
      maxLevels = Math.max(maxLevels, d / level);
    }
    const n = x.length;
    console.log(`${file}: ${img.width}×${img.height}×${img.channels}, exact (≤1e-5) ${((100 * exact) / n).toFixed(4)}%, max ${maxLevels.toFixed(3)} levels`);
    if (file.endsWith('.png')) {
      assert.equal(within1, n, `${file}: every value within one 8-bit level`);
      assert.ok(exact / n >= 0.99, `${file}: ${exact / n} within 1e-5`);
    } else {
      assert.ok(within3 / n >= 0.99, `${file}: ${within3 / n} within three levels`);
    }
    // What this implementation actually achieves: bit-exact (Pillow's resampler and libjpeg-turbo's
    // decoder are reproduced), a regression guard stricter than the bar.
    assert.equal(exact, n, `${file}: bit-exact with the reference`);
  }
});

test('the fixture preprocessor_config.json parses to the vit-mae-base settings', () => {
  const pp = parsePreprocessorConfig(PP_JSON, 224, 3);
  assert.deepEqual(pp, {
    doResize: true,
    size: { height: 224, width: 224 },
    doRescale: true,
    rescaleFactor: 0.00392156862745098,
    doNormalize: true,
    imageMean: [0.48500001430511475, 0.4560000002384186, 0.4059999883174896],
    imageStd: [0.2290000021457672, 0.2240000069141388, 0.22499999403953552],
  });
});

// ---------------------------------------------------------------------------------------------
// Colour types

test('gray is replicated into R, G and B; 1-channel models get the gray itself', () => {
  const r = rand(1);
  const w = 40;
  const h = 30;
  const g = Array.from({ length: w * h }, () => r(256));
  const img = decodeImage(writePng(w, h, g, { depth: 8, colorType: 0, channels: 1 }), 'gray.png');
  assert.equal(img.channels, 1);
  const rgb = toRgb8(img);
  for (let i = 0; i < w * h; i++) assert.deepEqual([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]], [g[i], g[i], g[i]]);
  // Same pixels through preprocessing as an RGB PNG holding the replicated gray.
  const asRgb = decodeImage(writePng(w, h, g.flatMap((v) => [v, v, v]), { depth: 8, colorType: 2, channels: 3 }), 'rgb.png');
  const pp = ppDefault(32);
  assert.deepEqual(preprocessImage(img, pp, 3), preprocessImage(asRgb, pp, 3));
  // Luma of a gray image is the gray.
  assert.deepEqual(Array.from(toLuma8(img)), g);
  const pp1 = ppDefault(32, 1);
  const x1 = preprocessImage(img, pp1, 1);
  assert.equal(x1.length, 32 * 32);
});

test('alpha is dropped without compositing (RGBA, gray+alpha, palette with tRNS)', () => {
  const r = rand(2);
  const w = 23;
  const h = 17;
  const rgb = Array.from({ length: w * h * 3 }, () => r(256));
  const rgba = Array.from({ length: w * h }, (_, i) => [rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, r(256)]).flat();
  const pp = ppDefault(16);
  const a = preprocessImage(decodeImage(writePng(w, h, rgb, { depth: 8, colorType: 2, channels: 3 }), 'rgb.png'), pp, 3);
  const b = preprocessImage(decodeImage(writePng(w, h, rgba, { depth: 8, colorType: 6, channels: 4 }), 'rgba.png'), pp, 3);
  assert.deepEqual(a, b);
  // Fully transparent pixels keep their stored colour.
  const clear = rgba.map((v, i) => (i % 4 === 3 ? 0 : v));
  assert.deepEqual(toRgb8(decodeImage(writePng(w, h, clear, { depth: 8, colorType: 6, channels: 4 }), 'clear.png')), new Uint8Array(rgb));

  const g = Array.from({ length: w * h }, () => r(256));
  const la = g.flatMap((v) => [v, r(256)]);
  const gImg = decodeImage(writePng(w, h, g, { depth: 8, colorType: 0, channels: 1 }), 'g.png');
  const laImg = decodeImage(writePng(w, h, la, { depth: 8, colorType: 4, channels: 2 }), 'la.png');
  assert.equal(laImg.channels, 2);
  assert.deepEqual(preprocessImage(laImg, pp, 3), preprocessImage(gImg, pp, 3));
  assert.deepEqual(toLuma8(laImg), toLuma8(gImg));
});

test('palette images expand to their colours, at every index depth, with and without tRNS', () => {
  for (const depth of [1, 2, 4, 8]) {
    const r = rand(depth);
    const n = 1 << depth;
    const plte = Array.from({ length: n * 3 }, () => r(256));
    const w = 19;
    const h = 7;
    const idx = Array.from({ length: w * h }, () => r(n));
    const expected = idx.flatMap((i) => plte.slice(3 * i, 3 * i + 3));
    const plain = decodeImage(writePng(w, h, idx, { depth, colorType: 3, channels: 1, plte }), `p${depth}.png`);
    assert.equal(plain.channels, 3);
    assert.deepEqual(Array.from(plain.data), expected, `depth ${depth}`);
    const trns = Array.from({ length: Math.ceil(n / 2) }, () => r(256));
    const withAlpha = decodeImage(writePng(w, h, idx, { depth, colorType: 3, channels: 1, plte, trns }), `pa${depth}.png`);
    assert.equal(withAlpha.channels, 4);
    assert.deepEqual(Array.from(toRgb8(withAlpha)), expected);
    for (let i = 0; i < w * h; i++) assert.equal(withAlpha.data[4 * i + 3], trns[idx[i]!] ?? 255);
    // Luma goes through the palette colour (Pillow's p2l).
    const luma = toLuma8(plain);
    for (let i = 0; i < w * h; i++) assert.equal(luma[i], lumaOf(expected[3 * i]!, expected[3 * i + 1]!, expected[3 * i + 2]!));
  }
});

test('sub-byte gray is scaled to 8 bits as Pillow does (1 → ×255, 2 → ×85, 4 → ×17)', () => {
  for (const [depth, scale] of [[1, 255], [2, 85], [4, 17]] as const) {
    const r = rand(10 + depth);
    const w = 13;
    const h = 5;
    const s = Array.from({ length: w * h }, () => r(1 << depth));
    const img = decodeImage(writePng(w, h, s, { depth, colorType: 0, channels: 1 }), `g${depth}.png`);
    assert.deepEqual(Array.from(img.data), s.map((v) => v * scale));
  }
});

test('16-bit PNGs keep 16 bits when decoded, and map to 8 bits the way Pillow does', () => {
  const w = 6;
  const h = 2;
  const v16 = [0, 1, 255, 256, 4660, 65535, 32768, 300, 128, 65280, 255, 511];
  // RGB/RGBA/LA 16-bit: Pillow's unpackers keep the high byte.
  const rgb16 = v16.flatMap((v, i) => [v, v16[(i + 1) % 12]!, v16[(i + 5) % 12]!]);
  const rgbImg = decodeImage(writePng(w, h, rgb16, { depth: 16, colorType: 2, channels: 3 }), 'rgb16.png');
  assert.equal(rgbImg.bitDepth, 16);
  assert.ok(rgbImg.data instanceof Uint16Array);
  assert.deepEqual(Array.from(rgbImg.data), rgb16);
  assert.deepEqual(Array.from(toRgb8(rgbImg)), rgb16.map((v) => v >> 8));
  const rgba16 = v16.flatMap((v) => [v, 65535 - v, v >> 1, 1234]);
  assert.deepEqual(
    Array.from(toRgb8(decodeImage(writePng(w, h, rgba16, { depth: 16, colorType: 6, channels: 4 }), 'rgba16.png'))),
    v16.flatMap((v) => [v >> 8, (65535 - v) >> 8, (v >> 1) >> 8]),
  );
  const la16 = v16.flatMap((v) => [v, 7]);
  assert.deepEqual(
    Array.from(toRgb8(decodeImage(writePng(w, h, la16, { depth: 16, colorType: 4, channels: 2 }), 'la16.png'))),
    v16.flatMap((v) => [v >> 8, v >> 8, v >> 8]),
  );
  // 16-bit gray: Pillow opens it as a 32-bit integer image and convert("RGB"/"L") clips at 255.
  const grayImg = decodeImage(writePng(w, h, v16, { depth: 16, colorType: 0, channels: 1 }), 'gray16.png');
  assert.deepEqual(Array.from(toLuma8(grayImg)), v16.map((v) => Math.min(v, 255)));
  assert.deepEqual(Array.from(toRgb8(grayImg)), v16.flatMap((v) => [Math.min(v, 255), Math.min(v, 255), Math.min(v, 255)]));
});

test('Adam7-interlaced PNGs decode like non-interlaced ones, at every depth', () => {
  for (const [depth, colorType, channels] of [[1, 0, 1], [2, 0, 1], [4, 3, 1], [8, 2, 3], [16, 6, 4], [8, 4, 2]] as const) {
    const r = rand(100 + depth + colorType);
    const w = 11;
    const h = 9;
    const max = colorType === 3 ? 1 << depth : 2 ** depth;
    const s = Array.from({ length: w * h * channels }, () => r(max));
    const plte = colorType === 3 ? Array.from({ length: (1 << depth) * 3 }, () => r(256)) : undefined;
    const a = decodeImage(writePng(w, h, s, { depth, colorType, channels, plte }), 'flat.png');
    const b = decodeImage(writePng(w, h, s, { depth, colorType, channels, plte, interlace: true }), 'adam7.png');
    assert.deepEqual(b, { ...a, name: 'adam7.png' }, `depth ${depth} colour type ${colorType}`);
  }
});

test('luma is Pillow\'s convert("L"): (R·19595 + G·38470 + B·7471 + 0x8000) >> 16', () => {
  assert.equal(lumaOf(255, 255, 255), 255);
  assert.equal(lumaOf(0, 0, 0), 0);
  assert.equal(lumaOf(255, 0, 0), 76); // 0.299·255 = 76.245
  assert.equal(lumaOf(0, 255, 0), 150); // 0.587·255 = 149.685
  assert.equal(lumaOf(0, 0, 255), 29); // 0.114·255 = 29.07
  assert.equal(lumaOf(10, 200, 30), 124); // 2.99 + 117.4 + 3.42 = 123.81 → rounds up
  for (let g = 0; g < 256; g++) assert.equal(lumaOf(g, g, g), g);
  const img: RawImage = { width: 2, height: 1, channels: 3, bitDepth: 8, data: new Uint8Array([255, 0, 0, 10, 200, 30]) };
  assert.deepEqual(Array.from(toLuma8(img)), [76, 124]);
});

// ---------------------------------------------------------------------------------------------
// Resize

test('Pillow BILINEAR upscaling: [0, 255] → [0, 64, 191, 255]', () => {
  assert.deepEqual(Array.from(resizeBilinearPil(new Uint8Array([0, 255]), 2, 1, 1, 4, 1)), [0, 64, 191, 255]);
  // Same vertically, and per channel.
  assert.deepEqual(Array.from(resizeBilinearPil(new Uint8Array([0, 255]), 1, 2, 1, 1, 4)), [0, 64, 191, 255]);
  const rgb = new Uint8Array([0, 255, 10, 255, 0, 10]);
  assert.deepEqual(Array.from(resizeBilinearPil(rgb, 2, 1, 3, 4, 1)), [0, 255, 10, 64, 191, 10, 191, 64, 10, 255, 0, 10]);
});

test('Pillow BILINEAR downscaling antialiases: the filter widens with the scale', () => {
  // 4 → 2: each output averages 3 inputs with weights 3/7, 3/7, 1/7 (a plain 2-tap bilinear
  // would give [50, 228]).
  assert.deepEqual(Array.from(resizeBilinearPil(new Uint8Array([0, 100, 200, 255]), 4, 1, 1, 2, 1)), [71, 209]);
  // 8 → 1: the whole row, triangle-weighted.
  const row = new Uint8Array([0, 0, 0, 0, 255, 255, 255, 255]);
  assert.deepEqual(Array.from(resizeBilinearPil(row, 8, 1, 1, 1, 1)), [128]);
  // A constant image stays constant at any size.
  const flat = new Uint8Array(50 * 30 * 3).fill(77);
  for (const [w, h] of [[7, 5], [224, 224], [50, 1], [1, 30]]) {
    assert.ok(resizeBilinearPil(flat, 50, 30, 3, w!, h!).every((v) => v === 77), `${w}×${h}`);
  }
  // Same size: an unchanged copy.
  const src = new Uint8Array([1, 2, 3, 4]);
  const same = resizeBilinearPil(src, 2, 2, 1, 2, 2);
  assert.deepEqual(same, src);
  assert.notEqual(same, src);
});

test('upscaling and downscaling through preprocessImage give the model size', () => {
  const r = rand(7);
  const pp = ppDefault(32);
  for (const [w, h] of [[8, 8], [16, 40], [100, 64], [32, 32], [33, 31], [1, 1]] as const) {
    const img: RawImage = { width: w, height: h, channels: 3, bitDepth: 8, data: Uint8Array.from({ length: w * h * 3 }, () => r(256)) };
    const x = preprocessImage(img, pp, 3);
    assert.equal(x.length, 3 * 32 * 32);
    assert.ok(x.every((v) => Number.isFinite(v)));
    const x1 = preprocessImage(img, ppDefault(32, 1), 1);
    assert.equal(x1.length, 32 * 32);
  }
});

test('resizeNearest enlarges by pixel replication', () => {
  const src = new Uint8Array([1, 2, 3, 4]);
  assert.deepEqual(Array.from(resizeNearest(src, 2, 2, 1, 4, 4)), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  const rgb = new Uint8Array([10, 20, 30]);
  assert.deepEqual(Array.from(resizeNearest(rgb, 1, 1, 3, 2, 1)), [10, 20, 30, 10, 20, 30]);
  assert.throws(() => resizeNearest(src, 2, 2, 1, 0, 4), RangeError);
  assert.throws(() => resizeBilinearPil(src, 3, 2, 1, 4, 4), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Rescale / normalise and the config

test('values are (u8 · rescale_factor − mean) / std in float32, channels first', () => {
  const img: RawImage = { width: 2, height: 1, channels: 3, bitDepth: 8, data: new Uint8Array([0, 128, 255, 255, 0, 64]) };
  const pp = { ...ppDefault(2), size: { height: 1, width: 2 } };
  const x = preprocessImage(img, pp, 3);
  const f = Math.fround;
  const expect = (v: number, c: number) => f(f(f(v / 255) - f(IMAGENET_DEFAULT_MEAN[c]!)) / f(IMAGENET_DEFAULT_STD[c]!));
  assert.deepEqual(Array.from(x), [expect(0, 0), expect(255, 0), expect(128, 1), expect(0, 1), expect(255, 2), expect(64, 2)]);
  const raw = preprocessImage(img, { ...pp, doRescale: false, doNormalize: false }, 3);
  assert.deepEqual(Array.from(raw), [0, 255, 128, 0, 255, 64]);
});

test('do_resize false: the image must already have the model size', () => {
  const pp: PreprocessorConfig = parsePreprocessorConfig({ ...PP_JSON, do_resize: false }, 224, 3);
  assert.equal(pp.doResize, false);
  const img = decodeImage(read('rgb-320x240.png'), 'rgb-320x240.png');
  assert.throws(
    () => preprocessImage(img, pp, 3),
    (e: unknown) => e instanceof ImageError && /rgb-320x240\.png/.test(e.message) && /320×240/.test(e.message) && /224×224/.test(e.message) && !e.message.includes('\n'),
  );
  const gray = decodeImage(read('gray-224.png'), 'gray-224.png');
  assert.equal(preprocessImage(gray, pp, 3).length, 3 * 224 * 224);
});

test('parsePreprocessorConfig: defaults, sizes, and errors', () => {
  // No file: ImageNet statistics for RGB, 0.5 for gray.
  const d3 = parsePreprocessorConfig(undefined, 64, 3);
  assert.deepEqual(d3.imageMean, [0.485, 0.456, 0.406]);
  assert.deepEqual(d3.imageStd, [0.229, 0.224, 0.225]);
  assert.deepEqual(d3.size, { height: 64, width: 64 });
  assert.equal(d3.rescaleFactor, 1 / 255);
  const d1 = parsePreprocessorConfig(undefined, 28, 1);
  assert.deepEqual([d1.imageMean, d1.imageStd], [[0.5], [0.5]]);
  // A file without the fields: ViTImageProcessor's defaults (0.5), size from the model.
  const e = parsePreprocessorConfig({}, 96, 3);
  assert.deepEqual([e.imageMean, e.imageStd, e.size, e.doResize, e.doRescale, e.doNormalize], [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], { height: 96, width: 96 }, true, true, true]);
  // size as an int, as {shortest_edge}; one number for all channels.
  assert.deepEqual(parsePreprocessorConfig({ size: 28, image_mean: 0.25, image_std: [0.5] }, 28, 1), {
    doResize: true, size: { height: 28, width: 28 }, doRescale: true, rescaleFactor: 1 / 255, doNormalize: true, imageMean: [0.25], imageStd: [0.5],
  });
  assert.deepEqual(parsePreprocessorConfig({ size: { shortest_edge: 224 } }, 224, 3).size, { height: 224, width: 224 });

  const bad: [unknown, number, number, RegExp][] = [
    [{ ...PP_JSON, size: { height: 256, width: 256 } }, 224, 3, /size.*256×256.*image_size is 224/],
    [{ ...PP_JSON, resample: 3 }, 224, 3, /resample/],
    [PP_JSON, 224, 1, /image_mean.*3 values.*1 channel/],
    [{ image_std: [0.5, 0, 0.5] }, 224, 3, /image_std.*0/],
    [{ do_rescale: 'yes' }, 224, 3, /do_rescale/],
    [{ rescale_factor: -1 }, 224, 3, /rescale_factor/],
    [{ size: 'big' }, 224, 3, /size/],
    [{ do_center_crop: true }, 224, 3, /center/],
    [[1, 2], 224, 3, /JSON object/],
    [undefined, 224, 4, /num_channels 4/],
  ];
  for (const [json, size, c, re] of bad) {
    assert.throws(
      () => parsePreprocessorConfig(json, size, c, 'pp.json'),
      (err: unknown) => err instanceof ConfigError && re.test(err.message) && err.message.startsWith(c === 4 ? 'pp.json' : 'pp.json:'),
      JSON.stringify(json),
    );
  }
});
