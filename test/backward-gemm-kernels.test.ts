/**
 * The generated GEMM-shaped and token backward kernels against the independent float64 reference
 * (test/reference/mae-backward.ts): Linear dx = dy·W (from W's second packing, pack_row_panels)
 * and dW += dyᵀ·x on shapes with remainders (rows 1/3/17/50; in/out widths 5/13/15/37/130: every
 * tail of the 4- and 16-wide tiles and of the row tiles); attention backward (t 5/13/50, head
 * widths 5/6/8); the unshuffle and encoder-input backward (widths 5/13/37/130/7, 3 images). Each
 * call split in two ranges as two threads would, guard values after every output, accumulation
 * (twice = twice the gradient), and a plausible mistake per kernel shown to fail the same bound.
 *
 * Bounds are float32 error bounds: u = 2^-24 times a sum's length and the magnitudes it adds.
 */
import { test } from 'node:test';
import v8 from 'node:v8';
import assert from 'node:assert/strict';
import { emitModuleSource } from '../codegen/generate.js';
import { compileAssemblyScript } from '../codegen/compile.js';
import { dwChunk } from '../codegen/ops/gemm.js';
import { type AttentionBackwardSpec, type BackwardKernelSpec, type GemmSpec, type KernelSpec, type LinearDwSpec, type LinearDxSpec, backwardSpecs, kernelName, linearDwSpec, linearDxSpec, linearSpec, panelCount } from '../src/plan.js';
import { packRowPanelsInto } from '../src/pack.js';
import { parseConfig } from '../src/config.js';
import type { SimdVariant } from '../src/simd-support.js';
import { Arena, GUARD, U, assertCaught, assertWithin, rng } from './support/kernel-arena.js';
import { attentionBackward, attentionForward, encoderInputBackward, geluDerivative, linearBackwardInput, linearBackwardParams, unshuffleBackward } from './reference/mae-backward.js';

const ROWS = [1, 3, 17, 50];
/** [inDim, outDim]: inDim 5/13/15 take 4×8 tiles (tails 5, 5, 7 = a vector and 1 or 3 lanes), 37/130 take 2×16 (tails 5, 2). */
const SHAPES: Array<[number, number]> = [[5, 13], [13, 5], [15, 37], [37, 130], [130, 37]];

const dxSpecs = SHAPES.flatMap(([k, n]) => [linearDxSpec(k, n), linearDxSpec(k, n, true)]);
/** The other tile on one shape, so both tile shapes meet every kind of remainder. */
const otherTile: LinearDxSpec = { op: 'linear_dx', inDim: 37, outDim: 130, mr: 4, nr: 8, accumulate: false };
const otherDw: LinearDwSpec = { op: 'linear_dw', inDim: 130, outDim: 37, mr: 4, nr: 8 };
/** in 1030: dW takes tokens in chunks of dwChunk(1030) = 16, so 17 and 50 rows take several passes (a partial last one). */
const chunked = linearDwSpec(1030, 5);
const dwSpecs = [...SHAPES.map(([k, n]) => linearDwSpec(k, n)), otherDw, chunked];
/** dW with the bias gradient summed on the way (the training program's form), on every dW shape. */
const dwBiasSpecs: LinearDwSpec[] = dwSpecs.map((d) => ({ ...d, bias: true }));
/** Sequence lengths × head widths (5, 6: a vector and a tail of 1 or 2; 8 two vectors), two heads; one case of three. */
const ATTENTION: AttentionBackwardSpec[] = [
  ...[5, 13, 50].flatMap((t) => [5, 6, 8].map((headDim): AttentionBackwardSpec => ({ op: 'attention_backward', t, heads: 2, headDim }))),
  { op: 'attention_backward', t: 13, heads: 3, headDim: 6 },
];
const TOKEN_WIDTHS = [5, 13, 37, 130, 7];
const TOKEN_L = 9;
const tokenSpecs = TOKEN_WIDTHS.flatMap((width): BackwardKernelSpec[] => [
  { op: 'unshuffle_backward', width, numPatches: TOKEN_L },
  { op: 'encoder_input_backward', width, numPatches: TOKEN_L },
]);
/**
 * The GELU carried through the MLP's GEMMs (src/training/program.ts fuses it): fc1's forward with
 * GELU' saved beside GELU, [in, out] = [K, N]; fc2's dx multiplied by that GELU', over the same
 * shapes as dx. Beside each, the kernels they must agree with: the inference forward's fused
 * GELU GEMM and the GEMM without the GELU (the pre-activation u, same accumulation order).
 */
