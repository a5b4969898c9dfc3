import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, shapesOf } from '../src/config.js';
import { goldenCase } from './helpers.js';
import { InputError } from '../src/errors.js';
import { imagePixels, patchify, unpatchify } from '../src/patchify.js';

const CASES = ['tiny', 'small'] as const;

const loadCase = goldenCase;

/** Bit-exact comparison that reports the first differing index instead of dumping arrays. */
function assertExact(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}: index ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/** 4×4 image, 2×2 patches, 2 channels: small enough to check the layout by hand. */
const TOY = parseConfig({
  image_size: 4, patch_size: 2, num_channels: 2,
  hidden_size: 8, num_attention_heads: 2, decoder_hidden_size: 8, decoder_num_attention_heads: 2,
}, 'toy');

for (const name of CASES) {
  test(`${name}: patchify(pixel_values) equals target_patches exactly`, () => {
    const { cfg, io } = loadCase(name);
    const pixels = io.f32('pixel_values');
    const n = pixels.length / imagePixels(cfg);
    assert.equal(n, 2);
    assertExact(patchify(pixels, n, cfg), io.f32('target_patches'), 'target_patches');
  });

  test(`${name}: unpatchify(target_patches) gives pixel_values back exactly`, () => {
    const { cfg, io } = loadCase(name);
    const pixels = io.f32('pixel_values');
    const n = pixels.length / imagePixels(cfg);
    assertExact(unpatchify(io.f32('target_patches'), n, cfg), pixels, 'pixel_values');
    assertExact(unpatchify(patchify(pixels, n, cfg), n, cfg), pixels, 'round trip');
  });
}

test('patchify: (p, q, c) order, channel fastest; patch l = row·(W/p) + col', () => {
  const n = 2, c = 2, s = 4, p = 2;
  const pixels = new Float32Array(n * c * s * s);
  // Each pixel encodes its own coordinates: 1000·n + 100·c + 10·y + x.
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) {
    pixels[((b * c + ch) * s + y) * s + x] = 1000 * b + 100 * ch + 10 * y + x;
  }
  const out = patchify(pixels, n, TOY);
  const { numPatches, patchDim } = shapesOf(TOY);
  assert.equal(numPatches, 4);
  assert.equal(patchDim, 8);
  assert.equal(out.length, n * numPatches * patchDim);
  // Image 1, patch l = 1·2 + 0 = 2 (second patch row, first column): y ∈ {2,3}, x ∈ {0,1}.
  const patch = Array.from(out.subarray((1 * 4 + 2) * 8, (1 * 4 + 3) * 8));
  assert.deepEqual(patch, [1020, 1120, 1021, 1121, 1030, 1130, 1031, 1131]);
  // Image 0, patch 1 (first row, second column): y ∈ {0,1}, x ∈ {2,3}.
  assert.deepEqual(Array.from(out.subarray(8, 16)), [2, 102, 3, 103, 12, 112, 13, 113]);
});

test('unpatchify inverts patchify on arbitrary values', () => {
  const n = 3;
  const pixels = Float32Array.from({ length: n * imagePixels(TOY) }, (_, i) => Math.sin(i * 12.9898) * 43758.5453);
  assertExact(unpatchify(patchify(pixels, n, TOY), n, TOY), pixels, 'round trip');
  assert.equal(imagePixels(TOY), 32);
});

test('patchify: wrong pixel count throws InputError naming pixel_values and both shapes', () => {
  const { cfg } = loadCase('tiny');
  assert.throws(() => patchify(new Float32Array(2 * 3 * 32 * 32 - 1), 2, cfg), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /^pixel_values: expected \[N,C,H,W\] = \[2,3,32,32\] \(6144 values\), got 6143 values$/);
    return true;
  });
  // A whole image too many is still wrong for the stated batch size.
  assert.throws(() => patchify(new Float32Array(3 * 3 * 32 * 32), 2, cfg), InputError);
});

test('unpatchify: wrong patch count throws InputError naming patches', () => {
  assert.throws(() => unpatchify(new Float32Array(31), 1, TOY), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /^patches: expected \[N,L,p·p·C\] = \[1,4,8\] \(32 values\), got 31 values$/);
    return true;
  });
});

test('patchify/unpatchify: batch size must be a positive integer', () => {
  for (const n of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => patchify(new Float32Array(0), n, TOY), InputError);
    assert.throws(() => unpatchify(new Float32Array(0), n, TOY), InputError);
  }
});
