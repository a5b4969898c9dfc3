/**
 * The image commands through the CLI, as a user runs them: reconstruct (the figure's layout and
 * its panels against independent facts: the input pixels, grey removed patches, the mask ratio,
 * losses recomputed here from `forward`), encode (pooled embeddings against `encode --inputs`),
 * score (against losses recomputed here from `forward` with the same noise), preprocess (against
 * ViTImageProcessor's pixel_values), and their error paths (one line, non-zero, no output file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { deflateSync, gunzipSync } from 'node:zlib';
import { decodeImage } from '../src/image/decode.js';
import { encodePng } from '../src/image/encode-png.js';
import { preset, toHfJson } from '../src/config.js';
import { encodeSafetensors } from '../src/safetensors.js';
import { seededNoise } from '../src/masking.js';
import { maskSeed } from '../src/jobs/score.js';
import { FIXTURES, GOLDEN, ROOT, nonResizingModel, readTensors, runCli, tempDir, type CliResult } from './helpers.js';

const MODEL = join(ROOT, 'models', 'mae-fashion-mnist');
const SAMPLES = join(MODEL, 'samples');
const SAMPLE_FILES = readdirSync(SAMPLES).filter((f) => f.endsWith('.png')).sort().map((f) => join(SAMPLES, f));
const CFG = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')) as Record<string, number>;
const PP = JSON.parse(readFileSync(join(MODEL, 'preprocessor_config.json'), 'utf8')) as { rescale_factor: number; image_mean: number[]; image_std: number[] };
const SIZE = CFG.image_size; // 28
const PATCH = CFG.patch_size; // 4
const GRID = SIZE / PATCH; // 7
const L = GRID * GRID; // 49
const HIDDEN = CFG.hidden_size; // 128
const PRE = join(FIXTURES, 'preprocess');

/** Gap between panels and around the figure, in output pixels (src/jobs/figure.ts). */
const GAP = 4;
/** Grey of removed patches in the masked panel (src/jobs/reconstruct.ts). */
const GREY = 128;

const FM_DIR = '/usr/share/datasets/fashion-mnist';
const fmFile = (base: string) => [join(FM_DIR, `${base}.gz`), join(FM_DIR, base)].find((p) => existsSync(p));
const FM_MISSING = !fmFile('t10k-images-idx3-ubyte') || !fmFile('t10k-labels-idx1-ubyte');
// CI installs dataset-fashion-mnist (.ci/run): there a missing dataset must fail, not skip.
const FM_SKIP = FM_MISSING && !process.env.CI ? `Fashion-MNIST not installed at ${FM_DIR} (apt-get install dataset-fashion-mnist)` : false;

// ---------------------------------------------------------------------------------------------
// Helpers

