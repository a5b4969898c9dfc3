/**
 * Each per-op backward of test/reference/mae-backward.ts against central finite differences of its
 * own forward, on shapes with remainders (nothing a multiple of 4), batched where the op is. These
 * are the functions the generated backward kernels are checked against, op by op, so each is
 * verified here on its own, apart from the model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attentionBackward, attentionForward, dropCls, dropClsBackward, encoderInputBackward, encoderInputForward, geluBackward, geluForward,
  layerNormBackward, layerNormForward, linearBackward, linearForward, lossBackward, maskedMseLoss, unshuffleBackward, unshuffleForward,
} from './reference/mae-backward.js';
import { mulberry32 } from './reference/mae-reference.js';

/**
 * |fd − g| ≤ 1e-7·max(1, max|g|). The values here are O(1), so central differences with h = 1e-5
 * err by ~h² (truncation) + 1e-16/h (rounding) ≈ 1e-10 (measured worst 3.4e-10, attention); a
 * wrong term in a backward is O(max|g|).
 */
const TOL = 1e-7;
const H = 1e-5;

function randomArray(count: number, seed: number, scale = 1): Float64Array {
  const uniform = mulberry32(seed);
  return Float64Array.from({ length: count }, () => scale * (2 * uniform() - 1));
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** Central differences of the scalar `objective` with respect to every entry of x (perturbed in place, restored). */
function finiteDifferences(objective: () => number, x: Float64Array): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + H;
    const plus = objective();
    x[i] = x0 - H;
    const minus = objective();
    x[i] = x0;
    g[i] = (plus - minus) / (2 * H);
  }
  return g;
}

/** For each named input, the analytic gradient of `objective` matches its finite differences. */
function assertGradients(what: string, objective: () => number, inputs: Record<string, Float64Array>, analytic: Record<string, ArrayLike<number>>): void {
  for (const [name, x] of Object.entries(inputs)) {
    const g = analytic[name]!;
    assert.equal(g.length, x.length, `${what} d${name}: length`);
    const fd = finiteDifferences(objective, x);
    let scale = 1;
    for (let i = 0; i < g.length; i++) scale = Math.max(scale, Math.abs(g[i]!));
    for (let i = 0; i < g.length; i++) {
      const err = Math.abs(fd[i]! - g[i]!);
      if (!(err <= TOL * scale)) assert.fail(`${what} d${name}[${i}]: backward ${g[i]}, finite difference ${fd[i]}`);
    }
  }
}

test('linearBackward: dx, dW, db of y = x·Wᵀ + b (rows 5, in 7, out 3)', () => {
  const [rows, inDim, outDim] = [5, 7, 3];
  const x = randomArray(rows * inDim, 1);
  const W = randomArray(outDim * inDim, 2);
  const b = randomArray(outDim, 3);
  const dy = randomArray(rows * outDim, 4);
  const { dx, dW, db } = linearBackward(dy, x, rows, inDim, W, outDim);
  assertGradients('linear', () => dot(dy, linearForward(x, rows, inDim, W, b, outDim)), { x, W, b }, { x: dx, W: dW, b: db });
});

test('layerNormBackward: dx, dw, db with the saved mean and rstd (rows 3, dim 7, eps 1e-6)', () => {
  const [rows, dim, eps] = [3, 7, 1e-6];
  const x = randomArray(rows * dim, 5, 2);
  const w = randomArray(dim, 6).map((v) => 1 + 0.3 * v);
  const b = randomArray(dim, 7);
  const dy = randomArray(rows * dim, 8);
  const { mean, rstd } = layerNormForward(x, rows, dim, w, b, eps);
  const { dx, dw, db } = layerNormBackward(dy, x, mean, rstd, rows, dim, w);
  assertGradients('layerNorm', () => dot(dy, layerNormForward(x, rows, dim, w, b, eps).y), { x, w, b }, { x: dx, w: dw, b: db });
});