const geluSaveSpecs: GemmSpec[] = SHAPES.map(([k, n]) => ({ ...linearSpec(k, n, { gelu: true }), geluGrad: 'save' }));
const geluForwardSpecs: GemmSpec[] = SHAPES.flatMap(([k, n]) => [linearSpec(k, n, { gelu: true }), linearSpec(k, n)]);
const dxGeluSpecs = SHAPES.map(([k, n]) => linearDxSpec(k, n, false, true));
const specs: KernelSpec[] = [...dxSpecs, otherTile, ...dwSpecs, ...dwBiasSpecs, ...ATTENTION, ...tokenSpecs, ...geluSaveSpecs, ...geluForwardSpecs, ...dxGeluSpecs];

type Fn = (...args: number[]) => void;
// Node 20 runs relaxed SIMD behind a flag. The GEMMs' relaxed variant multiplies-adds with FMA: the
// same bounds hold (one rounding fewer per term), so both variants run every GEMM-shaped test.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const VARIANTS: SimdVariant[] = ['simd128', 'relaxed'];
const compiled = new Map<SimdVariant, Promise<{ arena: Arena; fns: Record<string, Fn> }>>();
function kernels(simd: SimdVariant = 'simd128'): Promise<{ arena: Arena; fns: Record<string, Fn> }> {
  if (!compiled.has(simd)) {
    compiled.set(simd, (async () => {
      const { source } = emitModuleSource(specs, `for the backward GEMM kernel tests (${simd})`, { simd });
      const wasm = await compileAssemblyScript(source, simd);
      const arena = new Arena(256);
      const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>, { env: { memory: arena.memory } });
      return { arena, fns: instance.exports as unknown as Record<string, Fn> };
    })());
  }
  return compiled.get(simd)!.then((k) => { k.arena.reset(); return k; });
}

/** Σ_o |dy[t,o]·W[o,i]| per dx element: what a float32 dot product's rounding scales with. */
function dxAbs(dy: Float64Array, w: Float64Array, rows: number, k: number, n: number): Float64Array {
  return linearBackwardInput(dy.map(Math.abs), w.map(Math.abs), rows, k, n);
}

test('pack_row_panels lays W [n, k] out as itself in nr-column panels over k, zero-padded, as src/pack.ts does', async () => {
  const { arena, fns } = await kernels();
  const rand = rng(3);
  for (const [n, k, nr] of [[13, 5, 8], [5, 37, 16], [37, 130, 16], [3, 15, 8]] as const) {
    const size = panelCount(k, nr) * nr * n;
    const w = arena.alloc(n * k, rand);
    const out = arena.alloc(size, () => NaN);
    fns.pack_row_panels!(w, out, n, k, nr);
    const W = arena.view(w, n * k);
    const got = arena.view(out, size);
    // The layout from its definition: out[(p·n + o)·nr + j] = W[o, p·nr + j], 0 past k.
    for (let p = 0; p < panelCount(k, nr); p++) {
      for (let o = 0; o < n; o++) {
        for (let j = 0; j < nr; j++) {
          const col = p * nr + j;
          assert.equal(got[(p * n + o) * nr + j], col < k ? W[o * k + col] : 0, `n=${n} k=${k} nr=${nr} panel ${p} row ${o} lane ${j}`);
        }
      }
    }
    assert.ok(arena.guardIntact(out, size), 'pack_row_panels wrote past its panels');
    const js = new Float32Array(size).fill(NaN);
    packRowPanelsInto(js, Float32Array.from(W), n, k, nr);
    assert.deepEqual(js, Float32Array.from(got), 'the JS packer differs from the kernel');
  }
});