function ok(args: string[]): CliResult {
  const r = runCli(args);
  assert.equal(r.status, 0, `edge-mae ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

/** One line on stderr matching `pattern`, non-zero exit, no stack trace, no output (or temporary) file. */
function expectOneLineError(args: string[], pattern: RegExp, outFile?: string): void {
  const r = runCli(args);
  assert.notEqual(r.status, 0, `expected failure, got exit 0: ${r.stdout}`);
  // Progress lines (`score: 1/1 images`, written to stderr when it is not a terminal) are not part of the error.
  const lines = r.stderr.trim().split('\n').filter((l) => !/^(score|encode): \d+\/\d+ images$/.test(l));
  assert.equal(lines.length, 1, `one line expected on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.match(lines[0], /^edge-mae: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  if (outFile) {
    assert.ok(!existsSync(outFile), 'no output file is left behind');
    const dir = join(outFile, '..');
    if (existsSync(dir)) assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), [], 'no temporary file is left behind');
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Fashion-MNIST test images read here from the IDX file (header: magic 0x803, n, rows, cols). */
function fmTestImages(): Uint8Array {
  const path = fmFile('t10k-images-idx3-ubyte');
  assert.ok(path, `Fashion-MNIST is missing at ${FM_DIR} (apt-get install dataset-fashion-mnist)`);
  let b = new Uint8Array(readFileSync(path));
  if (b[0] === 0x1f && b[1] === 0x8b) b = new Uint8Array(gunzipSync(b));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.deepEqual([dv.getUint32(0), dv.getUint32(4), dv.getUint32(8), dv.getUint32(12)], [0x803, 10000, 28, 28]);
  return b.subarray(16);
}

/** A PNG writer independent of the code under test (own CRC, node:zlib, filter 0): any depth/colour type. */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}
function writePng(w: number, h: number, depth: 8 | 16, colorType: number, channels: number, samples: ArrayLike<number>): Uint8Array {
  const bps = depth / 8;
  const rowBytes = w * channels * bps;
  const raw = Buffer.alloc(h * (1 + rowBytes));
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < w * channels; i++) {
      const v = samples[y * w * channels + i];
      const o = y * (1 + rowBytes) + 1 + i * bps;
      if (depth === 16) raw.writeUInt16BE(v, o);
      else raw[o] = v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
}

/** The sample's gray pixels, decoded (8-bit gray PNGs). */
function grayOf(file: string): Uint8Array {
  const img = decodeImage(new Uint8Array(readFileSync(file)), file);
  assert.deepEqual([img.width, img.height, img.channels, img.bitDepth], [SIZE, SIZE, 1, 8], file);
  return img.data as Uint8Array;
}

interface Figure { width: number; height: number; data: Uint8Array }

function readFigure(path: string): Figure {
  const img = decodeImage(new Uint8Array(readFileSync(path)), path);
  assert.equal(img.channels, 3, 'the figure is RGB');
  assert.equal(img.bitDepth, 8);
  return { width: img.width, height: img.height, data: img.data as Uint8Array };
}

const figureSize = (rows: number, cols: number, size: number, scale: number) => ({ width: GAP + cols * (size * scale + GAP), height: GAP + rows * (size * scale + GAP) });

/**
 * Checks the layout (size, white background between panels, each panel an exact nearest-neighbour
 * enlargement) and returns the panels at 1× as [row][col] interleaved RGB (size·size·3).
 */
function panels(fig: Figure, rows: number, cols: number, size: number, scale: number): Uint8Array[][] {
  assert.deepEqual({ width: fig.width, height: fig.height }, figureSize(rows, cols, size, scale), 'figure size');
  const cell = size * scale;
  const inCell = (v: number) => v >= GAP && (v - GAP) % (cell + GAP) < cell;
  let nonWhite = 0;
  for (let y = 0; y < fig.height; y++) {
    for (let x = 0; x < fig.width; x++) {
      if (inCell(x) && inCell(y)) continue;
      const o = (y * fig.width + x) * 3;
      if (fig.data[o] !== 255 || fig.data[o + 1] !== 255 || fig.data[o + 2] !== 255) nonWhite++;
    }
  }
  assert.equal(nonWhite, 0, 'gaps and margins are white');
  const out: Uint8Array[][] = [];
  for (let r = 0; r < rows; r++) {
    out.push([]);
    for (let c = 0; c < cols; c++) {
      const p = new Uint8Array(size * size * 3);
      const x0 = GAP + c * (cell + GAP), y0 = GAP + r * (cell + GAP);
      let blocky = 0;
      for (let y = 0; y < cell; y++) {
        for (let x = 0; x < cell; x++) {
          const s = ((y0 + y) * fig.width + x0 + x) * 3;
          const d = (Math.floor(y / scale) * size + Math.floor(x / scale)) * 3;
          for (let k = 0; k < 3; k++) {
            if (y % scale === 0 && x % scale === 0) p[d + k] = fig.data[s + k];
            else if (p[d + k] !== fig.data[s + k]) blocky++;
          }
        }
      }
      assert.equal(blocky, 0, `panel (${r},${c}) is a nearest-neighbour enlargement ×${scale}`);
      out[r].push(p);
    }
  }
  return out;
}

/** Pixel indices (y·size + x) of patch l. */
function patchIndices(l: number, size: number, p: number): number[] {
  const g = size / p;
  const y0 = Math.floor(l / g) * p, x0 = (l % g) * p;
  const out: number[] = [];
  for (let y = y0; y < y0 + p; y++) for (let x = x0; x < x0 + p; x++) out.push(y * size + x);
  return out;
}
const patchEqual = (a: Uint8Array, b: Uint8Array, l: number, size: number, p: number) => patchIndices(l, size, p).every((i) => a[3 * i] === b[3 * i] && a[3 * i + 1] === b[3 * i + 1] && a[3 * i + 2] === b[3 * i + 2]);
const patchGrey = (a: Uint8Array, l: number, size: number, p: number) => patchIndices(l, size, p).every((i) => a[3 * i] === GREY && a[3 * i + 1] === GREY && a[3 * i + 2] === GREY);

/**
 * The masked panel's patches: 1 = grey (removed), 0 = shown. Checks the facts of the MAE figure:
 * shown patches equal the original, and in the reconstruction every shown patch equals the original.
 */
function checkRow(row: Uint8Array[], size: number, p: number, removed: number, what: string): Float32Array {
  const [masked, recon] = row;
  const original = row[row.length - 1];
  const n = (size / p) ** 2;
  const mask = new Float32Array(n);
  for (let l = 0; l < n; l++) {
    assert.ok(!patchGrey(original, l, size, p), `${what}: original patch ${l} is not itself uniform grey (test precondition)`);
    if (patchGrey(masked, l, size, p)) mask[l] = 1;
    else {
      assert.ok(patchEqual(masked, original, l, size, p), `${what}: shown patch ${l} of the masked panel equals the original`);
      assert.ok(patchEqual(recon, original, l, size, p), `${what}: visible patch ${l} of the reconstruction equals the original`);
    }
  }
  assert.equal(mask.reduce((a, b) => a + b, 0), removed, `${what}: grey patches`);
  return mask;
}

/** The gray image as the panel shows it (R = G = B). */
function assertGrayPanel(panel: Uint8Array, gray: Uint8Array, what: string): void {
  let diff = 0;
  for (let i = 0; i < gray.length; i++) if (panel[3 * i] !== gray[i] || panel[3 * i + 1] !== gray[i] || panel[3 * i + 2] !== gray[i]) diff++;
  assert.equal(diff, 0, `${what}: the original panel shows the input's pixels`);
}

interface LossLine { name: string; loss: number; lossNormPix: number }
/** stdout lines `name<TAB>loss<TAB>loss_norm_pix` (the header and the summary are not of that form). */
function lossLines(stdout: string): LossLine[] {
  return stdout.split('\n').map((l) => l.split('\t')).filter((f) => f.length === 3 && f[1] !== '' && Number.isFinite(Number(f[1])) && Number.isFinite(Number(f[2])))
    .map(([name, a, b]) => ({ name, loss: Number(a), lossNormPix: Number(b) }));
}

/** pixel_values of the bundled model computed here: x/255 → (x − mean)/std, float32 steps as numpy. */
function expectedPixels(gray: Uint8Array): Float32Array {
  const f = Math.fround;
  return Float32Array.from(gray, (v) => f(f(f(v * PP.rescale_factor) - f(PP.image_mean[0])) / f(PP.image_std[0])));
}

/** Patches [L, p·p] of a 1-channel image [size·size] (one channel: (p, q) order). */
function patchify1(px: Float32Array): Float64Array {
  const out = new Float64Array(L * PATCH * PATCH);
  for (let l = 0; l < L; l++) patchIndices(l, SIZE, PATCH).forEach((i, k) => { out[l * PATCH * PATCH + k] = px[i]; });
  return out;
}

/** Mean over removed patches of the per-patch MSE, plain or against per-patch normalised targets (unbiased var, eps 1e-6). */
function maskedLoss(pred: ArrayLike<number>, target: ArrayLike<number>, mask: ArrayLike<number>, normPix: boolean): number {
  const P = target.length / mask.length;
  let sum = 0, count = 0;
  for (let l = 0; l < mask.length; l++) {
    if (!mask[l]) continue;
    let mean = 0;
    for (let k = 0; k < P; k++) mean += target[l * P + k];
    mean /= P;
    let v = 0;
    for (let k = 0; k < P; k++) v += (target[l * P + k] - mean) ** 2;
    const std = Math.sqrt(v / (P - 1) + 1e-6);
    let se = 0;
    for (let k = 0; k < P; k++) {
      const t = normPix ? (target[l * P + k] - mean) / std : target[l * P + k];
      se += (pred[l * P + k] - t) ** 2;
    }
    sum += se / P;
    count++;
  }
  return sum / count;
}

/** `forward` on pixel_values [N,1,28,28] with the given noise [N,L]; returns pred [N,L,P] and mask. */
function forwardWithNoise(pixels: Float32Array, noise: Float32Array, n: number, extra: string[] = []): { pred: Float32Array; mask: Float32Array } {
  const dir = tempDir();
  const inputs = join(dir, 'in.safetensors');
  writeFileSync(inputs, encodeSafetensors({
    pixel_values: { dtype: 'F32', shape: [n, 1, SIZE, SIZE], data: pixels },
    noise: { dtype: 'F32', shape: [n, L], data: noise },
  }));
  const out = join(dir, 'out.safetensors');
  ok(['forward', '--model', MODEL, '--inputs', inputs, '--out', out, ...extra]);
  const t = readTensors(out);
  return { pred: t.f32('pred'), mask: t.f32('mask') };
}

/** pixel_values of the bundled samples (sorted), made by `edge-mae preprocess` and checked against the formula. */
let samplePixelsMemo: Float32Array | undefined;
function samplePixels(): Float32Array {
  if (samplePixelsMemo) return samplePixelsMemo;
  const out = join(tempDir(), 'pv.safetensors');
  ok(['preprocess', ...SAMPLE_FILES, '--out', out]);
  const t = readTensors(out);
  assert.deepEqual(t.info('pixel_values').shape, [SAMPLE_FILES.length, 1, SIZE, SIZE]);
  const pv = t.f32('pixel_values');
  SAMPLE_FILES.forEach((f, n) => {
    const want = expectedPixels(grayOf(f));
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(pv[n * SIZE * SIZE + i] - want[i]));
    assert.ok(worst <= 1e-6, `${basename(f)}: preprocess differs from (x/255 − mean)/std by ${worst}`);
  });
  samplePixelsMemo = pv;
  return pv;
}
const imagePixels = (pv: Float32Array, n: number) => pv.subarray(n * SIZE * SIZE, (n + 1) * SIZE * SIZE);

