/**
 * The training step's GEMMs on the bundled model's shapes, 1 thread: every Linear's forward
 * (run as the program runner runs it, 64-row blocks), dx = dy·W and dW += dyᵀ·x, at the batch's
 * row count (256 images × 13 encoder / 50 decoder tokens), for candidate register tiles (and dW
 * token chunks), samples interleaved round-robin so a shared machine's load hits every candidate
 * alike; timed by the process's CPU time (descheduled time left out). GFLOP/s, median (best).
 *
 *   node dist/bench/train-gemm.js [--images=256] [--samples=7] [--only=fwd,dx,dw] [--tiles=2x16,4x8] [--chunks=default,32] [--simd=relaxed]
 */
import v8 from 'node:v8';
import type { SimdVariant } from '../src/simd-support.js';
import { compileAssemblyScript } from '../codegen/compile.js';
import { emitModuleSource } from '../codegen/generate.js';
import { ARENA_BASE, type KernelSpec, kernelName, linearDwSpec, linearDxSpec, linearSpec, panelCount } from '../src/plan.js';
import { uniform } from './gemm.js';
import { parseArgs } from './timing.js';

type Fn = (...args: number[]) => void;
const args = parseArgs();
const images = Number(args.flags.images ?? 256);
const rowBlocks = (args.flags.rowblocks ?? '64').split(',').map(Number);
const samples = Number(args.flags.samples ?? 7);
/** --simd=relaxed: FMA (Node 20 needs --experimental-wasm-relaxed-simd, set here). */
const simd: SimdVariant = args.flags.simd === 'relaxed' ? 'relaxed' : 'simd128';
if (simd === 'relaxed') v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const only = new Set((args.flags.only ?? 'fwd,dx,dw').split(','));
const tiles = (args.flags.tiles ?? '2x16,4x8,3x16,1x16,4x16,6x8').split(',').map((t) => t.split('x').map(Number) as [number, number]);
const chunks = (args.flags.chunks ?? 'default').split(',').map((c) => (c === 'default' ? undefined : Number(c)));
const me = images * 13, md = images * 50;
/** [m, in K, out N] of the bundled model's Linears (encoder qkv, proj, fc1, fc2; decoder the same). */
const SHAPE_LIST: Array<[string, number, number]> = args.flags.shapes ? JSON.parse(args.flags.shapes) as Array<[string, number, number]> : [
  ['e', 128, 384], ['e', 128, 128], ['e', 128, 512], ['e', 512, 128], ['d', 64, 192], ['d', 64, 64], ['d', 64, 256], ['d', 256, 64],
];
const SHAPES: Array<[number, number, number]> = SHAPE_LIST.map(([w, k, n]) => [w === 'e' ? me : md, k, n]);