for (const simd of VARIANTS) for (const [K, N] of SHAPES) {
  for (const spec of [linearDxSpec(K, N), ...(K === 37 && N === 130 ? [otherTile] : [])]) {
    test(`Linear dx = dy·W, in ${K} out ${N} (${kernelName(spec)}, ${simd}), and its accumulating form`, async () => {
      const { arena, fns } = await kernels(simd);
      const rand = rng(K * 1000 + N + spec.mr);
      const panels = panelCount(K, spec.nr);
      const w = arena.alloc(N * K, rand);
      const wp = arena.alloc(panels * spec.nr * N);
      fns.pack_row_panels!(w, wp, N, K, spec.nr);
      const Wt = arena.copy(w, N * K);
      const fn = fns[kernelName(spec)]!;
      const acc = fns[kernelName({ ...spec, accumulate: true })];
      for (const rows of ROWS) {
        const dy = arena.alloc(rows * N, rand);
        const dx = arena.alloc(rows * K);
        const half = Math.floor(panels / 2);
        fn(dy, wp, dx, rows, 0, half);
        fn(dy, wp, dx, rows, half, panels);
        const DY = arena.copy(dy, rows * N);
        const ref = linearBackwardInput(DY, Wt, rows, K, N);
        const abs = dxAbs(DY, Wt, rows, K, N);
        const tol = (i: number): number => (N + 2) * U * abs[i]!;
        assertWithin(arena.view(dx, rows * K), ref, tol, `dx rows=${rows}`);
        assert.ok(arena.guardIntact(dx, rows * K), `dx rows=${rows}: wrote past dx`);
        // Threads change nothing: one call over every panel gives the same bits.
        const whole = arena.alloc(rows * K);
        fn(dy, wp, whole, rows, 0, panels);
        assert.deepEqual(arena.view(whole, rows * K), arena.view(dx, rows * K), 'dx split in two panel ranges differs from one call');
        // The mistake: the reduction stops one row of W short (a remainder lost in the last panel).
        const short = linearBackwardInput(DY.map((v, i) => (i % N === N - 1 ? 0 : v)), Wt, rows, K, N);
        assertCaught(arena.view(dx, rows * K), short, tol, 'dx without W\'s last row');
        if (!acc) continue;
        // Accumulating: dx starts non-zero, two calls add the product twice.
        const dxa = arena.alloc(rows * K, rand);
        const X0 = arena.copy(dxa, rows * K);
        for (let call = 0; call < 2; call++) {
          acc(dy, wp, dxa, rows, 0, half);
          acc(dy, wp, dxa, rows, half, panels);
        }
        const twice = ref.map((v, i) => X0[i]! + 2 * v);
        const tolAcc = (i: number): number => (2 * N + 8) * U * (abs[i]! * 2 + Math.abs(X0[i]!));
        assertWithin(arena.view(dxa, rows * K), twice, tolAcc, `dx accumulated twice rows=${rows}`);
        assertCaught(arena.view(dxa, rows * K), ref.map((v, i) => X0[i]! + v), tolAcc, 'dx accumulated once (overwrite instead of add)');
        assert.ok(arena.guardIntact(dxa, rows * K), `dx acc rows=${rows}: wrote past dx`);
      }
    });
  }
}

for (const simd of VARIANTS) for (const spec of dwSpecs) {
  const K = spec.inDim, N = spec.outDim;
  test(`Linear dW += dyᵀ·x, in ${K} out ${N} (${kernelName(spec)}, ${simd}), split by dW rows, accumulated twice`, async () => {
    const { arena, fns } = await kernels(simd);
    if (spec === chunked) assert.ok(dwChunk(K) < 17 && 50 % dwChunk(K) !== 0, 'this shape is meant to take several token chunks');
    const rand = rng(K * 7 + N * 13 + spec.nr);
    const fn = fns[kernelName(spec)]!;
    for (const rows of ROWS) {
      const dy = arena.alloc(rows * N, rand);
      const x = arena.alloc(rows * K, rand);
      const dw = arena.alloc(N * K, rand); // the gradient buffer already holds earlier micro-batches
      const DW0 = arena.copy(dw, N * K);
      // An odd split point: a thread's range need not start on a tile boundary.
      const half = Math.floor(N / 2) + 1;
      for (let call = 0; call < 2; call++) {
        fn(dy, x, dw, rows, 0, half);
        fn(dy, x, dw, rows, half, N);
      }
      const DY = arena.copy(dy, rows * N), X = arena.copy(x, rows * K);
      const { dW } = linearBackwardParams(DY, X, rows, K, N);
      const abs = linearBackwardParams(DY.map(Math.abs), X.map(Math.abs), rows, K, N).dW;
      const tol = (i: number): number => (2 * rows + 8) * U * (2 * abs[i]! + Math.abs(DW0[i]!));
      const got = arena.view(dw, N * K);
      assertWithin(got, dW.map((v, i) => DW0[i]! + 2 * v), tol, `dW rows=${rows}`);
      assert.ok(arena.guardIntact(dw, N * K), `dW rows=${rows}: wrote past dW`);
      // Threads change nothing: the same two accumulations as single calls over all rows give the same bits.
      const whole = arena.alloc(N * K, (i) => DW0[i]!);
      fn(dy, x, whole, rows, 0, N);
      fn(dy, x, whole, rows, 0, N);
      assert.deepEqual(arena.view(whole, N * K), arena.view(dw, N * K), 'dW split in two row ranges differs from one call');
      // Mistakes: dW laid out transposed ([in, out]); one token's row left out of the sum; a single call's worth.
      const transposed = Float64Array.from({ length: N * K }, (_, i) => DW0[i]! + 2 * dW[(i % N) * K + Math.floor(i / N)]!);
      assertCaught(got, transposed, tol, 'dW transposed');
      if (rows > 1) {
        const lastOut = linearBackwardParams(DY.subarray(0, (rows - 1) * N), X.subarray(0, (rows - 1) * K), rows - 1, K, N).dW;
        assertCaught(got, lastOut.map((v, i) => DW0[i]! + 2 * v), tol, 'dW without the last token');
      }
      assertCaught(got, dW.map((v, i) => DW0[i]! + v), tol, 'dW accumulated once');
    }
    // m = 0 (no tokens) leaves dW as it was.
    const dw = arena.alloc(N * K, rand);
    const before = Float32Array.from(arena.view(dw, N * K));
    fn(0, 0, dw, 0, 0, N);
    assert.deepEqual(Float32Array.from(arena.view(dw, N * K)), before);
  });
}