/** A model folder for the golden tiny model (3 channels, 32 px) that resizes its inputs. */
function tinyResizingModel(): string {
  const dir = join(tempDir(), 'tiny');
  mkdirSync(dir);
  copyFileSync(join(GOLDEN, 'tiny', 'config.json'), join(dir, 'config.json'));
  copyFileSync(join(GOLDEN, 'tiny', 'model.safetensors'), join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({
    do_resize: true, size: { height: 32, width: 32 }, resample: 2, do_rescale: true, rescale_factor: 1 / 255,
    do_normalize: true, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], image_processor_type: 'ViTImageProcessor',
  }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// reconstruct

test('reconstruct: bundled model and samples by default, --scale 2 layout, loss lines, panels vs the inputs and a recomputed loss', () => {
  const out = join(tempDir(), 'fig.png');
  const r = ok(['reconstruct', '--out', out, '--scale', '2', '--seed', '5']);
  const N = SAMPLE_FILES.length;
  // 3 panels per row, one row per image: 4 + 3·(28·2 + 4) = 184 by 4 + 8·60 = 484.
  const fig = readFigure(out);
  assert.deepEqual([fig.width, fig.height], [184, 484]);
  const rows = panels(fig, N, 3, SIZE, 2);

  const lines = lossLines(r.stdout);
  assert.equal(lines.length, N, `one loss line per image:\n${r.stdout}`);
  lines.forEach((l, n) => assert.ok(l.name.endsWith(basename(SAMPLE_FILES[n])), `line ${n} names ${basename(SAMPLE_FILES[n])}: ${l.name}`));

  // Panels: the original is the input; 37 of 49 patches grey (mask ratio 0.75: int(49·0.25) = 12 kept).
  const masks = rows.map((row, n) => {
    assertGrayPanel(row[2], grayOf(SAMPLE_FILES[n]), basename(SAMPLE_FILES[n]));
    return checkRow(row, SIZE, PATCH, 37, basename(SAMPLE_FILES[n]));
  });

  // The printed losses, recomputed here from `forward` run with a noise that keeps exactly the shown patches.
  const pv = samplePixels();
  const noise = new Float32Array(N * L);
  masks.forEach((m, n) => m.forEach((v, l) => { noise[n * L + l] = (v ? 0.5 : 0) + l / 1000; }));
  const f = forwardWithNoise(pv, noise, N);
  assert.deepEqual(Array.from(f.mask), masks.flatMap((m) => Array.from(m)), 'forward keeps the shown patches');
  for (let n = 0; n < N; n++) {
    const pred = f.pred.subarray(n * L * 16, (n + 1) * L * 16);
    const target = patchify1(imagePixels(pv, n));
    const loss = maskedLoss(pred, target, masks[n], false);
    const lossNormPix = maskedLoss(pred, target, masks[n], true);
    // Printed with 6 decimals (rounding ≤ 5e-7); the token order differs from reconstruct's, so allow float noise (~1e-8) too.
    assert.ok(Math.abs(lines[n].loss - loss) <= 1e-6, `${lines[n].name}: loss ${lines[n].loss} vs recomputed ${loss}`);
    assert.ok(Math.abs(lines[n].lossNormPix - lossNormPix) <= 1e-6, `${lines[n].name}: loss_norm_pix ${lines[n].lossNormPix} vs recomputed ${lossNormPix}`);
  }
});

test('reconstruct: auto scale (panels ≥ 112 px) and reproducibility (same seed → same bytes, other seed → different)', () => {
  const dir = tempDir();
  const a = join(dir, 'a.png'), b = join(dir, 'b.png'), c = join(dir, 'c.png');
  ok(['reconstruct', '--out', a]);
  ok(['reconstruct', ...SAMPLE_FILES, '--out', b, '--seed', '0']);
  ok(['reconstruct', '--out', c, '--seed', '1']);
  // 28 px → ×ceil(112/28) = ×4: 4 + 3·(112 + 4) = 352 by 4 + 8·116 = 932.
  const fig = readFigure(a);
  assert.deepEqual([fig.width, fig.height], [352, 932]);
  const rows = panels(fig, SAMPLE_FILES.length, 3, SIZE, 4);
  rows.forEach((row, n) => checkRow(row, SIZE, PATCH, 37, `row ${n}`));
  assert.ok(readFileSync(a).equals(readFileSync(b)), 'same seed (default 0 vs --seed 0) → identical bytes');
  assert.ok(!readFileSync(a).equals(readFileSync(c)), 'another seed → another figure');
});

test('reconstruct --mask-ratio 0.5: 25 of 49 patches grey', () => {
  const out = join(tempDir(), 'fig.png');
  const r = ok(['reconstruct', SAMPLE_FILES[1], SAMPLE_FILES[4], '--out', out, '--mask-ratio', '0.5', '--scale', '1']);
  assert.equal(lossLines(r.stdout).length, 2);
  const rows = panels(readFigure(out), 2, 3, SIZE, 1);
  rows.forEach((row, n) => checkRow(row, SIZE, PATCH, 25, `row ${n}`)); // int(49·0.5) = 24 kept
});

test('reconstruct --show-prediction: a fourth panel, the raw prediction, which fills the reconstruction\'s removed patches', () => {
  const out = join(tempDir(), 'fig.png');
  const files = [SAMPLE_FILES[0], SAMPLE_FILES[6]];
  ok(['reconstruct', ...files, '--out', out, '--show-prediction', '--scale', '1', '--seed', '9']);
  const fig = readFigure(out);
  assert.deepEqual([fig.width, fig.height], [4 + 4 * 32, 4 + 2 * 32]);
  const rows = panels(fig, 2, 4, SIZE, 1);
  const masks = rows.map((row, n) => {
    assertGrayPanel(row[3], grayOf(files[n]), `row ${n}`);
    return checkRow(row, SIZE, PATCH, 37, `row ${n}`);
  });
  // The prediction panel against `forward`'s pred for the same mask, displayed here: round((x·std + mean)·255).
  const pv = samplePixels();
  const pixels = new Float32Array(2 * SIZE * SIZE);
  pixels.set(imagePixels(pv, 0), 0);
  pixels.set(imagePixels(pv, 6), SIZE * SIZE);
  const noise = new Float32Array(2 * L);
  masks.forEach((m, n) => m.forEach((v, l) => { noise[n * L + l] = (v ? 0.5 : 0) + l / 1000; }));
  const f = forwardWithNoise(pixels, noise, 2);
  rows.forEach((row, n) => {
    const [, recon, pred] = row;
    let off = 0;
    for (let l = 0; l < L; l++) {
      patchIndices(l, SIZE, PATCH).forEach((i, k) => {
        const x = f.pred[(n * L + l) * 16 + k];
        const want = Math.max(0, Math.min(255, Math.round((x * PP.image_std[0] + PP.image_mean[0]) / PP.rescale_factor)));
        if (Math.abs(pred[3 * i] - want) > 1) off++;
      });
      if (masks[n][l]) assert.ok(patchEqual(recon, pred, l, SIZE, PATCH), `row ${n}: removed patch ${l} of the reconstruction is the prediction`);
    }
    assert.equal(off, 0, `row ${n}: prediction panel within one level of forward's pred`);
  });
});

test('reconstruct --fashion-mnist test:0-3: the dataset images, as the samples they were saved from', { skip: FM_SKIP }, () => {
  const idx = fmTestImages();
  const dir = tempDir();
  const a = join(dir, 'fm.png'), b = join(dir, 'files.png');
  const r = ok(['reconstruct', '--fashion-mnist', 'test:0-3', '--out', a, '--seed', '3']);
  const lines = lossLines(r.stdout);
  assert.equal(lines.length, 4);
  lines.forEach((l, i) => assert.match(l.name, new RegExp(`test:${i}\\b`)));
  const rows = panels(readFigure(a), 4, 3, SIZE, 4);
  rows.forEach((row, i) => {
    assertGrayPanel(row[2], idx.subarray(i * 784, (i + 1) * 784), `test image ${i}`);
    checkRow(row, SIZE, PATCH, 37, `test image ${i}`);
  });
  // The samples test-0 … test-3 are those images (checked here), so the same seed gives the same losses.
  SAMPLE_FILES.slice(0, 4).forEach((f, i) => assert.deepEqual(grayOf(f), idx.subarray(i * 784, (i + 1) * 784), basename(f)));
  const rf = lossLines(ok(['reconstruct', ...SAMPLE_FILES.slice(0, 4), '--out', b, '--seed', '3']).stdout);
  assert.deepEqual(lines.map((l) => [l.loss, l.lossNormPix]), rf.map((l) => [l.loss, l.lossNormPix]));
});

test('reconstruct: a 16-bit RGB PNG and a gray+alpha PNG are read as their 8-bit gray content', () => {
  const dir = tempDir();
  const gray = grayOf(SAMPLE_FILES[1]);
  // 16-bit RGB, every sample v·257: 8 bits of it are v (high byte, or /257); luma of (v, v, v) is v.
  const rgb16 = join(dir, 'rgb16.png');
  writeFileSync(rgb16, writePng(SIZE, SIZE, 16, 2, 3, Array.from(gray).flatMap((v) => [v * 257, v * 257, v * 257])));
  // 8-bit gray+alpha (encodePng), alpha varying: ViTImageProcessor (Pillow convert) drops alpha.
  const la = join(dir, 'gray-alpha.png');
  writeFileSync(la, encodePng(Uint8Array.from(Array.from(gray).flatMap((v, i) => [v, (i * 37) & 255])), SIZE, SIZE, 2));
  const check = decodeImage(new Uint8Array(readFileSync(rgb16)), rgb16);
  assert.deepEqual([check.channels, check.bitDepth], [3, 16], 'test fixture is a 16-bit RGB PNG');

  // The same pixel_values as the 8-bit original.
  const pvOut = join(dir, 'pv.safetensors');
  ok(['preprocess', SAMPLE_FILES[1], rgb16, la, '--out', pvOut]);
  const pv = readTensors(pvOut).f32('pixel_values');
  const want = expectedPixels(gray);
  for (let n = 0; n < 3; n++) {
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(pv[n * 784 + i] - want[i]));
    assert.ok(worst <= 1e-6, `image ${n}: pixel_values off by ${worst}`);
  }
  // And through reconstruct: each figure row shows the original gray image.
  const out = join(dir, 'fig.png');
  const r = ok(['reconstruct', rgb16, la, '--out', out, '--scale', '1']);
  assert.deepEqual(lossLines(r.stdout).map((l) => basename(l.name)), ['rgb16.png', 'gray-alpha.png']);
  panels(readFigure(out), 2, 3, SIZE, 1).forEach((row, n) => {
    assertGrayPanel(row[2], gray, `row ${n}`);
    checkRow(row, SIZE, PATCH, 37, `row ${n}`);
  });
});

test('reconstruct with a 3-channel model folder that resizes: RGB JPEG, RGBA and gray PNGs of other sizes', () => {
  const model = tinyResizingModel();
  const files = [join(PRE, 'rgb-320x240.jpg'), join(PRE, 'rgba-100x150.png'), join(PRE, 'gray-224.png')];
  const dir = tempDir();
  const out = join(dir, 'fig.png');
  const r = ok(['reconstruct', '--model', model, ...files, '--out', out]);
  assert.equal(lossLines(r.stdout).length, 3);
  // 32 px → ×ceil(112/32) = ×4: 4 + 3·(128 + 4) = 400 both ways for 3 rows.
  const fig = readFigure(out);
  assert.deepEqual([fig.width, fig.height], [400, 400]);
  const rows = panels(fig, 3, 3, 32, 4);
  // The original panels are the model's resized pixels (`preprocess` with the same folder) displayed.
  const pvOut = join(dir, 'pv.safetensors');
  ok(['preprocess', '--model', model, ...files, '--out', pvOut]);
  const pv = readTensors(pvOut).f32('pixel_values');
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  rows.forEach((row, n) => {
    checkRow(row, 32, 4, 48, basename(files[n])); // 64 patches, int(64·0.25) = 16 kept
    let diff = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 32 * 32; i++) {
        const v = Math.max(0, Math.min(255, Math.round((pv[(n * 3 + c) * 1024 + i] * std[c] + mean[c]) * 255)));
        if (row[2][3 * i + c] !== v) diff++;
      }
    }
    assert.equal(diff, 0, `${basename(files[n])}: original panel shows the resized input`);
  });
  // The gray image stays gray in RGB.
  const g = rows[2][2];
  for (let i = 0; i < 1024; i++) assert.ok(g[3 * i] === g[3 * i + 1] && g[3 * i] === g[3 * i + 2], 'gray PNG → R = G = B');
});