interface Candidate { label: string; spec: KernelSpec; flop: number; run: (fns: Record<string, Fn>) => void }
const cands: Array<{ shape: string; list: Candidate[] }> = [];
const specs: KernelSpec[] = [];
let bytes = ARENA_BASE;
for (const [m, k, n] of SHAPES) bytes += 4 * (m * k * 2 + m * n * 2 + 2 * 16 * Math.max(k, n) * Math.max(k, n) + n + 4096);
const pages = Math.ceil(bytes / 65536);
const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
const f32 = new Float32Array(memory.buffer);
let at = ARENA_BASE;
const put = (data: Float32Array | number): number => {
  const p = at;
  const len = typeof data === 'number' ? data : data.length;
  if (typeof data !== 'number') f32.set(data, p >> 2);
  at += Math.ceil((len * 4 + 64) / 64) * 64;
  return p;
};
for (const [m, k, n] of SHAPES) {
  const x = put(uniform(m * k, 1)), dy = put(uniform(m * n, 2)), y = put(m * n), dx = put(m * Math.max(k, n)), dw = put(n * k), bias = put(n);
  const wp = put(16 * Math.ceil(Math.max(k, n) / 4) * Math.max(k, n)); // room for any packing
  const flop = 2 * m * k * n;
  const list: Candidate[] = [];
  for (const [mr, nr] of tiles) {
    if (only.has('fwd')) for (const rb of rowBlocks) {
      const s = { ...linearSpec(k, n), mr, nr };
      const panels = panelCount(n, nr);
      list.push({ label: `fwd ${mr}x${nr}${rb !== 64 ? ` rb${rb}` : ''}`, spec: s, flop, run: (fns) => { const f = fns[kernelName(s)]!; for (let r = 0; r < m; r += rb) f(x + r * k * 4, wp, bias, y + r * n * 4, 0, Math.min(rb, m - r), 0, panels); } });
    }
    if (only.has('gelu')) for (const variant of ['plain', 'gelu', 'save'] as const) {
      const s = { ...linearSpec(k, n, { gelu: variant !== 'plain' }), mr, nr, ...(variant === 'save' ? { geluGrad: 'save' as const } : {}) };
      const panels = panelCount(n, nr);
      list.push({ label: `fwd ${variant} ${mr}x${nr}`, spec: s, flop, run: (fns) => { const f = fns[kernelName(s)]!; for (let r = 0; r < m; r += 64) f(x + r * k * 4, wp, bias, y + r * n * 4, variant === 'save' ? dx : 0, Math.min(64, m - r), 0, panels); } });
    }
    if (only.has('dx')) for (const rb of [0, ...rowBlocks.filter((b) => b !== 64)]) {
      const s = { ...linearDxSpec(k, n), mr, nr };
      const panels = panelCount(k, nr);
      // rb 0: one call over all rows (the runner's 'range' split); else calls of rb rows.
      list.push({ label: `dx ${mr}x${nr}${rb ? ` rb${rb}` : ''}`, spec: s, flop, run: rb ? (fns) => { const f = fns[kernelName(s)]!; for (let r = 0; r < m; r += rb) f(dy + r * n * 4, wp, dx + r * k * 4, Math.min(rb, m - r), 0, panels); } : (fns) => fns[kernelName(s)]!(dy, wp, dx, m, 0, panels) });
    }
    if (only.has('dwdb')) {
      // dW then the bias gradient's column sums apart, against dW with db summed on the way.
      const s = { ...linearDwSpec(k, n), mr, nr }, cs = { op: 'column_sum' as const, width: n }, sb = { ...s, bias: true };
      list.push({ label: `dw+colsum ${mr}x${nr}`, spec: s, flop, run: (fns) => { fns[kernelName(s)]!(dy, x, dw, m, 0, n); fns[kernelName(cs)]!(dy, bias, m, 0, m); } });
      list.push({ label: `dw_db ${mr}x${nr}`, spec: sb, flop, run: (fns) => fns[kernelName(sb)]!(dy, x, dw, bias, m, 0, n) });
      specs.push(cs);
    }
    if (only.has('dw')) for (const chunk of chunks) {
      const s = { ...linearDwSpec(k, n), mr, nr, ...(chunk !== undefined ? { chunk } : {}) };
      list.push({ label: `dw ${mr}x${nr}${chunk !== undefined ? ` c${chunk}` : ''}`, spec: s, flop, run: (fns) => fns[kernelName(s)]!(dy, x, dw, m, 0, n) });
    }
  }
  list.forEach((c) => specs.push(c.spec));
  cands.push({ shape: `${m}×${k}×${n}`, list });
}
const unique = [...new Map(specs.map((s) => [kernelName(s), s])).values()];
const { source } = emitModuleSource(unique, `training GEMM bench (${simd})`, { simd });
const { instance } = await WebAssembly.instantiate(await compileAssemblyScript(source, simd) as Uint8Array<ArrayBuffer>, { env: { memory } });
const fns = instance.exports as unknown as Record<string, Fn>;
/** This process's CPU time, ms: on a shared machine, time descheduled does not count. */
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
for (const { shape, list } of cands) {
  const times = list.map(() => [] as number[]);
  for (let rep = 0; rep < samples + 1; rep++) {
    list.forEach((c, i) => {
      const t0 = cpuMs();
      c.run(fns);
      if (rep > 0) times[i]!.push(cpuMs() - t0);
    });
  }
  process.stdout.write(`${shape}: ${list.map((c, i) => `${c.label} ${(c.flop / med(times[i]!) / 1e6).toFixed(1)} (${(c.flop / Math.min(...times[i]!) / 1e6).toFixed(1)})`).join(' | ')}\n`);
}
