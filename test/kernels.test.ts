/**
 * Every kind of generated kernel against a scalar float64 reference, on shapes with remainders in
 * every dimension (rows not a multiple of MR, columns not a multiple of NR or of 4, odd widths and
 * strides), with guard values around each output to catch writes outside it.
 */
import { test } from 'node:test';
import v8 from 'node:v8';
import assert from 'node:assert/strict';
import { emitModuleSource } from '../codegen/generate.js';
import { compileAssemblyScript } from '../codegen/compile.js';
import { type GemmSpec, type KernelSpec, GEMM_TILE, kernelName } from '../src/plan.js';
import type { SimdVariant } from '../src/simd-support.js';
import { mulberry32 } from './reference/mae-reference.js';

// Node 20 runs relaxed SIMD behind a flag; the tests cover both kernel variants.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const VARIANTS: SimdVariant[] = ['simd128', 'relaxed'];

const GUARD = 12345.5;

/** Uniform in [-1, 1). */
function rng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() * 2 - 1;
}

/** Float and int arrays placed in one memory, with guard cells after each. */
class Arena {
  readonly memory = new WebAssembly.Memory({ initial: 64, maximum: 64 });
  readonly f32 = new Float32Array(this.memory.buffer);
  readonly i32 = new Int32Array(this.memory.buffer);
  private at = 65536;
  alloc(n: number, fill?: (i: number) => number): number {
    const ptr = this.at;
    for (let i = 0; i < n + 16; i++) this.f32[(ptr >> 2) + i] = i < n && fill ? fill(i) : GUARD;
    this.at += Math.ceil((n + 16) * 4 / 64) * 64;
    return ptr;
  }
  ints(values: number[]): number {
    const ptr = this.alloc(values.length);
    this.i32.set(values, ptr >> 2);
    return ptr;
  }
  view(ptr: number, n: number): Float32Array { return this.f32.subarray(ptr >> 2, (ptr >> 2) + n); }
  /** The guard cells after a region are untouched. */
  guardIntact(ptr: number, n: number): boolean { return this.view(ptr + n * 4, 16).every((v) => v === GUARD); }
}

function erf(x: number): number {
  // Abramowitz–Stegun would be too coarse; use the series / continued fraction like the kernel but in a different form: high-precision series via Kahan-free summation up to |x| < 3, asymptotic tail beyond.
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = 0, term = ax;
    for (let n = 0; n < 100; n++) {
      sum += term / (2 * n + 1);
      term *= -ax * ax / (n + 1);
    }
    return Math.sign(x) * sum * 2 / Math.sqrt(Math.PI);
  }
  let f = ax;
  for (let k = 80; k >= 1; k--) f = ax + (k / 2) / f;
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI)));
}
const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));

function gemmRef(s: GemmSpec, m: number, a: Float32Array, b: Float32Array, bias: Float32Array, res: Float32Array, c: Float32Array): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < s.n; j++) {
      let acc = 0;
      for (let k = 0; k < s.k; k++) acc += a[i * s.lda + k] * b[k * s.ldb + j];
      acc *= s.scale;
      if (s.bias) acc += bias[j];
      if (s.gelu) acc = gelu(acc);
      if (s.residual) acc += res[i * s.ldr + j];
      c[i * s.ldc + j] = acc;
    }
  }
}

const gemm = (m: number | null, k: number, n: number, o: Partial<GemmSpec> = {}): GemmSpec => ({
  op: 'gemm', m, k, n, lda: k, ldb: n, ldc: n, ldr: n, scale: 1, bias: false, gelu: false, residual: false, ...GEMM_TILE, packed: false, ...o,
});
const packed = { packed: true } as const;

/** The test's own packing of a row-major B [k, n] into nr-column panels (zero-padded). */
function packB(b: Float32Array, k: number, n: number, nr: number): Float32Array {
  const panels = Math.ceil(n / nr);
  const out = new Float32Array(panels * k * nr);
  for (let p = 0; p < panels; p++) for (let i = 0; i < k; i++) for (let j = 0; j < nr; j++) {
    const col = p * nr + j;
    out[(p * k + i) * nr + j] = col < n ? b[i * n + col] : 0;
  }
  return out;
}