// ---------------------------------------------------------------------------------------------
// encode

test('encode IMAGES --out .jsonl / .safetensors: one embedding per image in argument order; mean = mean of latent_all tokens 1..L, cls = token 0', () => {
  const dir = tempDir();
  const pv = samplePixels();
  const pvOut = join(dir, 'pv.safetensors');
  writeFileSync(pvOut, encodeSafetensors({ pixel_values: { dtype: 'F32', shape: [SAMPLE_FILES.length, 1, SIZE, SIZE], data: pv } }));
  const latOut = join(dir, 'lat.safetensors');
  ok(['encode', '--model', MODEL, '--inputs', pvOut, '--out', latOut]);
  const lat = readTensors(latOut);
  assert.deepEqual(lat.info('latent_all').shape, [SAMPLE_FILES.length, 1 + L, HIDDEN]);
  const all = lat.f32('latent_all');
  const token = (n: number, t: number) => all.subarray((n * (1 + L) + t) * HIDDEN, (n * (1 + L) + t + 1) * HIDDEN);
  const meanOf = (n: number) => Array.from({ length: HIDDEN }, (_, d) => {
    let s = 0;
    for (let t = 1; t <= L; t++) s += token(n, t)[d];
    return s / L;
  });

  const order = [7, 3, 0, 5]; // not sorted: output follows the arguments
  const files = order.map((n) => SAMPLE_FILES[n]);
  const jsonl = join(dir, 'e.jsonl');
  ok(['encode', ...files, '--out', jsonl]);
  const rows = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { image: string; embedding: number[] });
  assert.equal(rows.length, order.length);
  rows.forEach((row, k) => {
    assert.ok(row.image.endsWith(basename(files[k])), `row ${k} is ${basename(files[k])}: ${row.image}`);
    assert.equal(row.embedding.length, HIDDEN);
    const want = meanOf(order[k]);
    const worst = Math.max(...row.embedding.map((v, d) => Math.abs(v - want[d])));
    assert.ok(worst <= 1e-5, `${row.image}: mean-pooled embedding off by ${worst}`);
  });

  const st = join(dir, 'e.safetensors');
  ok(['encode', ...files, '--out', st, '--pool', 'cls']);
  const e = readTensors(st);
  assert.deepEqual(e.info('embeddings').shape, [order.length, HIDDEN]);
  const emb = e.f32('embeddings');
  order.forEach((n, k) => {
    const want = token(n, 0);
    let worst = 0;
    for (let d = 0; d < HIDDEN; d++) worst = Math.max(worst, Math.abs(emb[k * HIDDEN + d] - want[d]));
    assert.ok(worst <= 1e-5, `${basename(files[k])}: cls embedding off by ${worst}`);
  });
  const names = JSON.parse(e.metadata.images ?? 'null') as string[];
  assert.deepEqual(names.map((s) => basename(s)), files.map((f) => basename(f)), 'metadata lists the images in order');
});