for (const [n, tokens, dim, heads] of [[2, 5, 10, 2], [3, 7, 18, 3]] as const) {
  test(`attentionBackward: dq, dk, dv through the softmax (n ${n}, T ${tokens}, dim ${dim}, head width ${dim / heads})`, () => {
    const qkv = randomArray(n * tokens * 3 * dim, 9 + dim, 1.5);
    const dOut = randomArray(n * tokens * dim, 10 + dim);
    const { probs } = attentionForward(qkv, n, tokens, dim, heads);
    for (let r = 0; r < n * heads * tokens; r++) {
      const sum = probs.subarray(r * tokens, (r + 1) * tokens).reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-14, 'softmax rows sum to 1');
    }
    const dqkv = attentionBackward(dOut, qkv, probs, n, tokens, dim, heads);
    assertGradients('attention', () => dot(dOut, attentionForward(qkv, n, tokens, dim, heads).out), { qkv }, { qkv: dqkv });
  });
}

test('geluBackward: exact erf GELU derivative, Φ(x) + x·φ(x)', () => {
  const u = Float64Array.from([-6, -3.1, -1, -0.37, -1e-3, 0, 2e-4, 0.5, 1, 2.3, 5.5]);
  const dy = randomArray(u.length, 11);
  assertGradients('gelu', () => dot(dy, geluForward(u)), { u }, { u: geluBackward(dy, u) });
});

test('lossBackward: masked MSE pooled over the batch, and on all patches (rows 7, P 5)', () => {
  const [rows, P] = [7, 5];
  const pred = randomArray(rows * P, 12);
  const target = randomArray(rows * P, 13);
  for (const weight of [Float64Array.from([1, 0, 1, 1, 0, 0, 1]), new Float64Array(rows).fill(1)]) {
    const dPred = lossBackward(pred, target, weight, rows, P);
    assertGradients('loss', () => maskedMseLoss(pred, target, weight, rows, P), { pred }, { pred: dPred });
    // Exactly 0 at kept patches.
    weight.forEach((m, r) => m === 0 && assert.ok(dPred.subarray(r * P, (r + 1) * P).every((v) => v === 0), `row ${r}`));
  }
});

test('encoderInputBackward: cls summed over images, the gather scattered back (0 at removed patches)', () => {
  const [n, L, keep, D] = [2, 5, 3, 3];
  const idsKeep = Int32Array.from([4, 0, 2, 1, 3, 0]);
  const embeds = randomArray(n * L * D, 14);
  const cls = randomArray(D, 15);
  const pos = randomArray((1 + L) * D, 16);
  const dx0 = randomArray(n * (1 + keep) * D, 17);
  const { dCls, dEmbeds } = encoderInputBackward(dx0, idsKeep, n, L, keep, D);
  assertGradients('encoderInput', () => dot(dx0, encoderInputForward(embeds, cls, pos, idsKeep, n, L, keep, D)), { embeds, cls }, { embeds: dEmbeds, cls: dCls });
  for (const [img, l] of [[0, 1], [0, 3], [1, 2], [1, 4]]) assert.ok(dEmbeds.subarray((img * L + l!) * D, (img * L + l! + 1) * D).every((v) => v === 0), `removed patch ${l} of image ${img}`);
});

test('unshuffleBackward: visible rows back to their tokens, mask token summed over removed copies, cls row', () => {
  const [n, L, keep, Dd] = [2, 5, 2, 3];
  const idsRestore = Int32Array.from([3, 0, 4, 1, 2, 1, 2, 0, 4, 3]); // image 0 keeps patches 1, 3; image 1 keeps 2, 0
  const e = randomArray(n * (1 + keep) * Dd, 18);
  const maskToken = randomArray(Dd, 19);
  const dpos = randomArray((1 + L) * Dd, 20);
  const dy0 = randomArray(n * (1 + L) * Dd, 21);
  const { dEmbedded, dMaskToken } = unshuffleBackward(dy0, idsRestore, n, L, keep, Dd);
  assertGradients('unshuffle', () => dot(dy0, unshuffleForward(e, maskToken, dpos, idsRestore, n, L, keep, Dd)), { e, maskToken }, { e: dEmbedded, maskToken: dMaskToken });
});

test('dropClsBackward: zeros at the cls rows', () => {
  const [n, L, dim] = [3, 4, 5];
  const x = randomArray(n * (1 + L) * dim, 22);
  const dy = randomArray(n * L * dim, 23);
  const dx = dropClsBackward(dy, n, L, dim);
  assertGradients('dropCls', () => dot(dy, dropCls(x, n, L, dim)), { x }, { x: dx });
  for (let img = 0; img < n; img++) assert.ok(dx.subarray(img * (1 + L) * dim, (img * (1 + L) + 1) * dim).every((v) => v === 0));
});
