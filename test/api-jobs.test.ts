/**
 * The package API for images, with no file system beyond loading: MaeModel.load(folder), then
 * loadImage(bytes) → preprocess → reconstruct / renderFigure / score / encode from src/index.ts.
 * Shapes, the figure's layout, and numbers against independent computations: pixel_values from
 * the preprocessor formula, per-image losses recomputed from model.forward, whose pooled loss is
 * their mean (every image has the same number of removed patches).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, MaeModel, encode, loadImage, preprocess, reconstruct, renderFigure, score, seededNoise, type RawImage } from '../src/node/index.js';
import { maskSeed } from '../src/jobs/score.js';
import { ROOT } from './helpers.js';

const DIR = join(ROOT, 'models', 'mae-fashion-mnist');
const SAMPLES = join(DIR, 'samples');
const FILES = readdirSync(SAMPLES).filter((f) => f.endsWith('.png')).sort();
const CFG = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as Record<string, number>;
const PP = JSON.parse(readFileSync(join(DIR, 'preprocessor_config.json'), 'utf8')) as { rescale_factor: number; image_mean: number[]; image_std: number[] };
const SIZE = CFG.image_size, PATCH = CFG.patch_size, HIDDEN = CFG.hidden_size;
const GRID = SIZE / PATCH, L = GRID * GRID, P = PATCH * PATCH * CFG.num_channels;
const N = FILES.length;
/** Removed patches per image at the config's mask ratio: L − int(L·(1 − r)). */
const REMOVED = L - Math.floor(L * (1 - CFG.mask_ratio));
const GAP = 4; // src/jobs/figure.ts
/** Relative bound for a norm-pix loss recomputed here in float64 against the runtime's float32 normalised targets. */
const NORM_PIX_TOL = 1e-6;

let model: MaeModel;
let images: RawImage[];
let pixels: Float32Array;

before(async () => {
  model = await MaeModel.load(DIR);
  images = FILES.map((f) => loadImage(new Uint8Array(readFileSync(join(SAMPLES, f))), f));
  pixels = preprocess(model, images);
});
after(() => model?.dispose());

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.abs(b);

/** Patch l's pixel indices (y·size + x). */
function patchIndices(l: number): number[] {
  const y0 = Math.floor(l / GRID) * PATCH, x0 = (l % GRID) * PATCH;
  const out: number[] = [];
  for (let y = y0; y < y0 + PATCH; y++) for (let x = x0; x < x0 + PATCH; x++) out.push(y * SIZE + x);
  return out;
}

/** Per-image mean over removed patches of the patch MSE (float64), plain or norm-pix (unbiased var, eps 1e-6). */
function imageLoss(pred: Float32Array, px: Float32Array, mask: Float32Array, normPix: boolean): number {
  let sum = 0, count = 0;
  for (let l = 0; l < L; l++) {
    if (!mask[l]) continue;
    const t = patchIndices(l).map((i) => px[i]);
    const mean = t.reduce((a, b) => a + b, 0) / P;
    const std = Math.sqrt(t.reduce((a, b) => a + (b - mean) ** 2, 0) / (P - 1) + 1e-6);
    let se = 0;
    t.forEach((v, k) => { se += (pred[l * P + k] - (normPix ? (v - mean) / std : v)) ** 2; });
    sum += se / P;
    count++;
  }
  return sum / count;
}

test('loadImage + preprocess: [N,1,28,28] pixel values of (x/255 − mean)/std', () => {
  assert.equal(images.length, N);
  for (const img of images) assert.deepEqual([img.width, img.height, img.channels, img.bitDepth], [SIZE, SIZE, 1, 8]);
  assert.ok(pixels instanceof Float32Array);
  assert.equal(pixels.length, N * CFG.num_channels * SIZE * SIZE);
  const f = Math.fround;
  let worst = 0;
  images.forEach((img, n) => {
    for (let i = 0; i < SIZE * SIZE; i++) {
      const want = f(f(f(img.data[i] * PP.rescale_factor) - f(PP.image_mean[0])) / f(PP.image_std[0]));
      worst = Math.max(worst, Math.abs(pixels[n * SIZE * SIZE + i] - want));
    }
  });
  assert.ok(worst <= 1e-6, `pixel values off by ${worst}`);
});