test('encode FOLDER with one corrupt image among good ones: exit 0, the bad one named on stderr, the others written', () => {
  const dir = tempDir();
  const folder = join(dir, 'imgs');
  mkdirSync(folder);
  copyFileSync(SAMPLE_FILES[0], join(folder, 'a.png'));
  writeFileSync(join(folder, 'b.png'), readFileSync(SAMPLE_FILES[1]).subarray(0, 120)); // truncated
  copyFileSync(SAMPLE_FILES[2], join(folder, 'c.png'));
  writeFileSync(join(folder, 'notes.txt'), 'not an image');
  const out = join(dir, 'e.jsonl');
  const r = runCli(['encode', folder, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /b\.png/, 'the bad image is named');
  assert.doesNotMatch(r.stderr, /notes\.txt/);
  const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { image: string; embedding: number[] });
  assert.deepEqual(rows.map((x) => basename(x.image)), ['a.png', 'c.png']);
  // Same embeddings as for the good images alone.
  const alone = join(dir, 'alone.jsonl');
  ok(['encode', join(folder, 'a.png'), join(folder, 'c.png'), '--out', alone]);
  const ref = readFileSync(alone, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { embedding: number[] });
  rows.forEach((row, k) => assert.deepEqual(row.embedding, ref[k].embedding));
});

