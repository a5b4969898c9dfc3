/**
 * The generated row-wise backward kernels (LayerNorm with saved stats and its backward, exact
 * GELU', softmax backward, the loss gradients, bias column sums) against the independent float64
 * reference (test/reference/mae-backward.ts), on widths and row counts with remainders (widths
 * 5, 13, 37, 130; rows 1, 3, 17), with guard values after every output, each row range split in
 * two calls as two threads would, and for each op a plausible mistake shown to fail the same bound.
 *
 * Bounds are float32 error bounds: u = 2^-24 (unit roundoff) times a sum's length and the
 * magnitudes it adds, so that they hold for every input and yet sit orders of magnitude below what
 * a mistake changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emitModuleSource } from '../codegen/generate.js';
import { compileAssemblyScript } from '../codegen/compile.js';
import { emitWgsl } from '../codegen/ops/index.js';
import { KernelError } from '../src/errors.js';
import { type BackwardKernelSpec, backwardSpecs, kernelName, planKernels } from '../src/plan.js';
import { parseConfig } from '../src/config.js';
import { Arena, U, assertCaught, assertWithin, firstOutside, rng } from './support/kernel-arena.js';
import { geluDerivative, layerNormBackward, layerNormForward, linearBackwardParams, lossBackward, normPixTarget } from './reference/mae-backward.js';

// Remainders mod 4 of 1, 1, 1, 2 and 3 (7): every tail length of the v128 loops.
const WIDTHS = [5, 13, 37, 130, 7];
const ROWS = [1, 3, 17];
const EPS = 1e-6;

const specs: BackwardKernelSpec[] = WIDTHS.flatMap((w): BackwardKernelSpec[] => [
  { op: 'layernorm_stats', width: w, eps: EPS },
  { op: 'layernorm_backward', width: w },
  { op: 'layernorm_backward', width: w, accumulate: true },
  { op: 'gelu', width: w },
  { op: 'gelu_backward', width: w },
  { op: 'softmax_backward', cols: w },
  ...[false, true].flatMap((normPix) => [false, true].map((allPatches): BackwardKernelSpec => ({ op: 'mse_loss_backward', patchDim: w, normPix, allPatches }))),
  { op: 'column_sum', width: w },
]);

type Fn = (...args: number[]) => void;
let compiled: Promise<{ arena: Arena; fns: Record<string, Fn> }> | undefined;
function kernels(): Promise<{ arena: Arena; fns: Record<string, Fn> }> {
  compiled ??= (async () => {
    const { source } = emitModuleSource(specs, 'for the backward kernel tests', {});
    const wasm = await compileAssemblyScript(source, 'simd128');
    const arena = new Arena(128);
    const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>, { env: { memory: arena.memory } });
    return { arena, fns: instance.exports as unknown as Record<string, Fn> };
  })();
  return compiled.then((k) => { k.arena.reset(); return k; });
}


/** Calls a row-range kernel as two threads would: rows [0, half) then [half, rows). */
function split(fn: Fn, args: number[], rows: number): void {
  const half = Math.floor(rows / 2);
  fn(...args, rows, 0, half);
  fn(...args, rows, half, rows);
}

const maxAbs = (a: ArrayLike<number>, from = 0, to = a.length): number => { let m = 0; for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]!)); return m; };