/** GELU' bound of test/backward-kernels.test.ts (assembly/gelu_backward.ts: 7.7e-8·(1 + |GELU'|) measured). */
const GELU_BOUND = 4e-7;

for (const simd of VARIANTS) for (const [K, N] of SHAPES) {
  test(`fc1 forward saving GELU' (in ${K} out ${N}, ${simd}): h bit-identical to the inference GEMM's fused GELU, GELU'(u) of the same u`, async () => {
    const { arena, fns } = await kernels(simd);
    const rand = rng(K * 17 + N * 5);
    const save = geluSaveSpecs.find((g) => g.k === K && g.n === N)!;
    const [fused, plain] = [linearSpec(K, N, { gelu: true }), linearSpec(K, N)];
    const panels = panelCount(N, save.nr);
    const w = arena.alloc(N * K, rand);
    const wp = arena.alloc(panels * save.nr * K);
    fns.pack_panels!(w, wp, N, K, save.nr);
    const bias = arena.alloc(N, rand);
    for (const rows of ROWS) {
      // Pre-activations of order 3: both of the GELU's erf branches and its negative tail.
      const x = arena.alloc(rows * K, () => rand() * 3 / Math.sqrt(K) * 2);
      const h = arena.alloc(rows * N), d = arena.alloc(rows * N), hRef = arena.alloc(rows * N), u = arena.alloc(rows * N);
      const half = Math.floor(panels / 2);
      fns[kernelName(save)]!(x, wp, bias, h, d, rows, 0, half);
      fns[kernelName(save)]!(x, wp, bias, h, d, rows, half, panels);
      fns[kernelName(fused)]!(x, wp, bias, hRef, 0, rows, 0, panels);
      fns[kernelName(plain)]!(x, wp, bias, u, 0, rows, 0, panels);
      assert.deepEqual(arena.view(h, rows * N), arena.view(hRef, rows * N), `h rows=${rows}: not the inference forward's GELU`);
      const Uv = arena.copy(u, rows * N);
      const ref = Uv.map(geluDerivative);
      const tol = (i: number): number => GELU_BOUND * (1 + Math.abs(ref[i]!));
      assertWithin(arena.view(d, rows * N), ref, tol, `GELU'(u) rows=${rows}`);
      assert.ok(arena.guardIntact(h, rows * N) && arena.guardIntact(d, rows * N), `rows=${rows}: wrote past h or GELU'`);
      // The mistake: GELU'(u) without its x·φ(x) term (Φ alone).
      assertCaught(arena.view(d, rows * N), Uv.map((v) => geluDerivative(v) - v * Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI)), tol, 'Φ(u) for GELU\'(u)');
    }
  });

  test(`fc2's dx through the GELU, d u = (dy·W) ⊙ GELU'(u), in ${K} out ${N} (${simd})`, async () => {
    const { arena, fns } = await kernels(simd);
    const spec = dxGeluSpecs.find((g) => g.inDim === K && g.outDim === N)!;
    const rand = rng(K * 1000 + N + 77);
    const panels = panelCount(K, spec.nr);
    const w = arena.alloc(N * K, rand);
    const wp = arena.alloc(panels * spec.nr * N);
    fns.pack_row_panels!(w, wp, N, K, spec.nr);
    const Wt = arena.copy(w, N * K);
    const fn = fns[kernelName(spec)]!;
    for (const rows of ROWS) {
      const dy = arena.alloc(rows * N, rand);
      const g = arena.alloc(rows * K, () => rand() * 0.6 + 0.5); // GELU' lies in about [-0.17, 1.13]
      const dx = arena.alloc(rows * K);
      const half = Math.floor(panels / 2);
      fn(dy, wp, dx, g, rows, 0, half);
      fn(dy, wp, dx, g, rows, half, panels);
      const DY = arena.copy(dy, rows * N), G = arena.copy(g, rows * K);
      const plainRef = linearBackwardInput(DY, Wt, rows, K, N);
      const ref = plainRef.map((v, i) => v * G[i]!);
      const abs = dxAbs(DY, Wt, rows, K, N);
      const tol = (i: number): number => (N + 3) * U * abs[i]! * Math.abs(G[i]!);
      assertWithin(arena.view(dx, rows * K), ref, tol, `dx ⊙ GELU' rows=${rows}`);
      assert.ok(arena.guardIntact(dx, rows * K), `rows=${rows}: wrote past dx`);
      assertCaught(arena.view(dx, rows * K), plainRef, tol, 'dx without the GELU\'');
    }
  });
}