test('reconstruct: one result per image; per-image losses recomputed, and their mean is model.forward\'s pooled loss', async () => {
  const seed = 17;
  const rows = await reconstruct(model, pixels, model.preprocessor, { batch: N, seed });
  const fwd = await model.forward(pixels, { batch: N, seed });
  assert.equal(rows.length, N);
  rows.forEach((r, n) => {
    for (const [name, img] of Object.entries({ masked: r.masked, reconstruction: r.reconstruction, prediction: r.prediction, original: r.original })) {
      assert.deepEqual([img.width, img.height, img.channels, img.data.length], [SIZE, SIZE, 1, SIZE * SIZE], `${FILES[n]} ${name}`);
    }
    assert.equal(r.mask.length, L);
    assert.equal(r.mask.reduce((a, b) => a + b, 0), REMOVED, 'removed patches');
    assert.deepEqual(Array.from(r.mask), Array.from(fwd.mask.subarray(n * L, (n + 1) * L)), 'the mask of model.forward with the same seed');
    // Panels: the original is the input; removed patches grey 128; shown and pasted patches are the original's.
    assert.deepEqual(r.original.data, images[n].data, `${FILES[n]}: original panel`);
    for (let l = 0; l < L; l++) {
      for (const i of patchIndices(l)) {
        if (r.mask[l]) assert.equal(r.masked.data[i], 128);
        else {
          assert.equal(r.masked.data[i], images[n].data[i]);
          assert.equal(r.reconstruction.data[i], images[n].data[i]);
        }
      }
    }
    const pred = fwd.pred.subarray(n * L * P, (n + 1) * L * P);
    const px = pixels.subarray(n * SIZE * SIZE, (n + 1) * SIZE * SIZE);
    const loss = imageLoss(pred, px, r.mask, false), lossNormPix = imageLoss(pred, px, r.mask, true);
    assert.ok(relClose(r.loss, loss, 1e-9), `${FILES[n]}: loss ${r.loss} vs recomputed ${loss}`);
    // The runtime stores the normalised targets in float32 (as the float32 reference does): ~1e-8 relative.
    assert.ok(relClose(r.lossNormPix, lossNormPix, NORM_PIX_TOL), `${FILES[n]}: loss_norm_pix ${r.lossNormPix} vs recomputed ${lossNormPix}`);
  });
  const meanLoss = rows.reduce((a, r) => a + r.loss, 0) / N;
  const meanNormPix = rows.reduce((a, r) => a + r.lossNormPix, 0) / N;
  assert.ok(relClose(meanLoss, fwd.loss, 1e-9), `mean per-image loss ${meanLoss} vs pooled ${fwd.loss}`);
  assert.ok(relClose(meanNormPix, fwd.lossNormPix, 1e-9), `mean per-image loss_norm_pix ${meanNormPix} vs pooled ${fwd.lossNormPix}`);
});

