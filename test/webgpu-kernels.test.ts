/**
 * The WGSL emitters (codegen/ops, emitWgsl) one kernel at a time on a WebGPU device, against
 * float64 references, on shapes with every remainder: GEMM with packed B in several panels (the
 * last partial) and with row-major B (stride > n), columns not a multiple of 4, rows not a multiple
 * of the tile, activations at row offsets, scale, bias, GELU, a separate and an in-place residual;
 * LayerNorm of width 10; attention with head width 5; patch gather, position rows, unshuffle.
 * Each kernel runs as a one-step program through the backend's program compiler.
 */
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultGpu } from '../src/backend/webgpu-device.js';
import { compileGpuProgram } from '../src/backend/webgpu-program.js';
import { BUFFER_USAGE, MAP_MODE_READ, type GpuBuffer, type GpuComputePipeline, type GpuDevice } from '../src/backend/webgpu-types.js';
import { emitWgsl, type WgslKernel } from '../codegen/ops/index.js';
import { type BufferName, type GemmSpec, type KernelSpec, kernelName } from '../src/plan.js';
import type { Arg, Step } from '../src/program.js';
import { kernelParams } from '../src/kernel-params.js';
import { packPanelsInto } from '../src/pack.js';
import { gelu, mulberry32 } from './reference/mae-reference.js';
import { assertClose } from './helpers.js';
import { GPU_TEST_TIMEOUT_MS, needWebGpu } from './webgpu-support.js';

const TOL = 1e-5;