for (const simd of VARIANTS) for (const spec of dwBiasSpecs) {
  const K = spec.inDim, N = spec.outDim;
  test(`Linear dW with db += Σ_rows dy on the way, in ${K} out ${N} (${kernelName(spec)}, ${simd}): dW as without, db accumulated, split by rows`, async () => {
    const { arena, fns } = await kernels(simd);
    const rand = rng(K * 5 + N * 11 + spec.nr);
    const fn = fns[kernelName(spec)]!;
    const plain = fns[kernelName({ ...spec, bias: undefined })]!;
    for (const rows of ROWS) {
      const dy = arena.alloc(rows * N, rand);
      const x = arena.alloc(rows * K, rand);
      const dw = arena.alloc(N * K, rand), db = arena.alloc(N, rand);
      const DW0 = arena.copy(dw, N * K), DB0 = arena.copy(db, N);
      const half = Math.floor(N / 2) + 1;
      for (let call = 0; call < 2; call++) {
        fn(dy, x, dw, db, rows, 0, half);
        fn(dy, x, dw, db, rows, half, N);
      }
      // dW: the same bits as the kernel without db.
      const dwPlain = arena.alloc(N * K, (i) => DW0[i]!);
      for (let call = 0; call < 2; call++) plain(dy, x, dwPlain, rows, 0, N);
      assert.deepEqual(arena.view(dw, N * K), arena.view(dwPlain, N * K), `dW rows=${rows}: not the plain dW kernel's`);
      // db: two calls' column sums, each a float32 sum of rows terms (in chunks) added to db.
      const DY = arena.copy(dy, rows * N);
      const { db: ref } = linearBackwardParams(DY, new Float64Array(rows), rows, 1, N);
      const abs = (o: number): number => { let a = Math.abs(DB0[o]!); for (let r = 0; r < rows; r++) a += 2 * Math.abs(DY[r * N + o]!); return a; };
      const tol = (o: number): number => (2 * rows + 8) * U * abs(o);
      assertWithin(arena.view(db, N), ref.map((v, o) => DB0[o]! + 2 * v), tol, `db rows=${rows}`);
      assert.ok(arena.guardIntact(db, N) && arena.guardIntact(dw, N * K), `rows=${rows}: wrote past db or dW`);
      const whole = arena.alloc(N, (o) => DB0[o]!), dwWhole = arena.alloc(N * K, (i) => DW0[i]!);
      for (let call = 0; call < 2; call++) fn(dy, x, dwWhole, whole, rows, 0, N);
      assert.deepEqual(arena.view(whole, N), arena.view(db, N), 'db split in two row ranges differs from one call');
      if (rows > 1) {
        const short = linearBackwardParams(DY.subarray(0, (rows - 1) * N), new Float64Array(rows - 1), rows - 1, 1, N).db;
        assertCaught(arena.view(db, N), short.map((v, o) => DB0[o]! + 2 * v), tol, 'db without the last token');
      }
    }
  });
}

test('backwardSpecs lists dx (both forms) for every Linear but the patch embedding, and dW for every Linear', () => {
  const cfg = parseConfig({
    model_type: 'vit_mae', image_size: 12, patch_size: 4, num_channels: 3, hidden_size: 12, num_hidden_layers: 1,
    num_attention_heads: 2, intermediate_size: 20, decoder_hidden_size: 8, decoder_num_hidden_layers: 1,
    decoder_num_attention_heads: 2, decoder_intermediate_size: 18, mask_ratio: 0.75, layer_norm_eps: 1e-12,
  });
  const names = new Set(backwardSpecs(cfg).map(kernelName));
  // Names by shape: patch 48→12, qkv 12→36, fc1 12→20, fc2 20→12, dec_embed 12→8, dec qkv 8→24, dec fc1 8→18, pred 8→48.
  for (const expected of ['f32_gemm_dw_2x16_in48_out12', 'f32_gemm_dx_4x8_in12_out36', 'f32_gemm_dx_4x8_in12_out36_acc', 'f32_gemm_dx_2x16_in20_out12_acc', 'f32_gemm_dw_2x16_in20_out12', 'f32_gemm_dx_4x8_in8_out48', 'f32_gemm_dw_4x8_in8_out18']) {
    assert.ok(names.has(expected), `missing ${expected}`);
  }
  assert.ok(![...names].some((n) => n.startsWith('f32_gemm_dx_') && n.includes('_in48_out12')), 'dx of the patch embedding (pixels need no gradient)');
});

