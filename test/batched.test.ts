/**
 * Batched programs: one call runs many images (activations token-major, weight GEMMs with
 * M = N·t, per-image steps advanced by their strides). Every output element is computed by the
 * same code in the same order whatever the batch and the threads, so a batched forward gives the
 * same bits as one image per call — the test compares bits, not a tolerance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { ConfigError, InputError } from '../src/errors.js';
import { checkFitsWasm32, preset } from '../src/config.js';
import { defaultBatch, largestBatch } from '../src/plan.js';
import { GOLDEN, ROOT } from './helpers.js';
import { loadWithThreads, seededPixels } from './support/batch-models.js';

const BUNDLED = join(ROOT, 'models', 'mae-fashion-mnist');

const pixels = seededPixels;
const load = loadWithThreads;

for (const [name, dir] of [['the bundled model', BUNDLED], ['golden small (3 channels, 3 heads)', join(GOLDEN, 'small')]] as const) {
  test(`${name}: batched forward and encode, 1–3 threads, give the bits of one image per call`, async () => {
    const single = await load(dir, 1, 1);
    const models = [await load(dir, 1, 8), await load(dir, 2, 8), await load(dir, 3, 5), await load(dir, 2, 64)];
    try {
      assert.equal(single.maxBatch, 1);
      assert.match(models[1]!.backendDescription, /2 threads, 8 images per call/);
      // 13 images: calls of 8 + 5, 5 + 5 + 3, one of 13.
      const n = 13;
      const x = pixels(n, single.config.numChannels * single.config.imageSize ** 2, 7);
      for (const maskRatio of [single.config.maskRatio, 0.5]) {
        const ref = await single.forward(x, { batch: n, seed: 11, maskRatio });
        for (const m of models) {
          const got = await m.forward(x, { batch: n, seed: 11, maskRatio });
          const what = `${m.backendDescription}, mask ratio ${maskRatio}`;
          assert.deepEqual(got.latent, ref.latent, `${what}: latent`);
          assert.deepEqual(got.pred, ref.pred, `${what}: pred`);
          assert.equal(got.loss, ref.loss, `${what}: loss`);
        }
      }
      const features = await single.encode(x, { batch: n });
      for (const m of models) assert.deepEqual(await m.encode(x, { batch: n }), features, `${m.backendDescription}: encode`);
    } finally {
      single.dispose();
      for (const m of models) m.dispose();
    }
  });
}

test('a batch whose activations pass wasm32 is refused with the numbers, and the largest that fits', () => {
  const base = preset('vit-mae-base');
  const fits = largestBatch(base, 65536);
  assert.ok(fits > 100 && fits < 1000, `vit-mae-base: ${fits} images per call fit in 4 GiB`);
  checkFitsWasm32(base, 1, 'config', fits);
  assert.throws(() => checkFitsWasm32(base, 1, 'config', fits + 1), (e: unknown) => e instanceof ConfigError && /needs \d+ pages/.test(e.message) && e.message.includes(`at most ${fits} images per call fit`));
  // The default stays small for a big model and fills up for a small one.
  assert.ok(defaultBatch(base) <= 8);
  assert.equal(defaultBatch(preset('vit-mae-base')) >= 1, true);
});

test('the batch option must be a positive integer', async () => {
  for (const batch of [0, -1, 1.5, Number.NaN, '4']) {
    await assert.rejects(MaeModel.load({ model: BUNDLED, batch: batch as number }), (e: unknown) => e instanceof InputError && /batch must be a positive integer/.test((e as Error).message));
  }
});