function random(seed: number, n: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** A device, buffers by name and a runner for one kernel step. */
class Bench {
  private readonly buffers = new Map<string, GpuBuffer>();
  private readonly weights = new Map<string, { buffer: GpuBuffer; length: number }>();
  private readonly pipelines = new Map<string, Promise<GpuComputePipeline>>();
  constructor(readonly device: GpuDevice) {}

  private make(data: Float32Array | Int32Array, extra = 0): GpuBuffer {
    const b = this.device.createBuffer({ size: Math.max(16, Math.ceil((data.byteLength + extra) / 16) * 16), usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST | BUFFER_USAGE.COPY_SRC });
    this.device.queue.writeBuffer(b, 0, data);
    return b;
  }

  buffer(name: string, data: Float32Array | Int32Array): void { this.buffers.set(name, this.make(data)); }
  weight(name: string, data: Float32Array): void { this.weights.set(name, { buffer: this.make(data), length: data.length }); }

  async run(spec: KernelSpec, args: Arg[], out: string, length: number): Promise<{ values: Float32Array; kernel: WgslKernel | undefined }> {
    const name = kernelName(spec);
    let kernel: WgslKernel | undefined;
    const program = await compileGpuProgram([{ kernel: name, args: Object.fromEntries(kernelParams(spec).operands.map(([n], i) => [n, args[i]!])) } as Step], new Map([[name, spec]]), {
      device: this.device,
      buffer: (n: BufferName) => this.buffers.get(n)!,
      weight: (n) => this.weights.get(n)!.buffer,
      weightLength: (n) => this.weights.get(n)!.length,
      pipeline: (k) => {
        kernel = k;
        let p = this.pipelines.get(k.name);
        if (!p) {
          p = this.device.createComputePipelineAsync({ layout: 'auto', compute: { module: this.device.createShaderModule({ code: k.code }), entryPoint: 'main' } });
          this.pipelines.set(k.name, p);
        }
        return p;
      },
    });
    const read = this.device.createBuffer({ size: length * 4, usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST });
    const enc = this.device.createCommandEncoder();
    program.record(enc);
    enc.copyBufferToBuffer(this.buffers.get(out)!, 0, read, 0, length * 4);
    this.device.queue.submit([enc.finish()]);
    await read.mapAsync(MAP_MODE_READ);
    const values = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    read.destroy();
    program.dispose();
    return { values, kernel };
  }
}

const buf = (buffer: string, row = 0, width = 0): Arg => ({ buffer: buffer as BufferName, row, width });
const w = (weight: string): Arg => ({ weight });
const int = (n: number): Arg => ({ int: n });
const none: Arg = { none: true };

async function bench(t: TestContext): Promise<Bench | null> {
  if (!(await needWebGpu(t))) return null;
  const gpu = await defaultGpu();
  assert.ok(typeof gpu !== 'string');
  const adapter = await gpu.requestAdapter();
  return new Bench(await adapter!.requestDevice());
}

/** C (ld ldc, from row c0) = epilogue(scale·A·B) in float64; rows outside [c0, c0 + m) keep `init`. */
function gemmRef(s: GemmSpec, m: number, a: Float32Array, a0: number, b: (k: number, j: number) => number, bias: Float32Array | null, res: Float32Array | null, r0: number, init: Float32Array, c0: number): Float32Array {
  const out = Float64Array.from(init);
  for (let i = 0; i < m; i++) for (let j = 0; j < s.n; j++) {
    let acc = 0;
    for (let k = 0; k < s.k; k++) acc += a[(a0 + i) * s.lda + k] * b(k, j);
    let v = acc * s.scale;
    if (bias) v += bias[j];
    if (s.gelu) v = gelu(v);
    if (res) v += res[(r0 + i) * s.ldr + j];
    out[(c0 + i) * s.ldc + j] = v;
  }
  return Float32Array.from(out);
}

test('WGSL gemm: packed B in 8-column panels (n 13: the last partial), 7 rows at row offsets, scale, bias, GELU, separate residual', { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
  const b = await bench(t);
  if (!b) return;
  try {
    const m = 7, k = 11, n = 13;
    const s: GemmSpec = { op: 'gemm', m: null, k, n, lda: k, ldb: n, ldc: n, ldr: n, scale: 0.75, bias: true, gelu: true, residual: true, mr: 4, nr: 8, packed: true };
    const W = random(1, n * k); // [n, k] as a Linear weight
    const packed = new Float32Array(Math.ceil(n / 8) * 8 * k);
    packPanelsInto(packed, W, n, k, 8);
    const A = random(2, (m + 2) * k), bias = random(3, n), R = random(4, (m + 1) * n), C = random(5, (m + 3) * n);
    b.buffer('xln', A); b.buffer('hidden', R); b.buffer('x', C);
    b.weight('w', packed); b.weight('bias', bias);
    const { values, kernel } = await b.run(s, [buf('xln', 2, k), w('w'), w('bias'), buf('x', 3, n), buf('hidden', 1, n), int(m)], 'x', C.length);
    assert.ok(kernel && !kernel.name.endsWith('_inplace'));
    assertClose(values, gemmRef(s, m, A, 2, (kk, j) => W[j * k + kk], bias, R, 1, C, 3), TOL, kernelName(s));
  } finally {
    b.device.destroy();
  }
});

test('WGSL gemm: in-place residual (x = x + A·Wᵀ + b), plain Wᵀ (one panel of n rounded to 4), n 6', { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
  const b = await bench(t);
  if (!b) return;
  try {
    const m = 5, k = 9, n = 6;
    const s: GemmSpec = { op: 'gemm', m: null, k, n, lda: k, ldb: n, ldc: n, ldr: n, scale: 1, bias: true, gelu: false, residual: true, mr: 4, nr: 8, packed: true };
    const W = random(11, n * k);
    const packed = new Float32Array(8 * k);
    packPanelsInto(packed, W, n, k, 8);
    const A = random(12, m * k), bias = random(13, n), X = random(14, (m + 1) * n);
    b.buffer('att', A); b.buffer('x', X);
    b.weight('w', packed); b.weight('bias', bias);
    const { values, kernel } = await b.run(s, [buf('att'), w('w'), w('bias'), buf('x', 1, n), buf('x', 1, n), int(m)], 'x', X.length);
    assert.ok(kernel?.name.endsWith('_inplace'), 'the residual is read from the output binding');
    assertClose(values, gemmRef(s, m, A, 0, (kk, j) => W[j * k + kk], bias, X, 1, X, 1), TOL, kernelName(s));
  } finally {
    b.device.destroy();
  }
});

test('WGSL matmul: row-major B with stride 13 > n 10, fixed m 6 (a partial row tile), scale, no bias', { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
  const b = await bench(t);
  if (!b) return;
  try {
    const m = 6, k = 7, n = 10, ldb = 13;
    const s: GemmSpec = { op: 'gemm', m, k, n, lda: 9, ldb, ldc: 11, ldr: 11, scale: 0.3, bias: false, gelu: false, residual: false, mr: 4, nr: 8, packed: false };
    const A = random(21, m * 9), B = random(22, 2 * ldb + k * ldb), C = random(23, m * 11);
    b.buffer('scores', A); b.buffer('qkv', B); b.buffer('att', C);
    const { values } = await b.run(s, [buf('scores'), buf('qkv', 2, ldb), none, buf('att'), none, int(m)], 'att', C.length);
    assertClose(values, gemmRef(s, m, A, 0, (kk, j) => B[(2 + kk) * ldb + j], null, null, 0, C, 0), TOL, kernelName(s));
  } finally {
    b.device.destroy();
  }
});

test('WGSL layernorm (width 10: a tail after the vec4 sums), attention (3 heads of width 5), token kernels', { timeout: GPU_TEST_TIMEOUT_MS }, async (t) => {
  const b = await bench(t);
  if (!b) return;
  try {
    // LayerNorm: 3 rows of 10, eps 1e-5, output from row 1 of another buffer... rows in place at offset 0.
    const W = 10, rows = 3;
    const X = random(31, rows * W).map((v, i) => v * 3 + (i % 7)), g = random(32, W), be = random(33, W);
    b.buffer('x', X); b.buffer('xln', new Float32Array(rows * W)); b.weight('g', g); b.weight('b', be);
    const ln = await b.run({ op: 'layernorm', width: W, eps: 1e-5 }, [buf('x'), w('g'), w('b'), buf('xln'), int(rows)], 'xln', rows * W);
    const lnRef = new Float32Array(rows * W);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(X.subarray(r * W, (r + 1) * W));
      const mean = row.reduce((s, v) => s + v, 0) / W;
      const vr = row.reduce((s, v) => s + (v - mean) ** 2, 0) / W;
      row.forEach((v, i) => { lnRef[r * W + i] = ((v - mean) / Math.sqrt(vr + 1e-5)) * g[i] + be[i]; });
    }
    assertClose(ln.values, lnRef, TOL, 'layernorm');

    // Attention: t 5, 3 heads of width 5, qkv [5, 45].
    const T = 5, H = 3, D = 5, Wd = H * D;
    const QKV = random(41, T * 3 * Wd);
    b.buffer('qkv', QKV); b.buffer('att', new Float32Array(T * Wd)); b.buffer('scores', new Float32Array(H * T * T)); b.buffer('kt', new Float32Array(4));
    const at = await b.run({ op: 'attention', t: T, heads: H, headDim: D }, [buf('qkv'), buf('att'), buf('scores'), buf('kt')], 'att', T * Wd);
    const atRef = new Float32Array(T * Wd);
    for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
      const s = Array.from({ length: T }, (_, j) => {
        let acc = 0;
        for (let c = 0; c < D; c++) acc += QKV[i * 3 * Wd + h * D + c] * QKV[j * 3 * Wd + Wd + h * D + c];
        return acc / Math.sqrt(D);
      });
      const mx = Math.max(...s);
      const e = s.map((v) => Math.exp(v - mx));
      const sum = e.reduce((x, y) => x + y, 0);
      for (let c = 0; c < D; c++) atRef[i * Wd + h * D + c] = e.reduce((acc, p, j) => acc + (p / sum) * QKV[j * 3 * Wd + 2 * Wd + h * D + c], 0);
    }
    assertClose(at.values, atRef, TOL, 'attention');

    // Patch gather: 2 channels, patch 3, grid 2 (6×6 image), patches 3, 0, 2 into rows from 1.
    const C = 2, p = 3, G = 2, side = p * G, dim = C * p * p;
    const PIX = random(51, C * side * side), ids = Int32Array.from([3, 0, 2]);
    b.buffer('pixels', PIX); b.buffer('ids', ids); b.buffer('patches', new Float32Array((1 + ids.length) * dim));
    const pg = await b.run({ op: 'patch_gather', channels: C, patch: p, grid: G }, [buf('pixels'), buf('ids'), int(ids.length), buf('patches', 1, dim)], 'patches', (1 + ids.length) * dim);
    const pgRef = new Float32Array((1 + ids.length) * dim);
    ids.forEach((l, r) => {
      const py = Math.floor(l / G), px = l % G;
      for (let c = 0; c < C; c++) for (let y = 0; y < p; y++) for (let x = 0; x < p; x++) pgRef[(1 + r) * dim + (c * p + y) * p + x] = PIX[(c * side + py * p + y) * side + px * p + x];
    });
    assertClose(pg.values, pgRef, 0, 'patch_gather');

    // Position rows: x[1 + r] += table[1 + ids[r]], width 6.
    const Wp = 6;
    const XP = random(61, 4 * Wp), table = random(62, 5 * Wp), pids = Int32Array.from([2, 0, 3]);
    b.buffer('emb', XP); b.buffer('latent', pids); b.weight('pos', table);
    const ap = await b.run({ op: 'add_rows_gathered', width: Wp }, [buf('emb', 1, Wp), w('pos'), buf('latent'), int(pids.length)], 'emb', XP.length);
    const apRef = Float32Array.from(XP);
    pids.forEach((l, r) => { for (let e = 0; e < Wp; e++) apRef[(1 + r) * Wp + e] += table[(1 + l) * Wp + e]; });
    assertClose(ap.values, apRef, 1e-7, 'add_rows_gathered');

    // Unshuffle: width 8, 4 patches, keep 2, ids_restore [1, 3, 0, 2].
    const Wu = 8, Lu = 4, keep = 2;
    const EMB = random(71, (1 + keep) * Wu), mask = random(72, Wu), dpos = random(73, (1 + Lu) * Wu), restore = Int32Array.from([1, 3, 0, 2]);
    b.buffer('pred', EMB); b.buffer('ids', restore); b.buffer('x', new Float32Array((1 + Lu) * Wu)); b.weight('mask', mask); b.weight('dpos', dpos);
    const un = await b.run({ op: 'unshuffle', width: Wu, numPatches: Lu }, [buf('pred'), w('mask'), w('dpos'), buf('ids'), int(keep), buf('x')], 'x', (1 + Lu) * Wu);
    const unRef = new Float32Array((1 + Lu) * Wu);
    for (let e = 0; e < Wu; e++) unRef[e] = EMB[e] + dpos[e];
    restore.forEach((j, l) => { for (let e = 0; e < Wu; e++) unRef[(1 + l) * Wu + e] = (j < keep ? EMB[(1 + j) * Wu + e] : mask[e]) + dpos[(1 + l) * Wu + e]; });
    assertClose(un.values, unRef, 1e-7, 'unshuffle');
  } finally {
    b.device.destroy();
  }
});

test('WGSL emitters are pure strings: shapes baked in, one u32 uniform struct, storage bindings from 1', () => {
  const s: GemmSpec = { op: 'gemm', m: null, k: 64, n: 192, lda: 64, ldb: 192, ldc: 192, ldr: 192, scale: 1, bias: true, gelu: false, residual: false, mr: 4, nr: 192, packed: true };
  const k = emitWgsl(s);
  assert.equal(k.name, kernelName(s));
  assert.match(k.code, /struct Params \{\n  m: u32,\n  a0: u32,\n  c0: u32,\n\}/);
  assert.match(k.code, /k < 64u/);
  assert.match(k.code, /@binding\(1\) var<storage, read> A: array<f32>/);
  assert.match(k.code, /@binding\(2\) var<storage, read> B: array<vec4<f32>>/);
  assert.doesNotMatch(k.code, /workgroupBarrier|var<workgroup>/);
  assert.deepEqual(k.workgroups({ m: 17 }), [Math.ceil(48 / 16), Math.ceil(5 / 4), 1]);
  assert.deepEqual(k.buffers, [{ arg: 0, write: false }, { arg: 1, write: false }, { arg: 2, write: false }, { arg: 3, write: true }]);
});