/**
 * Float32 error bound of every dqkv element for one image, propagated through the four GEMMs and
 * the softmax backward from the magnitudes they add (γ_n = (n + 2)·u per n-term sum), times 2.
 */
function attentionBound(qkv: Float64Array, P: Float64Array, dO: Float64Array, t: number, heads: number, d: number): Float64Array {
  const D = heads * d, scale = 1 / Math.sqrt(d);
  const g = (n: number): number => (n + 2) * U;
  const e = new Float64Array(t * 3 * D);
  const at = (i: number, c: number): number => qkv[i * 3 * D + c]!;
  for (let h = 0; h < heads; h++) {
    const p = (i: number, j: number): number => P[(h * t + i) * t + j]!;
    const go = (i: number, c: number): number => dO[i * D + h * d + c]!;
    const dP = new Float64Array(t * t), eP = new Float64Array(t * t);
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) {
      let s = 0, a = 0;
      for (let c = 0; c < d; c++) { s += go(i, c) * at(j, 2 * D + h * d + c); a += Math.abs(go(i, c) * at(j, 2 * D + h * d + c)); }
      dP[i * t + j] = s; eP[i * t + j] = g(d) * a;
    }
    const dS = new Float64Array(t * t), eS = new Float64Array(t * t);
    for (let i = 0; i < t; i++) {
      let r = 0, er = 0;
      for (let j = 0; j < t; j++) { r += dP[i * t + j]! * p(i, j); er += p(i, j) * eP[i * t + j]! + g(t) * Math.abs(dP[i * t + j]! * p(i, j)); }
      for (let j = 0; j < t; j++) {
        dS[i * t + j] = p(i, j) * (dP[i * t + j]! - r);
        eS[i * t + j] = p(i, j) * (eP[i * t + j]! + er) + 2 * U * p(i, j) * (Math.abs(dP[i * t + j]!) + Math.abs(r));
      }
    }
    for (let i = 0; i < t; i++) for (let c = 0; c < d; c++) {
      let v = 0, q = 0, k = 0;
      for (let j = 0; j < t; j++) {
        v += g(t) * Math.abs(p(j, i) * go(j, c));
        q += eS[i * t + j]! * Math.abs(at(j, D + h * d + c)) + g(t) * Math.abs(dS[i * t + j]! * at(j, D + h * d + c));
        k += eS[j * t + i]! * Math.abs(at(j, h * d + c)) + g(t) * Math.abs(dS[j * t + i]! * at(j, h * d + c));
      }
      e[i * 3 * D + 2 * D + h * d + c] = 2 * v;
      e[i * 3 * D + h * d + c] = 2 * (scale * q + U * scale * q);
      e[i * 3 * D + D + h * d + c] = 2 * (scale * k + U * scale * k);
    }
  }
  return e;
}