test('encode FOLDER with no images: one-line error, non-zero, no output file', () => {
  const dir = tempDir();
  const folder = join(dir, 'empty');
  mkdirSync(folder);
  writeFileSync(join(folder, 'readme.txt'), 'nothing here');
  const out = join(dir, 'e.jsonl');
  expectOneLineError(['encode', folder, '--out', out], new RegExp(`${escapeRe(folder)}.*(no|without).*(image|PNG)`, 'i'), out);
});

// ---------------------------------------------------------------------------------------------
// score

interface ScoreRow { image: string; score: number; loss: number }
function parseCsv(text: string): ScoreRow[] {
  const lines = text.trim().split('\n');
  assert.equal(lines[0], 'image,score,loss', 'CSV header');
  return lines.slice(1).map((l) => {
    const f = l.split(',');
    assert.equal(f.length, 3, `CSV row: ${l}`);
    return { image: f[0], score: Number(f[1]), loss: Number(f[2]) };
  });
}

test('score: CSV to stdout with a header and one row per image; JSON lines to a file; same seed → same scores', () => {
  const r = ok(['score', ...SAMPLE_FILES, '--seed', '2']);
  const csv = parseCsv(r.stdout);
  assert.equal(csv.length, SAMPLE_FILES.length);
  csv.forEach((row, n) => {
    assert.ok(row.image.endsWith(basename(SAMPLE_FILES[n])), row.image);
    assert.ok(Number.isFinite(row.score) && row.score > 0 && Number.isFinite(row.loss) && row.loss > 0, JSON.stringify(row));
  });
  const out = join(tempDir(), 's.jsonl');
  ok(['score', SAMPLES, '--seed', '2', '--out', out]);
  const jl = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ScoreRow);
  assert.deepEqual(jl.map((x) => [basename(x.image), x.score, x.loss]), csv.map((x) => [basename(x.image), x.score, x.loss]), 'same seed, same scores (CSV vs JSON lines, files vs folder)');
  const jsonStdout = ok(['score', ...SAMPLE_FILES, '--seed', '2', '--format', 'jsonl']).stdout.trim().split('\n').map((l) => JSON.parse(l) as ScoreRow);
  assert.deepEqual(jsonStdout.map((x) => x.score), csv.map((x) => x.score));
  const other = parseCsv(ok(['score', ...SAMPLE_FILES, '--seed', '3']).stdout);
  assert.notDeepEqual(other.map((x) => x.score), csv.map((x) => x.score), 'another seed, other masks');
});

test('score does not depend on --batch', () => {
  const base = ['score', ...SAMPLE_FILES, '--repeats', '2', '--seed', '4'];
  const b64 = ok([...base, '--batch', '64']).stdout;
  assert.equal(ok([...base, '--batch', '1']).stdout, b64);
  assert.equal(ok([...base, '--batch', '3']).stdout, b64);
});

