/**
 * Programs run by images (src/backend/program-runner.ts): the forward's programs, every step of
 * which works image by image, run in chunks of images carried through all the steps — threads
 * claiming chunks, one barrier per call. The results are the bits of one image per call, whatever
 * the chunks and the threads; programs with a step that is not image-separable run step by step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { CHUNK_IMAGES, MIN_IMAGES_PER_THREAD, programImages } from '../src/backend/program-runner.js';
import { type KernelStep, type Step, decoderProgram, encoderProgram } from '../src/program.js';
import { kernelName, planKernels } from '../src/plan.js';
import { lenKeep, parseConfig } from '../src/config.js';
import { readFileSync } from 'node:fs';
import { GOLDEN, ROOT } from './helpers.js';
import { loadWithThreads, seededPixels } from './support/batch-models.js';

const BUNDLED = join(ROOT, 'models', 'mae-fashion-mnist');

test('the forward programs run by images; a step that is not image-separable makes a program run step by step', () => {
  const cfg = parseConfig(JSON.parse(readFileSync(join(BUNDLED, 'config.json'), 'utf8')));
  const plan = planKernels(cfg);
  const specs = new Map(plan.specs.map((s) => [kernelName(s), s]));
  const keep = lenKeep(49, cfg.maskRatio);
  for (const n of [1, 7, 40]) {
    assert.equal(programImages(encoderProgram(cfg, plan, keep, n), specs), n);
    assert.equal(programImages(decoderProgram(cfg, plan, keep, n), specs), n);
  }
  const steps = encoderProgram(cfg, plan, keep, 8);
  const at = steps.findIndex((s) => 'kernel' in s && s.split === 'rows');
  const gemm = steps[at] as KernelStep;
  const perImage = steps.findIndex((s) => 'kernel' in s && s.images !== undefined && s.split === 'images');
  const gather = steps[perImage] as KernelStep;
  const variants: Array<[string, Step[]]> = [
    ['a serial step', steps.map((s, i) => (i === at ? { ...gemm, split: undefined } : s))],
    ['a GEMM whose rows are not whole images', steps.map((s, i) => (i === at ? { ...gemm, args: { ...gemm.args, m: { int: 8 * 13 + 1 } } } : s))],
    ['a per-image step writing one shared buffer', steps.map((s, i) => (i === perImage ? { ...gather, images: { count: 8, strides: { ...gather.images!.strides, out: 0 } } } : s))],
    ['per-image steps over other image counts', steps.map((s, i) => (i === perImage ? { ...gather, images: { ...gather.images!, count: 4 } } : s))],
  ];
  for (const [what, program] of variants) assert.equal(programImages(program, specs), undefined, what);
});

const pixels = seededPixels;
const load = loadWithThreads;

for (const [name, dir] of [['the bundled model', BUNDLED], ['golden small (3 channels, 3 heads)', join(GOLDEN, 'small')]] as const) {
  test(`${name}: programs run by images, in chunks over 1–3 threads, give the bits of one image per call`, async () => {
    // 83 images: one call of 83 (chunks of 32, 32, 19: more chunks than threads), calls of 40 + 40 + 3
    // (3 threads: chunks of 14, 14, 12; the call of 3 is too small to split by images, step by step).
    assert.equal(CHUNK_IMAGES, 32);
    assert.ok(3 < MIN_IMAGES_PER_THREAD * 2 && 40 >= MIN_IMAGES_PER_THREAD * 3);
    const single = await load(dir, 1, 1);
    const models = [await load(dir, 1, 100), await load(dir, 2, 100), await load(dir, 3, 40), await load(dir, 2, 40)];
    try {
      const n = 83;
      const x = pixels(n, single.config.numChannels * single.config.imageSize ** 2, 5);
      for (const maskRatio of [single.config.maskRatio, 0.5]) {
        const ref = await single.forward(x, { batch: n, seed: 4, maskRatio });
        for (const m of models) {
          // Twice: the chunk counter starts from zero on every call.
          for (let call = 0; call < 2; call++) {
            const got = await m.forward(x, { batch: n, seed: 4, maskRatio });
            const what = `${m.backendDescription}, mask ratio ${maskRatio}, call ${call + 1}`;
            assert.deepEqual(got.latent, ref.latent, `${what}: latent`);
            assert.deepEqual(got.pred, ref.pred, `${what}: pred`);
            assert.equal(got.loss, ref.loss, `${what}: loss`);
          }
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