for (const simd of VARIANTS) for (const spec of ATTENTION) {
  const { t: T, heads: H, headDim: d } = spec;
  test(`attention backward t=${T}, ${H} heads of ${d} (${simd}): dQ, dK, dV into dqkv from the saved P, by head range`, async () => {
    const { arena, fns } = await kernels(simd);
    const rand = rng(T * 31 + d * 7 + H);
    const D = H * d;
    // Scores of order 1 after the d^-½ scale: P neither uniform nor one-hot.
    const qkv = arena.alloc(T * 3 * D, () => rand() * 1.5);
    const QKV = arena.copy(qkv, T * 3 * D);
    // The saved P as the forward stores it: float32 of the softmax.
    const P32 = Float64Array.from(Float32Array.from(attentionForward(QKV, 1, T, D, H).probs));
    const probs = arena.alloc(H * T * T, (i) => P32[i]!);
    const dout = arena.alloc(T * D, rand);
    const dqkv = arena.alloc(T * 3 * D, () => GUARD);
    const dp = arena.alloc(T * T), vt = arena.alloc(d * T);
    const fn = fns[kernelName(spec)]!;
    fn(qkv, probs, dout, dqkv, dp, vt, 0, 1);
    // Head 0 alone leaves the other heads' columns as they were.
    const after0 = arena.view(dqkv, T * 3 * D);
    for (let i = 0; i < T * 3 * D; i++) if ((i % D) >= d) assert.equal(after0[i], GUARD, `head 0 wrote element ${i} (another head's column)`);
    fn(qkv, probs, dout, dqkv, dp, vt, 1, H);
    const DO = arena.copy(dout, T * D);
    const ref = attentionBackward(DO, QKV, P32, 1, T, D, H);
    const bound = attentionBound(QKV, P32, DO, T, H, d);
    const tol = (i: number): number => bound[i]!;
    const got = arena.view(dqkv, T * 3 * D);
    assertWithin(got, ref, tol, `dqkv t=${T} d=${d}`);
    for (const [p, n] of [[dqkv, T * 3 * D], [dp, T * T], [vt, d * T]] as const) assert.ok(arena.guardIntact(p, n), 'attention backward wrote past an output or scratch');
    assert.deepEqual(Float64Array.from(arena.view(probs, H * T * T)), P32, 'P changed (dS is computed in the dp scratch)');
    const whole = arena.alloc(T * 3 * D);
    fn(qkv, probs, dout, whole, dp, vt, 0, H);
    assert.deepEqual(arena.view(whole, T * 3 * D), got, 'head ranges [0,1) + [1,H) differ from one call');
    // Mistakes: dQ and dK without d^-½; dV = P·dO (P not transposed).
    const noScale = ref.map((v, i) => ((i % (3 * D)) < 2 * D ? v * Math.sqrt(d) : v));
    assertCaught(got, noScale, tol, 'dQ, dK without d^-½');
    const dvUntransposed = Float64Array.from(ref);
    for (let h = 0; h < H; h++) for (let j = 0; j < T; j++) for (let c = 0; c < d; c++) {
      let s = 0;
      for (let i = 0; i < T; i++) s += P32[(h * T + j) * T + i]! * DO[i * D + h * d + c]!;
      dvUntransposed[j * 3 * D + 2 * D + h * d + c] = s;
    }
    assertCaught(got, dvUntransposed, tol, 'dV = P·dO');
  });
}

/** Per image, a random permutation of the L patches (ascending noise order, as the masking does): ids_keep and ids_restore. */
function masks(rand: () => number, n: number, L: number, keep: number): { idsKeep: number[]; idsRestore: number[] } {
  const idsKeep: number[] = [], idsRestore: number[] = [];
  for (let img = 0; img < n; img++) {
    const noise = Array.from({ length: L }, rand);
    const shuffle = [...noise.keys()].sort((a, b) => noise[a]! - noise[b]!);
    const restore = new Array<number>(L);
    shuffle.forEach((l, rank) => { restore[l] = rank; });
    idsKeep.push(...shuffle.slice(0, keep));
    idsRestore.push(...restore);
  }
  return { idsKeep, idsRestore };
}