test('score of one image recomputed from forward with the same noise (seededNoise(maskSeed(seed, k, i), 1, L))', () => {
  const pv = samplePixels();
  const i = 5, seed = 11;
  const target = patchify1(imagePixels(pv, i));
  // --repeats 1 at the config's mask ratio.
  const one = parseCsv(ok(['score', ...SAMPLE_FILES, '--seed', String(seed), '--repeats', '1']).stdout)[i];
  const f1 = forwardWithNoise(Float32Array.from(imagePixels(pv, i)), seededNoise(maskSeed(seed, 0, i), 1, L), 1);
  assert.equal(f1.mask.reduce((a, b) => a + b, 0), 37);
  const s1 = maskedLoss(f1.pred, target, f1.mask, true), l1 = maskedLoss(f1.pred, target, f1.mask, false);
  assert.ok(Math.abs(one.score - s1) <= 1e-6, `score ${one.score} vs recomputed ${s1}`);
  assert.ok(Math.abs(one.loss - l1) <= 1e-6, `loss ${one.loss} vs recomputed ${l1}`);

  // --repeats 3 --mask-ratio 0.5: the mean over the three masks.
  const three = parseCsv(ok(['score', ...SAMPLE_FILES, '--seed', String(seed), '--repeats', '3', '--mask-ratio', '0.5']).stdout)[i];
  const pixels = new Float32Array(3 * 784), noise = new Float32Array(3 * L);
  for (let k = 0; k < 3; k++) {
    pixels.set(imagePixels(pv, i), k * 784);
    noise.set(seededNoise(maskSeed(seed, k, i), 1, L), k * L);
  }
  const f3 = forwardWithNoise(pixels, noise, 3, ['--mask-ratio', '0.5']);
  let s3 = 0, l3 = 0;
  for (let k = 0; k < 3; k++) {
    const pred = f3.pred.subarray(k * L * 16, (k + 1) * L * 16), mask = f3.mask.subarray(k * L, (k + 1) * L);
    assert.equal(mask.reduce((a, b) => a + b, 0), 25);
    s3 += maskedLoss(pred, target, mask, true) / 3;
    l3 += maskedLoss(pred, target, mask, false) / 3;
  }
  assert.ok(Math.abs(three.score - s3) <= 1e-6, `score ${three.score} vs recomputed ${s3}`);
  assert.ok(Math.abs(three.loss - l3) <= 1e-6, `loss ${three.loss} vs recomputed ${l3}`);
});

test('score --out F.csv writes CSV to the file, nothing to stdout but the summary', () => {
  const out = join(tempDir(), 's.csv');
  const r = ok(['score', SAMPLE_FILES[0], SAMPLE_FILES[1], '--out', out]);
  assert.doesNotMatch(r.stdout, /^image,score,loss/m);
  assert.equal(parseCsv(readFileSync(out, 'utf8')).length, 2);
});

// ---------------------------------------------------------------------------------------------
// preprocess