for (const W of WIDTHS) {
  test(`LayerNorm with saved stats and its backward, width ${W}`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(W * 101);
    for (const rows of ROWS) {
      const n = rows * W;
      const x = arena.alloc(n, () => rand() * 2 + 0.7);
      const w = arena.alloc(W, rand);
      const b = arena.alloc(W, rand);
      const out = arena.alloc(n), mean = arena.alloc(rows), rstd = arena.alloc(rows);
      split(fns[kernelName({ op: 'layernorm_stats', width: W, eps: EPS })]!, [x, w, b, out, mean, rstd], rows);
      const X = arena.copy(x, n), Wt = arena.copy(w, W);
      const ref = layerNormForward(X, rows, W, Wt, arena.copy(b, W), EPS);
      assertWithin(arena.view(out, n), ref.y, (i) => 1e-5 * (1 + Math.abs(ref.y[i]!)), `out w=${W} rows=${rows}`);
      // A W-term float32 sum: relative error ≤ W·u of the summed magnitudes (x > 0 here), rstd the same plus the root.
      assertWithin(arena.view(mean, rows), ref.mean, (r) => (W + 2) * U * Math.abs(ref.mean[r]!), 'mean');
      assertWithin(arena.view(rstd, rows), ref.rstd, (r) => (2 * W + 8) * U * ref.rstd[r]!, 'rstd');
      if (W > 1) assertCaught(arena.view(rstd, rows), ref.rstd.map((v) => v * Math.sqrt((W - 1) / W)), (r) => (2 * W + 8) * U * ref.rstd[r]!, 'rstd of the unbiased variance');
      // The saved stats are the ones the output was computed with: out = ((x − mean)·rstd)·w + b in float32, bit for bit.
      const f = Math.fround, OUT = arena.view(out, n), MEAN = arena.view(mean, rows), RSTD = arena.view(rstd, rows), B = arena.view(b, W);
      for (let i = 0; i < n; i++) {
        const r = Math.floor(i / W), j = i % W;
        assert.equal(OUT[i], f(f(f(f(X[i]! - MEAN[r]!) * RSTD[r]!) * Wt[j]!) + B[j]!), `out[${i}] not from the saved mean and rstd`);
      }
      for (const p of [out, mean, rstd]) assert.ok(arena.guardIntact(p, p === out ? n : rows), 'stats kernel wrote past an output');

      // Backward, from the saved (float32) stats: the reference reads the same values.
      const dy = arena.alloc(n, rand);
      const dx = arena.alloc(n);
      const dw = arena.alloc(W, rand), db = arena.alloc(W, rand); // accumulators start non-zero
      const dw0 = arena.copy(dw, W), db0 = arena.copy(db, W);
      split(fns[kernelName({ op: 'layernorm_backward', width: W })]!, [dy, x, mean, rstd, w, dx, dw, db], rows);
      const DY = arena.copy(dy, n), M = arena.copy(mean, rows), R = arena.copy(rstd, rows);
      const g = layerNormBackward(DY, X, M, R, rows, W, Wt);
      // dx: sums of W terms of |ĝ|·(1 + |x̂|) and a few roundings, times rstd.
      const xhat = (t: number, i: number): number => (X[t * W + i]! - M[t]!) * R[t]!;
      const rowTol = Array.from({ length: rows }, (_, t) => {
        let gm = 0, xm = 0;
        for (let i = 0; i < W; i++) { gm = Math.max(gm, Math.abs(DY[t * W + i]! * Wt[i]!)); xm = Math.max(xm, Math.abs(xhat(t, i))); }
        return (W + 8) * U * R[t]! * gm * (1 + xm);
      });
      const tolDx = (i: number): number => rowTol[Math.floor(i / W)]!;
      assertWithin(arena.view(dx, n), g.dx, tolDx, `dx w=${W} rows=${rows}`);
      // The mistake: no mean terms, dx = rstd·ĝ.
      if (W > 1) assertCaught(arena.view(dx, n), Float64Array.from({ length: n }, (_, i) => DY[i]! * Wt[i % W]! * R[Math.floor(i / W)]!), tolDx, 'LayerNorm backward without the mean terms');
      const sumAbs = (f: (t: number, i: number) => number, i: number): number => { let s = 0; for (let t = 0; t < rows; t++) s += Math.abs(f(t, i)); return s; };
      assertWithin(arena.view(dw, W), g.dw.map((v, i) => v + dw0[i]!), (i) => (rows + 6) * U * (Math.abs(dw0[i]!) + sumAbs((t, j) => DY[t * W + j]! * xhat(t, j), i)), 'dw');
      assertWithin(arena.view(db, W), g.db.map((v, i) => v + db0[i]!), (i) => (rows + 2) * U * (Math.abs(db0[i]!) + sumAbs((t, j) => DY[t * W + j]!, i)), 'db');
      for (const [p, len] of [[dx, n], [dw, W], [db, W]] as const) assert.ok(arena.guardIntact(p, len), 'LayerNorm backward wrote past an output');
      // In place (dx = dy), into fresh accumulators.
      const dw2 = arena.alloc(W, () => 0), db2 = arena.alloc(W, () => 0);
      split(fns[kernelName({ op: 'layernorm_backward', width: W })]!, [dy, x, mean, rstd, w, dy, dw2, db2], rows);
      assertWithin(arena.view(dy, n), g.dx, tolDx, `dx in place w=${W} rows=${rows}`);
      assertWithin(arena.view(db2, W), g.db, (i) => (rows + 2) * U * sumAbs((t, j) => DY[t * W + j]!, i), 'db in place');
      assert.ok(arena.guardIntact(dy, n));
      // Accumulating (the residual stream's gradient already holds the skip path's): dx += the same values.
      const skip = arena.alloc(n, rand);
      const SKIP = arena.copy(skip, n);
      split(fns[kernelName({ op: 'layernorm_backward', width: W, accumulate: true })]!, [arena.alloc(n, (i) => DY[i]!), x, mean, rstd, w, skip, arena.alloc(W, () => 0), arena.alloc(W, () => 0)], rows);
      const tolAcc = (i: number): number => tolDx(i) + 2 * U * (Math.abs(SKIP[i]!) + Math.abs(g.dx[i]!));
      assertWithin(arena.view(skip, n), g.dx.map((v, i) => v + SKIP[i]!), tolAcc, `dx accumulated w=${W} rows=${rows}`);
      assertCaught(arena.view(skip, n), g.dx, tolAcc, 'LayerNorm backward that overwrites the skip path');
      assert.ok(arena.guardIntact(skip, n));
    }
  });
}

