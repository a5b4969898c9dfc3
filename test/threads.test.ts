/**
 * Threaded mode: the module on shared memory, one instance per worker, GEMM panels and attention
 * heads split between threads. Results are identical to one thread (each output element is
 * computed by the same code in the same order), and match the golden reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { MaeModel } from '../src/node/index.js';
import { shareOf } from '../src/backend/program-runner.js';
import { GOLDEN, TENSOR_TOL, assertClose, readTensors } from './helpers.js';

test('shareOf splits parts into contiguous ranges that cover them exactly', () => {
  for (const parts of [1, 2, 5, 16, 97]) for (const count of [1, 2, 3, 4]) {
    let next = 0;
    for (let i = 0; i < count; i++) {
      const [from, to] = shareOf(parts, i, count);
      assert.equal(from, next);
      assert.ok(to - from <= Math.ceil(parts / count) && to - from >= Math.floor(parts / count));
      next = to;
    }
    assert.equal(next, parts);
  }
});

for (const threads of [2, 3]) {
  test(`${threads} threads give the same bits as 1 thread and match the golden reference`, async () => {
    const dir = join(GOLDEN, 'small');
    const io = readTensors(join(dir, 'io.safetensors'));
    // MaeModel.load refuses more threads than cores; 3 (an uneven split) is tested on 2 cores too,
    // oversubscribed, by widening the bound for this test only.
    const bound = MaeModel.availableThreads;
    MaeModel.availableThreads = () => Math.max(threads, availableParallelism());
    const one = await MaeModel.load({ model: dir, threads: 1 });
    const many = await MaeModel.load({ model: dir, threads }).finally(() => { MaeModel.availableThreads = bound; });
    try {
      assert.match(many.backendDescription, new RegExp(`${threads} threads`));
      const pixels = io.f32('pixel_values');
      const a = await one.forward(pixels, { batch: 2, noise: io.f32('noise') });
      const b = await many.forward(pixels, { batch: 2, noise: io.f32('noise') });
      assert.deepEqual(b.pred, a.pred);
      assert.deepEqual(b.latent, a.latent);
      assert.equal(b.loss, a.loss);
      assertClose(b.pred, io.f32('pred'), TENSOR_TOL, 'pred');
      assert.deepEqual(await many.encode(pixels, { batch: 2 }), await one.encode(pixels, { batch: 2 }));
      // Another mask ratio: a new module (more encoder lengths) reaches the workers too.
      const c = await many.forward(pixels, { batch: 2, seed: 3, maskRatio: 0.5 });
      const d = await one.forward(pixels, { batch: 2, seed: 3, maskRatio: 0.5 });
      assert.deepEqual(c.pred, d.pred);
    } finally {
      one.dispose();
      many.dispose();
    }
  });
}