/** The sweep: each GEMM is run with each of these row counts when its m is a runtime argument. */
const GEMMS: GemmSpec[] = [
  gemm(null, 13, 33, { bias: true, ...packed }),
  gemm(null, 7, 13, { bias: true, gelu: true, ...packed }),
  gemm(null, 33, 7, { bias: true, residual: true, ...packed }),
  gemm(null, 5, 4, { bias: true, ...packed }),
  gemm(null, 9, 16, { ...packed }),
  gemm(null, 16, 14, { bias: true, gelu: true, residual: true, ...packed }),
  gemm(null, 13, 33, { bias: true }),
  gemm(null, 7, 13, { bias: true, gelu: true }),
  gemm(null, 33, 7, { bias: true, residual: true }),
  gemm(null, 1, 3),
  gemm(null, 5, 4, { bias: true }),
  gemm(null, 9, 8),
  gemm(null, 6, 12, { residual: true }),
  gemm(null, 16, 14, { bias: true, gelu: true, residual: true }),
  gemm(7, 5, 7, { lda: 9, ldb: 11, ldc: 10, ldr: 10, scale: 0.37 }),
  gemm(9, 9, 6, { lda: 9, ldb: 15, ldc: 13, ldr: 13 }),
  gemm(3, 4, 17, { ldc: 20, ldr: 20 }),
];
const ROWS = [1, 3, 4, 5, 7, 8, 13];
/** c = gelu(a·1): one input per row, read back from column 0. */
const GELU_PROBE = gemm(null, 1, 4, { gelu: true });

const OTHERS: KernelSpec[] = [
  { op: 'layernorm', width: 7, eps: 1e-6 },
  { op: 'layernorm', width: 16, eps: 1e-12 },
  { op: 'layernorm', width: 13, eps: 1e-5 },
  { op: 'attention', t: 7, heads: 3, headDim: 5 },
  { op: 'attention', t: 9, heads: 2, headDim: 8 },
  { op: 'attention', t: 1, heads: 1, headDim: 4 },
  { op: 'patch_gather', channels: 3, patch: 3, grid: 4 },
  { op: 'patch_gather', channels: 1, patch: 4, grid: 7 },
  { op: 'add_rows_gathered', width: 7 },
  { op: 'unshuffle', width: 6, numPatches: 9 },
];

type Fn = (...args: number[]) => void;
const modules = new Map<SimdVariant, Promise<{ arena: Arena; fns: Record<string, Fn> }>>();
function kernels(simd: SimdVariant = 'simd128'): Promise<{ arena: Arena; fns: Record<string, Fn> }> {
  if (!modules.has(simd)) modules.set(simd, (async () => {
    const { source } = emitModuleSource([...GEMMS, GELU_PROBE, ...OTHERS], 'for the kernel tests', { exportAll: true, simd });
    const wasm = await compileAssemblyScript(source, simd);
    const arena = new Arena();
    const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>, { env: { memory: arena.memory } });
    return { arena, fns: instance.exports as unknown as Record<string, Fn> };
  })());
  return modules.get(simd)!;
}

function assertClose(actual: Float32Array, expected: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const err = Math.abs(actual[i] - e);
    if (!(err <= tol * (1 + Math.abs(e)))) assert.fail(`${what}: element ${i} = ${actual[i]}, expected ${e} (|diff| ${err.toExponential(2)} > ${tol}·(1+|ref|))`);
  }
}

for (const simd of VARIANTS) for (const s of GEMMS) {
  const name = kernelName(s);
  test(`gemm ${name} (${simd}) matches the scalar reference`, async () => {
    const { arena, fns } = await kernels(simd);
    const rand = rng(s.k * 131 + s.n);
    for (const m of s.m === null ? ROWS : [s.m]) {
      const a = arena.alloc(m * s.lda, rand);
      const bRowMajor = Float32Array.from({ length: s.k * s.ldb }, rand);
      const bData = s.packed ? packB(bRowMajor, s.k, s.n, s.nr) : bRowMajor;
      const b = arena.alloc(bData.length, (i) => bData[i]);
      const bias = arena.alloc(s.n, rand);
      const res = arena.alloc(m * s.ldr, rand);
      const c = arena.alloc(m * s.ldc); // guard-filled: padding columns must keep the guard
      // Expected: the guards as they were before the call, outputs (j < n) from the reference.
      const expected = Float32Array.from(arena.view(c, m * s.ldc));
      fns[name](a, b, s.bias ? bias : 0, c, s.residual ? res : 0, m, 0, Math.ceil(s.n / s.nr));
      gemmRef(s, m, arena.view(a, m * s.lda), bRowMajor, arena.view(bias, s.n), arena.view(res, m * s.ldr), expected as unknown as Float32Array);
      assertClose(arena.view(c, m * s.ldc), expected, 1e-5, `${name} m=${m}`);
      assert.ok(arena.guardIntact(c, m * s.ldc), `${name} m=${m} wrote past its output`);
    }
  });
}