/** Erf GELU in float64 (torch's nn.GELU()), and the tanh form a kernel could wrongly use (below). */
const geluErf = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
/** erf(x) to ~1e-15 by its Taylor series (|x| < 3) or the asymptotic continued fraction of erfc. */
function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a, sum = a;
    for (let k = 1; k < 200; k++) {
      term *= -a * a / k;
      const t = term / (2 * k + 1);
      sum += t;
      if (Math.abs(t) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = e^{-a²}/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …)))), 60 terms.
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + (k / 2) / f;
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f);
}
const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

for (const W of WIDTHS) {
  test(`GELU on its own (training's fc1 keeps its pre-activation), width ${W}: the exact erf GELU, in place too; a tanh GELU fails the bound`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(W * 7 + 1);
    for (const rows of ROWS) {
      const n = rows * W;
      const x = arena.alloc(n, () => rand() * 6);
      const out = arena.alloc(n);
      const X = arena.copy(x, n);
      split(fns[kernelName({ op: 'gelu', width: W })]!, [x, out], rows);
      const ref = Float64Array.from(X, geluErf);
      // The forward GELU's float32 error (assembly/gelu.ts) is a few ulps of max(|x|, 1).
      const tol = (i: number): number => 1e-6 * (1 + Math.abs(X[i]!));
      assertWithin(arena.view(out, n), ref, tol, `gelu w=${W} rows=${rows}`);
      assertCaught(arena.view(out, n), Float64Array.from(X, geluTanh), tol, 'tanh GELU');
      assert.ok(arena.guardIntact(out, n));
      split(fns[kernelName({ op: 'gelu', width: W })]!, [x, x], rows);
      assert.deepEqual(arena.view(x, n), arena.view(out, n), 'in place: the same values');
    }
  });
}

/**
 * Measured over [-10, 10] in steps of 1/128 (2,561 points, below): max |kernel − GELU'| / (1 + |GELU'|)
 * against float64 on the same float32 inputs (7.7e-8·(1 + |ref|) measured here, printed by the test). The bound
 * leaves a factor of ~5 over it and is still ~2,500 times below the tanh form's difference.
 */