test('renderFigure: RGB, 4 + cols·(28·scale + 4) by 4 + rows·(28·scale + 4), white gaps, panels enlarged by nearest neighbour', async () => {
  const rows = await reconstruct(model, pixels.subarray(0, 3 * SIZE * SIZE), model.preprocessor, { batch: 3, seed: 2 });
  for (const [scale, showPrediction] of [[1, false], [3, false], [2, true], [4, true]] as const) {
    const cols = showPrediction ? 4 : 3;
    const fig = renderFigure(rows, { scale, showPrediction });
    const cell = SIZE * scale;
    assert.deepEqual([fig.width, fig.height, fig.channels], [GAP + cols * (cell + GAP), GAP + 3 * (cell + GAP), 3], `scale ${scale}, ${cols} panels`);
    assert.equal(fig.data.length, fig.width * fig.height * 3);
    rows.forEach((r, ri) => {
      const panels = showPrediction ? [r.masked, r.reconstruction, r.prediction, r.original] : [r.masked, r.reconstruction, r.original];
      panels.forEach((p, ci) => {
        const x0 = GAP + ci * (cell + GAP), y0 = GAP + ri * (cell + GAP);
        let bad = 0;
        for (let y = 0; y < cell; y++) {
          for (let x = 0; x < cell; x++) {
            const v = p.data[Math.floor(y / scale) * SIZE + Math.floor(x / scale)];
            const o = ((y0 + y) * fig.width + x0 + x) * 3;
            if (fig.data[o] !== v || fig.data[o + 1] !== v || fig.data[o + 2] !== v) bad++;
          }
        }
        assert.equal(bad, 0, `row ${ri} panel ${ci} at scale ${scale}`);
      });
    });
    // The margin row above the first panels and the gap column after the first one are white.
    for (let x = 0; x < fig.width; x++) for (let y = 0; y < GAP; y++) assert.equal(fig.data[(y * fig.width + x) * 3], 255);
    for (let y = 0; y < fig.height; y++) assert.equal(fig.data[(y * fig.width + GAP + cell) * 3 + 1], 255);
  }
  assert.throws(() => renderFigure([], { scale: 1 }));
});

test('score: one score per image; an image\'s score does not depend on its batch (given its index)', async () => {
  const opts = { repeats: 2, seed: 5 };
  const all = await score(model, pixels, { batch: N, ...opts });
  assert.equal(all.length, N);
  for (const s of all) assert.ok(Number.isFinite(s.score) && s.score > 0 && Number.isFinite(s.loss) && s.loss > 0, JSON.stringify(s));
  for (const i of [0, 3, 7]) {
    const [one] = await score(model, pixels.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE), { batch: 1, firstIndex: i, ...opts });
    assert.deepEqual(one, all[i], `image ${i} alone`);
  }
  // One repeat: the image's losses under model.forward with the score's noise, seededNoise(maskSeed(seed, 0, i), 1, L).
  const i = 4;
  const px = pixels.slice(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
  const [s1] = await score(model, px, { batch: 1, firstIndex: i, seed: 5 });
  const f = await model.forward(px, { batch: 1, noise: seededNoise(maskSeed(5, 0, i), 1, L) });
  assert.ok(relClose(s1.score, imageLoss(f.pred, px, f.mask, true), NORM_PIX_TOL), `score ${s1.score}`);
  assert.ok(relClose(s1.loss, imageLoss(f.pred, px, f.mask, false), 1e-9), `loss ${s1.loss}`);
  await assert.rejects(score(model, pixels, { batch: N, repeats: 0 }), InputError);
});

test('encode: [N, 128] embeddings; mean = mean of model.encode\'s patch tokens, cls = its token 0; mean is the default', async () => {
  const all = await model.encode(pixels, { batch: N });
  assert.equal(all.length, N * (1 + L) * HIDDEN);
  const mean = await encode(model, pixels, { batch: N, pool: 'mean' });
  const cls = await encode(model, pixels, { batch: N, pool: 'cls' });
  const dflt = await encode(model, pixels, { batch: N });
  assert.equal(mean.length, N * HIDDEN);
  assert.equal(cls.length, N * HIDDEN);
  let worstMean = 0, worstCls = 0, worstDefault = 0;
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < HIDDEN; d++) {
      let s = 0;
      for (let t = 1; t <= L; t++) s += all[(n * (1 + L) + t) * HIDDEN + d];
      worstMean = Math.max(worstMean, Math.abs(mean[n * HIDDEN + d] - s / L));
      worstCls = Math.max(worstCls, Math.abs(cls[n * HIDDEN + d] - all[n * (1 + L) * HIDDEN + d]));
      worstDefault = Math.max(worstDefault, Math.abs(dflt[n * HIDDEN + d] - mean[n * HIDDEN + d]));
    }
  }
  // Bounds: float32 sums of 49 tokens of magnitude ~1 (the pooling), and none for the same computation twice.
  assert.ok(worstMean <= 1e-6, `mean pooling off by ${worstMean}`);
  assert.ok(worstCls <= 1e-6, `cls token off by ${worstCls}`);
  assert.ok(worstDefault <= 1e-6, `default pooling differs from mean by ${worstDefault}`);
});