function layerNormRef(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, width: number, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * width, (r + 1) * width));
    const mean = row.reduce((p, v) => p + v, 0) / width;
    const v = row.reduce((p, x) => p + (x - mean) ** 2, 0) / width;
    for (let i = 0; i < width; i++) out.push((row[i] - mean) / Math.sqrt(v + eps) * w[i] + b[i]);
  }
  return out;
}

function attentionRef(qkv: Float32Array, t: number, heads: number, d: number): number[] {
  const width = heads * d;
  const out = new Array<number>(t * width).fill(0);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < t; i++) {
      const s: number[] = [];
      for (let j = 0; j < t; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += qkv[i * 3 * width + h * d + c] * qkv[j * 3 * width + width + h * d + c];
        s.push(dot / Math.sqrt(d));
      }
      const mx = Math.max(...s);
      const e = s.map((v) => Math.exp(v - mx));
      const sum = e.reduce((p, v) => p + v, 0);
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let j = 0; j < t; j++) acc += e[j] / sum * qkv[j * 3 * width + 2 * width + h * d + c];
        out[i * width + h * d + c] = acc;
      }
    }
  }
  return out;
}

for (const s of OTHERS) {
  const name = kernelName(s);
  test(`${s.op} ${name} matches the scalar reference`, async () => {
    const { arena, fns } = await kernels();
    const rand = rng(name.length * 7919);
    if (s.op === 'layernorm') {
      for (const rows of [1, 5]) {
        const x = arena.alloc(rows * s.width, (i) => rand() * 3 + 0.5);
        const w = arena.alloc(s.width, rand);
        const b = arena.alloc(s.width, rand);
        const out = arena.alloc(rows * s.width);
        // In two calls, as two threads split the rows (one takes none when rows = 1).
        const half = Math.floor(rows / 2);
        fns[name](x, w, b, out, rows, 0, half);
        fns[name](x, w, b, out, rows, half, rows);
        assertClose(arena.view(out, rows * s.width), layerNormRef(arena.view(x, rows * s.width), arena.view(w, s.width), arena.view(b, s.width), rows, s.width, s.eps), 1e-5, name);
        assert.ok(arena.guardIntact(out, rows * s.width));
      }
    } else if (s.op === 'attention') {
      const width = s.heads * s.headDim;
      const qkv = arena.alloc(s.t * 3 * width, (i) => rand() * 2);
      const out = arena.alloc(s.t * width);
      const scores = arena.alloc(s.t * s.t);
      const kt = arena.alloc(s.headDim * s.t);
      fns[name](qkv, out, scores, kt, 0, s.heads);
      assertClose(arena.view(out, s.t * width), attentionRef(arena.view(qkv, s.t * 3 * width), s.t, s.heads, s.headDim), 1e-5, name);
      assert.ok(arena.guardIntact(out, s.t * width));
    } else if (s.op === 'patch_gather') {
      const side = s.patch * s.grid;
      const pixels = arena.alloc(s.channels * side * side, (i) => i);
      const ids = [s.grid * s.grid - 1, 0, s.grid + 1];
      const dim = s.channels * s.patch * s.patch;
      const out = arena.alloc(ids.length * dim);
      fns[name](pixels, arena.ints(ids), ids.length, out);
      const expected: number[] = [];
      for (const l of ids) {
        const py = Math.floor(l / s.grid), px = l % s.grid;
        for (let c = 0; c < s.channels; c++) for (let y = 0; y < s.patch; y++) for (let x = 0; x < s.patch; x++) {
          expected.push((c * side + py * s.patch + y) * side + px * s.patch + x);
        }
      }
      assert.deepEqual(Array.from(arena.view(out, expected.length)), expected);
      assert.ok(arena.guardIntact(out, expected.length));
    } else if (s.op === 'add_rows_gathered') {
      const ids = [4, 0, 2];
      const x = arena.alloc(ids.length * s.width, rand);
      const before = Array.from(arena.view(x, ids.length * s.width));
      const table = arena.alloc(6 * s.width, rand);
      fns[name](x, table, arena.ints(ids), ids.length);
      const tab = arena.view(table, 6 * s.width);
      const expected = before.map((v, i) => v + tab[(1 + ids[Math.floor(i / s.width)]) * s.width + (i % s.width)]);
      assertClose(arena.view(x, before.length), expected, 1e-7, name);
      assert.ok(arena.guardIntact(x, before.length));
    } else if (s.op === 'unshuffle') {
      const keep = 3;
      const L = s.numPatches;
      const restore = [5, 0, 8, 1, 3, 7, 2, 4, 6]; // a permutation of 0..L-1; values < keep are kept tokens
      const emb = arena.alloc((1 + keep) * s.width, rand);
      const mask = arena.alloc(s.width, rand);
      const pos = arena.alloc((1 + L) * s.width, rand);
      const out = arena.alloc((1 + L) * s.width);
      fns[name](emb, mask, pos, arena.ints(restore), keep, out);
      const E = arena.view(emb, (1 + keep) * s.width), M = arena.view(mask, s.width), P = arena.view(pos, (1 + L) * s.width);
      const expected: number[] = [];
      for (let i = 0; i < s.width; i++) expected.push(E[i] + P[i]);
      for (let l = 0; l < L; l++) for (let i = 0; i < s.width; i++) {
        const j = restore[l];
        expected.push((j < keep ? E[(1 + j) * s.width + i] : M[i]) + P[(1 + l) * s.width + i]);
      }
      assertClose(arena.view(out, expected.length), expected, 1e-7, name);
      assert.ok(arena.guardIntact(out, expected.length));
    }
  });
}