const GELU_BOUND = 4e-7;
const tanhGeluDerivative = (x: number): number => {
  const k = Math.sqrt(2 / Math.PI), inner = k * (x + 0.044715 * x ** 3);
  const th = Math.tanh(inner);
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * k * (1 + 3 * 0.044715 * x * x);
};

test(`GELU backward is the exact erf GELU' across [-10, 10] (bound ${GELU_BOUND}·(1 + |ref|)); a tanh GELU' fails it`, async () => {
  const { arena, fns } = await kernels();
  const xs = Array.from({ length: 2561 }, (_, i) => -10 + i / 128);
  // Width 13: 197 rows of 13 cover the grid (padded with zeros): every lane position and the tail.
  const W = 13, rows = Math.ceil(xs.length / W), n = rows * W;
  const u = arena.alloc(n, (i) => xs[i] ?? 0);
  const dy = arena.alloc(n, () => 1);
  const dx = arena.alloc(n);
  split(fns[kernelName({ op: 'gelu_backward', width: W })]!, [dy, u, dx], rows);
  const ref = xs.map((x) => geluDerivative(x));
  const got = arena.view(dx, xs.length);
  let worst = 0;
  xs.forEach((_, i) => { worst = Math.max(worst, Math.abs(got[i]! - ref[i]!) / (1 + Math.abs(ref[i]!))); });
  assertWithin(got, ref, (i) => GELU_BOUND * (1 + Math.abs(ref[i]!)), 'GELU\'');
  assert.ok(worst > 0, 'the kernel is an approximation: a zero error means the reference was not independent');
  assertCaught(got, xs.map(tanhGeluDerivative), (i) => GELU_BOUND * (1 + Math.abs(ref[i]!)), 'tanh GELU\'');
  assert.ok(arena.guardIntact(dx, n));
  process.stdout.write(`# GELU' max error ${worst.toExponential(2)}·(1 + |ref|) on [-10, 10]\n`);
});

for (const W of WIDTHS) {
  test(`GELU backward, width ${W}: dx = dy·GELU'(u), in place as well`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(W * 7);
    const fn = fns[kernelName({ op: 'gelu_backward', width: W })]!;
    for (const rows of ROWS) {
      const n = rows * W;
      const u = arena.alloc(n, () => rand() * 4);
      const dy = arena.alloc(n, rand);
      const dx = arena.alloc(n);
      const U_ = arena.copy(u, n), DY = arena.copy(dy, n);
      const ref = DY.map((d, i) => d * geluDerivative(U_[i]!));
      const tol = (i: number): number => Math.abs(DY[i]!) * (GELU_BOUND * (1 + Math.abs(geluDerivative(U_[i]!))) + U);
      split(fn, [dy, u, dx], rows);
      assertWithin(arena.view(dx, n), ref, tol, `w=${W} rows=${rows}`);
      assert.ok(arena.guardIntact(dx, n));
      split(fn, [dy, u, dy], rows); // in place
      assertWithin(arena.view(dy, n), ref, tol, `in place w=${W} rows=${rows}`);
      assert.ok(arena.guardIntact(dy, n));
    }
  });
}

/** float64: ds = p⊙(dp − rowsum(dp⊙p)). */
function softmaxBackwardRef(p: ArrayLike<number>, dp: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const ds = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dp[r * cols + j]! * p[r * cols + j]!;
    for (let j = 0; j < cols; j++) ds[r * cols + j] = p[r * cols + j]! * (dp[r * cols + j]! - dot);
  }
  return ds;
}