test('forward and encode refuse NaN and infinite pixels, naming the value\'s [n,c,y,x]', async () => {
  const bad = pixels.slice();
  bad[1 * SIZE * SIZE + 5 * SIZE + 7] = NaN; // image 1, channel 0, row 5, column 7
  const named = (what: string) => (e: unknown) => e instanceof InputError && e.message === `pixel_values: value at [1,0,5,7] is ${what}; pixels must be finite`;
  await assert.rejects(model.forward(bad, { batch: N, seed: 0 }), named('NaN'));
  await assert.rejects(model.encode(bad, { batch: N }), named('NaN'));
  bad[1 * SIZE * SIZE + 5 * SIZE + 7] = -Infinity;
  await assert.rejects(model.forward(bad, { batch: N, seed: 0 }), named('-Infinity'));
  await assert.rejects(encode(model, bad, { batch: N }), named('-Infinity'));
});

test('MaeModel.load with arguments of the wrong type says what it needs, in a typed error', async () => {
  const config = CFG;
  const weights = new Uint8Array(readFileSync(join(DIR, 'model.safetensors')));
  const refused = async (source: unknown, pattern: RegExp) =>
    assert.rejects(MaeModel.load(source as Parameters<typeof MaeModel.load>[0]), (e: unknown) => {
      assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    });
  // Was: "config '[object Object]': no such file".
  await refused({ config, weights }, /^MaeModel\.load\(\{ config, weights \}\) needs kernels: \{ module, manifest \}.*or pass a model folder path/);
  await refused({ model: DIR, config }, /needs kernels/);
  await refused(42, /expected a model folder path, LoadOptions .* got number 42/);
  await refused(null, /got null/);
  await refused(undefined, /got undefined/);
  await refused({ model: 42 }, /'model' must be a path \(string\), got number 42/);
  await refused({ model: DIR, cacheDir: ['x'] }, /'cacheDir' must be a path \(string\), got an array/);
  await refused({ model: DIR, simd: 'fast' }, /'simd' must be 'auto', 'simd128' or 'relaxed', got 'fast'/);
  await refused({ config, weights, kernels: null }, /kernels must be \{ module, manifest \}.*got null/);
  await refused({ config, weights, kernels: { module: 'kernels.wasm', manifest: {} } }, /kernels\.module must be a WebAssembly\.Module or the bytes of kernels\.wasm, got 'kernels\.wasm'/);
  await refused({ config, weights, kernels: { module: new Uint8Array(8) } }, /kernels\.manifest must be manifest\.json's object, got undefined/);
  await refused({ config: 'config.json', weights, kernels: { module: new Uint8Array(8), manifest: {} } }, /config must be a parsed config or config\.json's object, got 'config\.json'/);
});

test('MaeModel.load refuses threads that are not a positive integer or exceed the cores, before compiling or starting anything', async () => {
  const cores = availableParallelism();
  const cacheDir = mkdtempSync(join(tmpdir(), 'edge-mae-threads-'));
  try {
    for (const [threads, pattern] of [
      [cores + 1, new RegExp(`^threads: ${cores + 1} is more than the ${cores} cores here; at most ${cores}$`)],
      [1000, /^threads: 1000 is more than the \d+ cores here/],
      [0, /^threads must be a positive integer, got number 0$/],
      [1.5, /^threads must be a positive integer, got number 1\.5$/],
      ['2', /^threads must be a positive integer, got '2'$/],
    ] as const) {
      await assert.rejects(MaeModel.load({ model: DIR, cacheDir, threads: threads as number }), (e: unknown) => e instanceof InputError && pattern.test(e.message));
    }
    assert.deepEqual(readdirSync(cacheDir), [], 'no kernel module was built');
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});