const N_IMAGES = 3;
for (const W of TOKEN_WIDTHS) {
  test(`unshuffle and encoder-input backward, width ${W}, ${N_IMAGES} images of ${TOKEN_L} patches: scatters exact, mask and cls tokens summed`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(W * 17);
    const L = TOKEN_L, n = N_IMAGES;
    for (const keep of [1, 2, 5, L]) {
      const { idsKeep, idsRestore } = masks(rand, n, L, keep);
      const ids = (values: number[]): number => {
        const p = arena.alloc(values.length);
        new Int32Array(arena.memory.buffer, p, values.length).set(values);
        return p;
      };
      // Unshuffle backward: dy [n·(1+L), W] → de [n·(1+keep), W], dmask accumulated from a non-zero start.
      const dy = arena.alloc(n * (1 + L) * W, rand);
      const de = arena.alloc(n * (1 + keep) * W);
      const dmask = arena.alloc(W, rand);
      const M0 = arena.copy(dmask, W);
      const ub = fns[kernelName({ op: 'unshuffle_backward', width: W, numPatches: L })]!;
      const pRestore = ids(idsRestore);
      ub(dy, pRestore, keep, de, dmask, 0, 1);
      ub(dy, pRestore, keep, de, dmask, 1, n);
      const DY = arena.copy(dy, n * (1 + L) * W);
      const u = unshuffleBackward(DY, idsRestore, n, L, keep, W);
      assert.deepEqual(arena.copy(de, n * (1 + keep) * W), u.dEmbedded, `de keep=${keep}: a scatter is exact`);
      const removed = n * (L - keep);
      const absMask = unshuffleBackward(DY.map(Math.abs), idsRestore, n, L, keep, W).dMaskToken;
      const tolMask = (i: number): number => (removed + 2) * U * (absMask[i]! + Math.abs(M0[i]!));
      const gotMask = arena.view(dmask, W);
      assertWithin(gotMask, u.dMaskToken.map((v, i) => v + M0[i]!), tolMask, `dmask keep=${keep}`);
      if (keep < L - 1) {
        // The mistake: the mask token's gradient from one removed copy (the last one written) instead of the sum.
        const last = Float64Array.from({ length: W }, (_, i) => {
          const img = n - 1, l = idsRestore.slice(img * L, (img + 1) * L).lastIndexOf(Math.max(...idsRestore.slice(img * L, (img + 1) * L)));
          return M0[i]! + DY[(img * (1 + L) + 1 + l) * W + i]!;
        });
        assertCaught(gotMask, last, tolMask, 'mask token not summed');
      }
      if (keep === L) assert.deepEqual(arena.copy(dmask, W), M0, 'no patch removed: dmask unchanged');
      for (const [p, len] of [[de, n * (1 + keep) * W], [dmask, W]] as const) assert.ok(arena.guardIntact(p, len), 'unshuffle backward wrote past an output');

      // Encoder input backward: dx0 [n·(1+keep), W] → dcls (accumulated), dembeds [n·L, W] scattered into zeros.
      const dx0 = arena.alloc(n * (1 + keep) * W, rand);
      const dembeds = arena.alloc(n * L * W, () => GUARD);
      const dcls = arena.alloc(W, rand);
      const C0 = arena.copy(dcls, W);
      const eb = fns[kernelName({ op: 'encoder_input_backward', width: W, numPatches: L })]!;
      const pKeep = ids(idsKeep);
      eb(dx0, pKeep, keep, dembeds, dcls, 0, 2);
      eb(dx0, pKeep, keep, dembeds, dcls, 2, n);
      const DX0 = arena.copy(dx0, n * (1 + keep) * W);
      const e = encoderInputBackward(DX0, idsKeep, n, L, keep, W);
      assert.deepEqual(arena.copy(dembeds, n * L * W), e.dEmbeds, `dembeds keep=${keep}: the scatter, zero at removed patches`);
      const absCls = encoderInputBackward(DX0.map(Math.abs), idsKeep, n, L, keep, W).dCls;
      const tolCls = (i: number): number => (n + 2) * U * (absCls[i]! + Math.abs(C0[i]!));
      assertWithin(arena.view(dcls, W), e.dCls.map((v, i) => v + C0[i]!), tolCls, `dcls keep=${keep}`);
      // Mistakes: the cls gradient of the last image only; kept rows written in kept order instead of to their patches.
      assertCaught(arena.view(dcls, W), Float64Array.from({ length: W }, (_, i) => C0[i]! + DX0[(n - 1) * (1 + keep) * W + i]!), tolCls, 'cls token not summed over images');
      if (keep < L) {
        const inOrder = new Float64Array(n * L * W);
        for (let img = 0; img < n; img++) for (let t = 0; t < keep; t++) for (let i = 0; i < W; i++) inOrder[(img * L + t) * W + i] = DX0[(img * (1 + keep) + 1 + t) * W + i]!;
        assert.notDeepEqual(arena.copy(dembeds, n * L * W), inOrder, 'scatter by position instead of ids_keep');
      }
      for (const [p, len] of [[dembeds, n * L * W], [dcls, W]] as const) assert.ok(arena.guardIntact(p, len), 'encoder input backward wrote past an output');
    }
  });
}

test('a config\'s whole backward kernel list compiles into one module (simd128), beside none of the forward kernels', async () => {
  const cfg = parseConfig({ hidden_size: 12, decoder_hidden_size: 8, intermediate_size: 20, decoder_intermediate_size: 18, num_attention_heads: 2, decoder_num_attention_heads: 2, num_hidden_layers: 1, decoder_num_hidden_layers: 1, image_size: 12, patch_size: 4, num_channels: 3, mask_ratio: 0.75 });
  const list = backwardSpecs(cfg);
  const { source, exported } = emitModuleSource(list, 'for the backward list test', {});
  const wasm = await compileAssemblyScript(source, 'simd128');
  const mod = await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  const names = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  for (const s of list) assert.ok(names.has(kernelName(s)), `${kernelName(s)} not exported`);
  assert.ok(names.has('pack_row_panels'));
  assert.equal(exported.size, list.length);
  for (const t of [1 + 2, 1 + 9]) assert.ok(names.has(`f32_attention_backward_t${t}_h2_d6`), `encoder attention backward at t=${t}`);
  assert.ok(names.has('f32_attention_backward_t10_h2_d4') && names.has('f32_unshuffle_backward_d8_l9') && names.has('f32_encoder_input_backward_d12_l9'));
});