for (const T of WIDTHS) {
  test(`softmax backward, ${T} columns, out of place and in place; without the row dot it fails`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(T * 13);
    const fn = fns[kernelName({ op: 'softmax_backward', cols: T })]!;
    for (const rows of ROWS) {
      const n = rows * T;
      // Rows of a real softmax of scores in [-3, 3).
      const probs = new Float64Array(n);
      for (let r = 0; r < rows; r++) {
        const e = Array.from({ length: T }, () => Math.exp(rand() * 3));
        const s = e.reduce((a, v) => a + v, 0);
        e.forEach((v, j) => { probs[r * T + j] = v / s; });
      }
      const p = arena.alloc(n, (i) => probs[i]!);
      const dp = arena.alloc(n, rand);
      const ds = arena.alloc(n);
      const P = arena.copy(p, n), DP = arena.copy(dp, n);
      const ref = softmaxBackwardRef(P, DP, rows, T);
      // The dot: T products of |dp·p| summed; then two roundings on dp − dot and one on the product.
      const dotAbs = Array.from({ length: rows }, (_, r) => { let s = 0, d = 0; for (let j = 0; j < T; j++) { s += Math.abs(DP[r * T + j]! * P[r * T + j]!); d += DP[r * T + j]! * P[r * T + j]!; } return [s, d] as const; });
      const tol = (i: number): number => { const [s, d] = dotAbs[Math.floor(i / T)]!; return P[i]! * ((T + 3) * U * s + 3 * U * (Math.abs(DP[i]!) + Math.abs(d))); };
      split(fn, [p, dp, ds], rows);
      assertWithin(arena.view(ds, n), ref, tol, `cols=${T} rows=${rows}`);
      assertCaught(arena.view(ds, n), P.map((v, i) => v * DP[i]!), tol, 'softmax backward without the row dot');
      assert.ok(arena.guardIntact(ds, n));
      split(fn, [p, dp, dp], rows);
      assertWithin(arena.view(dp, n), ref, tol, `in place cols=${T} rows=${rows}`);
      assert.ok(arena.guardIntact(dp, n));
    }
  });
}

for (const P of WIDTHS) {
  test(`loss gradient d loss/d pred, patches of ${P}: plain and norm-pix, masked and all patches; exactly 0 at kept patches`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(P * 31);
    for (const rows of ROWS) {
      const n = rows * P;
      const pred = arena.alloc(n, rand);
      const target = arena.alloc(n, () => rand() * 0.5 + 0.5); // pixel-like, in [0, 1)
      // Removed (1) and kept (0) patches, at least one removed; pooled over all rows.
      const maskValues = Array.from({ length: rows }, (_, r) => (r === rows - 1 || rand() > 0 ? 1 : 0));
      const mask = arena.alloc(rows, (r) => maskValues[r]!);
      const PRED = arena.copy(pred, n), TGT = arena.copy(target, n);
      for (const normPix of [false, true]) for (const allPatches of [false, true]) {
        const name = kernelName({ op: 'mse_loss_backward', patchDim: P, normPix, allPatches });
        const weight = allPatches ? new Float64Array(rows).fill(1) : Float64Array.from(maskValues);
        const den = weight.reduce((a, v) => a + v, 0);
        const scale = 2 / (P * den);
        const tgt = normPix ? normPixTarget(TGT, rows, P) : TGT;
        const ref = lossBackward(PRED, tgt, weight, rows, P);
        // Plain: p − t, its product with 2/(P·Σw) (itself rounded) — a few roundings. Norm-pix: the
        // target's own error, from a P-term mean and variance (≈ P·u relative, on |t̂| + rstd·|t|).
        const rstdOf = (r: number): number => { let m = 0; for (let k = 0; k < P; k++) m += TGT[r * P + k]!; m /= P; let v = 0; for (let k = 0; k < P; k++) v += (TGT[r * P + k]! - m) ** 2; return 1 / Math.sqrt(v / (P - 1) + 1e-6); };
        const tol = (i: number): number => {
          const r = Math.floor(i / P);
          const tErr = normPix ? (2 * P + 8) * U * (Math.abs(tgt[i]!) + rstdOf(r) * maxAbs(TGT, r * P, (r + 1) * P)) : 0;
          return scale * weight[r]! * (tErr + 4 * U * (Math.abs(PRED[i]!) + Math.abs(tgt[i]!)));
        };
        const out = arena.alloc(n);
        split(fns[name]!, [pred, target, allPatches ? 0 : mask, out], rows);
        const got = arena.view(out, n);
        assertWithin(got, ref, tol, `${name} rows=${rows}`);
        for (let i = 0; i < n; i++) if (weight[Math.floor(i / P)] === 0) assert.ok(Object.is(got[i], 0), `${name}: element ${i} of a kept patch is ${got[i]}, not +0`);
        assert.ok(arena.guardIntact(out, n), `${name} wrote past its output`);
        // Mistakes: a biased variance in the norm-pix target; per-call (not pooled) Σw in a split call.
        if (normPix && P > 1) {
          const biased = normPixTarget(TGT, rows, P).map((v) => v * Math.sqrt((P - 1) / P));
          assertCaught(got, lossBackward(PRED, biased, weight, rows, P), tol, 'norm-pix target with a biased variance');
        }
        if (!normPix && rows > 1) assertCaught(got, ref.map((v) => v * 2), tol, 'a scale off by 2');
      }
    }
  });
}