/** A 3-channel 224-px model folder: the fixture's preprocessor_config.json and vit-mae-base's config.json (no weights needed). */
function baseModelFolder(): string {
  const dir = join(tempDir(), 'base');
  mkdirSync(dir);
  copyFileSync(join(PRE, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(toHfJson(preset('vit-mae-base'))));
  return dir;
}

test('preprocess IMAGES --model (3-channel, 224 px, resize): ViTImageProcessor\'s pixel_values, in argument order', () => {
  const model = baseModelFolder();
  const files = ['rgba-100x150.png', 'rgb-320x240.jpg', 'gray-224.png', 'rgb-320x240.png'];
  const out = join(tempDir(), 'pv.safetensors');
  ok(['preprocess', ...files.map((f) => join(PRE, f)), '--model', model, '--out', out]);
  const t = readTensors(out);
  assert.deepEqual(t.info('pixel_values').shape, [files.length, 3, 224, 224]);
  const pv = t.f32('pixel_values');
  const ref = readTensors(join(PRE, 'pixel_values.safetensors'));
  const std = (JSON.parse(readFileSync(join(PRE, 'preprocessor_config.json'), 'utf8')) as { image_std: number[] }).image_std;
  const per = 3 * 224 * 224;
  files.forEach((file, n) => {
    const want = ref.f32(file.replace('.', '_'));
    assert.equal(want.length, per);
    let within1e5 = 0, within3 = 0;
    for (let i = 0; i < per; i++) {
      const d = Math.abs(pv[n * per + i] - want[i]);
      if (d <= 1e-5) within1e5++;
      if (d <= (3 / 255 / std[Math.floor(i / (224 * 224))]) * 1.0001) within3++;
    }
    if (file.endsWith('.png')) assert.equal(within1e5, per, `${file}: every value within 1e-5 of the reference`);
    else assert.ok(within3 / per >= 0.99, `${file}: ${(100 * within3 / per).toFixed(2)}% within 3 levels`);
  });
  const names = JSON.parse(t.metadata.images ?? 'null') as string[];
  assert.deepEqual(names.map((s) => basename(s)), files, 'metadata lists the images in argument order');
});

test('preprocess: a truncated PNG → one-line error naming it, non-zero, no output file', () => {
  const dir = tempDir();
  const bad = join(dir, 'cut.png');
  writeFileSync(bad, readFileSync(join(PRE, 'rgb-320x240.png')).subarray(0, 5000));
  const out = join(dir, 'pv.safetensors');
  expectOneLineError(['preprocess', join(PRE, 'gray-224.png'), bad, '--model', baseModelFolder(), '--out', out], new RegExp(escapeRe(bad)), out);
});

test('preprocess with a model that does not resize (do_resize false): an image of the wrong size → one line naming the file and both sizes', () => {
  const dir = tempDir();
  const out = join(dir, 'pv.safetensors');
  expectOneLineError(['preprocess', SAMPLE_FILES[0], join(PRE, 'rgb-320x240.jpg'), '--model', nonResizingModel(), '--out', out], /rgb-320x240\.jpg.*320×240.*28×28/, out);
});

test('preprocess with the bundled model (do_resize true): a 320×240 RGB photo becomes a 28×28 gray image', () => {
  const out = join(tempDir(), 'pv.safetensors');
  ok(['preprocess', join(PRE, 'rgb-320x240.jpg'), '--out', out]);
  const pv = readTensors(out);
  assert.deepEqual(pv.info('pixel_values').shape, [1, 1, SIZE, SIZE]);
  const v = pv.f32('pixel_values');
  // Normalised 8-bit values: (k/255 − mean)/std for k in 0..255.
  const [lo, hi] = [(0 - PP.image_mean[0]) / PP.image_std[0], (1 - PP.image_mean[0]) / PP.image_std[0]];
  assert.ok(v.every((x) => x >= lo - 1e-6 && x <= hi + 1e-6), 'values in the normalised 8-bit range');
  assert.ok(Math.max(...v) - Math.min(...v) > 0.1, 'not a constant image');
});

// ---------------------------------------------------------------------------------------------
// Error paths of the image commands

for (const [what, make, pattern] of [
  ['a truncated PNG', (p: string) => writeFileSync(p, readFileSync(SAMPLE_FILES[0]).subarray(0, 100)), /truncated/i],
  ['an empty file', (p: string) => writeFileSync(p, new Uint8Array(0)), /empty/i],
  ['a GIF (unsupported format)', (p: string) => writeFileSync(p, Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1')), /GIF|unsupported/i],
] as const) {
  test(`reconstruct given ${what} explicitly: one line naming it, non-zero, no figure`, () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.png');
    make(bad);
    const out = join(dir, 'fig.png');
    expectOneLineError(['reconstruct', bad, '--out', out], new RegExp(`${escapeRe(bad)}.*(?:${pattern.source})`, 'i'), out);
  });
}

test('reconstruct given an image of the wrong size (a model that does not resize): one line naming the file and both sizes', () => {
  const dir = tempDir();
  const out = join(dir, 'fig.png');
  expectOneLineError(['reconstruct', join(PRE, 'rgb-320x240.jpg'), '--model', nonResizingModel(), '--out', out], /rgb-320x240\.jpg.*320×240.*28×28/, out);
});

test('reconstruct a 320×240 JPEG with the bundled model: resized to 28×28, the figure of a 28×28 image', () => {
  const dir = tempDir();
  const [photo, sample] = [join(dir, 'photo.png'), join(dir, 'sample.png')];
  ok(['reconstruct', join(PRE, 'rgb-320x240.jpg'), '--out', photo]);
  ok(['reconstruct', SAMPLE_FILES[0], '--out', sample]);
  const [a, b] = [decodeImage(readFileSync(photo)), decodeImage(readFileSync(sample))];
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels]);
  for (let i = 0; i < a.data.length; i += 3) assert.ok(a.data[i] === a.data[i + 1] && a.data[i] === a.data[i + 2], `a gray figure (pixel ${i / 3})`);
});

test('reconstruct --out in a folder that does not exist', () => {
  const out = join(tempDir(), 'no', 'such', 'fig.png');
  expectOneLineError(['reconstruct', SAMPLE_FILES[0], '--out', out], /cannot write '.*fig\.png': its folder does not exist/);
});

test('score and encode --out in a folder that does not exist', () => {
  expectOneLineError(['score', SAMPLE_FILES[0], '--out', join(tempDir(), 'no', 's.csv')], /cannot write '.*s\.csv': its folder does not exist/);
  expectOneLineError(['encode', SAMPLE_FILES[0], '--out', join(tempDir(), 'no', 'e.jsonl')], /cannot write '.*e\.jsonl': its folder does not exist/);
});

test('reconstruct --out not ending in .png', () => {
  const out = join(tempDir(), 'fig.jpg');
  expectOneLineError(['reconstruct', SAMPLE_FILES[0], '--out', out], /fig\.jpg.*\.png/, out);
});

test('encode --out neither .jsonl nor .safetensors', () => {
  const out = join(tempDir(), 'e.csv');
  expectOneLineError(['encode', SAMPLE_FILES[0], '--out', out], /e\.csv.*(jsonl|safetensors)/, out);
});

test('image commands with a model folder missing model.safetensors', () => {
  const dir = join(tempDir(), 'm');
  mkdirSync(dir);
  copyFileSync(join(MODEL, 'config.json'), join(dir, 'config.json'));
  copyFileSync(join(MODEL, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
  const out = join(tempDir(), 'fig.png');
  expectOneLineError(['reconstruct', SAMPLE_FILES[0], '--model', dir, '--out', out], /model folder '.*' has no model\.safetensors/, out);
  expectOneLineError(['score', SAMPLE_FILES[0], '--model', dir], /model folder '.*' has no model\.safetensors/);
  expectOneLineError(['encode', SAMPLE_FILES[0], '--model', dir, '--out', join(tempDir(), 'e.jsonl')], /model folder '.*' has no model\.safetensors/);
});

for (const spec of ['test:5-2', 'test:10000', 'valid:0', 'test:x']) {
  test(`a bad --fashion-mnist selection '${spec}'`, () => {
    const out = join(tempDir(), 'fig.png');
    expectOneLineError(['reconstruct', '--fashion-mnist', spec, '--out', out], new RegExp(`Fashion-MNIST selection '${escapeRe(spec)}'`), out);
    expectOneLineError(['score', '--fashion-mnist', spec], new RegExp(`'${escapeRe(spec)}'`));
  });
}
