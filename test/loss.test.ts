import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfig, shapesOf } from '../src/config.js';
import { SafetensorsFile } from '../src/safetensors.js';
import { InputError } from '../src/errors.js';
import { forwardLoss, maskedMse, normPixTarget } from '../src/loss.js';
import { imagePixels } from '../src/patchify.js';

const GOLDEN = new URL('../../test/fixtures/golden/', import.meta.url);
const CASES = ['tiny', 'small'] as const;

function loadCase(name: string) {
  const cfg = parseConfig(JSON.parse(readFileSync(new URL(`${name}/config.json`, GOLDEN), 'utf8')), `${name}/config.json`);
  // A plain Uint8Array copy: on a Node Buffer, slice() is a view, not a copy.
  const io = SafetensorsFile.parse(new Uint8Array(readFileSync(new URL(`${name}/io.safetensors`, GOLDEN))), `${name}/io.safetensors`);
  const n = io.f32('pixel_values').length / imagePixels(cfg);
  return { cfg, io, n, ...shapesOf(cfg) };
}

/** max |x − g| / (1 + |g|), the golden README's normalised error. */
function maxNormErr(x: ArrayLike<number>, g: ArrayLike<number>): number {
  assert.equal(x.length, g.length);
  let worst = 0;
  for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(x[i] - g[i]) / (1 + Math.abs(g[i])));
  return worst;
}

/** The norm_pix mistake the reference warns about: biased variance (divide by P, not P − 1). */
function biasedNormPix(t: Float32Array, rows: number, P: number): Float32Array {
  const out = new Float32Array(t.length);
  for (let r = 0; r < rows; r++) {
    const row = t.subarray(r * P, (r + 1) * P);
    const mean = row.reduce((a, b) => a + b, 0) / P;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / P;
    for (let k = 0; k < P; k++) out[r * P + k] = (row[k] - mean) / Math.sqrt(variance + 1e-6);
  }
  return out;
}

const NORM_PIX_TOL = 2e-5;
const LOSS_TOL = 1e-5;

for (const name of CASES) {
  test(`${name}: normPixTarget matches target_patches_norm_pix; the biased variance would not`, () => {
    const { io, n, numPatches, patchDim } = loadCase(name);
    const target = io.f32('target_patches');
    const ref = io.f32('target_patches_norm_pix');
    const err = maxNormErr(normPixTarget(target, n * numPatches, patchDim), ref);
    assert.ok(err <= NORM_PIX_TOL, `max normalised error ${err}`);
    const biasedErr = maxNormErr(biasedNormPix(target, n * numPatches, patchDim), ref);
    assert.ok(biasedErr > NORM_PIX_TOL, `biased variance is within the bound (${biasedErr}): the check is not sensitive`);
  });

  test(`${name}: forwardLoss(pred) matches loss and loss_norm_pix`, () => {
    const { cfg, io, n, numPatches, patchDim } = loadCase(name);
    const pred = io.f32('pred'), mask = io.f32('mask');
    const refLoss = io.f32('loss')[0], refNormPix = io.f32('loss_norm_pix')[0];
    const got = forwardLoss(pred, io.f32('pixel_values'), mask, n, cfg);
    assert.ok(Math.abs(got.loss - refLoss) <= LOSS_TOL * (1 + Math.abs(refLoss)), `loss ${got.loss} vs ${refLoss}`);
    assert.ok(Math.abs(got.lossNormPix - refNormPix) <= LOSS_TOL * (1 + Math.abs(refNormPix)), `loss_norm_pix ${got.lossNormPix} vs ${refNormPix}`);
    assert.deepEqual(got.targetPatches, io.f32('target_patches'));

    // Sensitivity: the two mistakes the reference lists for the loss must fail the same bound.
    const biased = maskedMse(pred, biasedNormPix(got.targetPatches, n * numPatches, patchDim), mask, n, numPatches, patchDim);
    assert.ok(Math.abs(biased - refNormPix) > LOSS_TOL * (1 + Math.abs(refNormPix)), `biased-variance loss ${biased} passes`);
    const allPatches = maskedMse(pred, got.targetPatches, new Float32Array(n * numPatches).fill(1), n, numPatches, patchDim);
    assert.ok(Math.abs(allPatches - refLoss) > LOSS_TOL * (1 + Math.abs(refLoss)), `loss over all patches ${allPatches} passes`);
  });
}

test('maskedMse: per-patch mean, averaged over removed patches, pooled over the batch', () => {
  // One image, two patches of two values; only patch 1 is removed: mean(3², 4²) = 12.5.
  assert.equal(maskedMse(Float32Array.from([1, 2, 3, 4]), new Float32Array(4), Float32Array.from([0, 1]), 1, 2, 2), 12.5);
  // Two images: per-patch mse [1, 4 | 9, 16], removed: (0,0), (1,0), (1,1).
  const pred = Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4]);
  const mask = Float32Array.from([1, 0, 1, 1]);
  const loss = maskedMse(pred, new Float32Array(8), mask, 2, 2, 2);
  assert.equal(loss, (1 + 9 + 16) / 3); // pooled; the mean of per-image means would be (1 + 12.5) / 2
});

test('maskedMse is NaN when no patch is removed (the reference 0/0)', () => {
  assert.ok(Number.isNaN(maskedMse(Float32Array.from([1, 2]), new Float32Array(2), new Float32Array(2), 1, 2, 1)));
});

test('normPixTarget: zero mean, unit unbiased variance per patch; constant patch maps to 0', () => {
  const t = Float32Array.from([1, 2, 3, 4, 7, 7, 7, 7]);
  const out = normPixTarget(t, 2, 4);
  const row = Array.from(out.subarray(0, 4));
  assert.ok(Math.abs(row.reduce((a, b) => a + b, 0)) < 1e-6);
  const unbiasedVar = row.reduce((a, b) => a + b * b, 0) / 3;
  assert.ok(Math.abs(unbiasedVar - 1) < 1e-5, `var ${unbiasedVar}`);
  assert.deepEqual(Array.from(out.subarray(4)), [0, 0, 0, 0]);
});

test('shape errors throw InputError naming the tensor and both shapes', () => {
  const { cfg, io, n } = loadCase('tiny');
  const pred = io.f32('pred'), pixels = io.f32('pixel_values'), mask = io.f32('mask');
  const expectInput = (fn: () => unknown, message: RegExp) => assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, message);
    return true;
  });
  expectInput(() => forwardLoss(pred, pixels.subarray(1), mask, n, cfg), /^pixel_values: expected \[N,C,H,W\] = \[2,3,32,32\] \(6144 values\), got 6143 values$/);
  expectInput(() => forwardLoss(pred.subarray(1), pixels, mask, n, cfg), /^pred: expected \[2,64,48\] \(6144 values\), got 6143 values$/);
  expectInput(() => forwardLoss(pred, pixels, mask.subarray(1), n, cfg), /^mask: expected \[2,64\] \(128 values\), got 127 values$/);
  expectInput(() => maskedMse(pred, pred.subarray(2), mask, 2, 64, 48), /^target: expected \[2,64,48\]/);
  expectInput(() => normPixTarget(new Float32Array(5), 2, 3), /^target: expected \[2,3\] \(6 values\), got 5 values$/);
  expectInput(() => normPixTarget(new Float32Array(2), 2, 1), /must be an integer ≥ 2/);
  expectInput(() => maskedMse(pred, pred, mask, 0, 64, 48), /batch size must be a positive integer/);
});