for (const W of WIDTHS) {
  test(`bias-gradient column sums accumulate, width ${W}`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(W * 3);
    for (const rows of ROWS) {
      const n = rows * W;
      const dy = arena.alloc(n, rand);
      const acc = arena.alloc(W, rand);
      const a0 = arena.copy(acc, W), DY = arena.copy(dy, n);
      split(fns[kernelName({ op: 'column_sum', width: W })]!, [dy, acc], rows);
      const { db } = linearBackwardParams(DY, new Float64Array(rows), rows, 1, W);
      const abs = (j: number): number => { let s = Math.abs(a0[j]!); for (let r = 0; r < rows; r++) s += Math.abs(DY[r * W + j]!); return s; };
      assertWithin(arena.view(acc, W), db.map((v, j) => v + a0[j]!), (j) => (rows + 1) * U * abs(j), `w=${W} rows=${rows}`);
      assert.ok(arena.guardIntact(acc, W));
      // Each column summed in row order from acc (however the kernel blocks its columns): the
      // sequential float32 sums of the two calls, bit for bit.
      const seq = Float32Array.from(a0);
      for (let r = 0; r < rows; r++) for (let j = 0; j < W; j++) seq[j] = Math.fround(seq[j]! + DY[r * W + j]!);
      assert.deepEqual(arena.view(acc, W), seq, `w=${W} rows=${rows}: not the row-order float32 sum`);
    }
  });
}

test('backwardSpecs names the row-wise backward kernels of a config, each once, none of them in the forward plan', async () => {
  const cfg = parseConfig({ hidden_size: 12, decoder_hidden_size: 8, intermediate_size: 20, decoder_intermediate_size: 18, num_attention_heads: 2, decoder_num_attention_heads: 2, num_hidden_layers: 1, decoder_num_hidden_layers: 1, image_size: 8, patch_size: 4, num_channels: 3, mask_ratio: 0.75 });
  const names = backwardSpecs(cfg).map(kernelName);
  assert.equal(new Set(names).size, names.length);
  const forward = planKernels(cfg).specs;
  const forwardNames = new Set(forward.map(kernelName));
  assert.deepEqual(names.filter((n) => forwardNames.has(n)), []);
  assert.throws(() => emitWgsl(backwardSpecs(cfg)[0]!), KernelError);
  // The forward module's source imports none of the backward cores (its kernels.wasm stays as it was).
  const { source } = emitModuleSource(forward, 'forward');
  for (const core of ['layernorm_backward', 'gelu_backward', 'core/loss', 'core/colsum', 'softmaxBackwardRows']) assert.ok(!source.includes(core), `forward source mentions ${core}`);
  for (const expected of ['f32_layernorm_stats_d12_eps1em12', 'f32_layernorm_backward_d8', 'f32_gelu_backward_d20', 'f32_gelu_backward_d18', 'f32_softmax_backward_t2', 'f32_softmax_backward_t5', 'f32_mse_loss_backward_p48_normpix_all', 'f32_column_sum_d36', 'f32_column_sum_d48']) {
    assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
  }
});