test('the GELU epilogue is the exact erf form across [-10, 10] (a tanh GELU fails this)', async () => {
  const s = GELU_PROBE;
  const { arena, fns } = await kernels();
  const xs = Array.from({ length: 401 }, (_, i) => -10 + i * 0.05);
  const a = arena.alloc(xs.length, (i) => xs[i]);
  const b = arena.alloc(4, () => 1);
  const c = arena.alloc(xs.length * 4);
  fns[kernelName(s)](a, b, 0, c, 0, xs.length);
  const got = arena.view(c, xs.length * 4);
  const tanhGelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  let tanhWorst = 0;
  xs.forEach((x, i) => {
    const ref = gelu(Math.fround(x));
    assert.ok(Math.abs(got[i * 4] - ref) <= 2e-7 * (1 + Math.abs(ref)), `gelu(${x}) = ${got[i * 4]}, expected ${ref}`);
    tanhWorst = Math.max(tanhWorst, Math.abs(tanhGelu(x) - ref));
  });
  assert.ok(tanhWorst > 1e-4, 'the probe distinguishes erf from tanh GELU');
});

test('pack_panels lays a Linear weight out as the test packs it, padding included', async () => {
  const { arena, fns } = await kernels();
  // 4×4 blocks, rows and k left over from them, a padded last panel, a single element.
  for (const [n, k, nr] of [[13, 5, 8], [33, 7, 16], [16, 3, 16], [1, 1, 8], [32, 16, 16], [20, 12, 8], [37, 10, 16], [8, 4, 8], [3, 9, 8]]) {
    const w = Float32Array.from({ length: n * k }, (_, i) => i + 1);
    const src = arena.alloc(n * k, (i) => w[i]);
    const size = Math.ceil(n / nr) * nr * k;
    const dst = arena.alloc(size, () => 777); // padding must come out as 0, not the old contents
    fns.pack_panels(src, dst, n, k, nr);
    // W [n, k] → Wᵀ [k, n] row-major, then the test's own panel packing.
    const wt = new Float32Array(k * n);
    for (let o = 0; o < n; o++) for (let i = 0; i < k; i++) wt[i * n + o] = w[o * k + i];
    assert.deepEqual(Array.from(arena.view(dst, size)), Array.from(packB(wt, k, n, nr)), `n=${n} k=${k} nr=${nr}`);
    assert.ok(arena.guardIntact(dst, size));
  }
});
