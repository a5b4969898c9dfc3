/**
 * The WebAssembly SIMD peak of this machine, measured, not assumed: tiny AssemblyScript kernels
 * (compiled with edge-mae's own compileAssemblyScript) made of independent f32x4 chains, each
 * step one multiply and one add per lane (8 FLOP per f32x4 step), as f32x4.mul + f32x4.add
 * (SIMD128) or as one f32x4.relaxed_madd (relaxed SIMD; FMA where the CPU has it). Two forms:
 * - `recurrence`: N chains a = a·m + c (the multiply is on the chain: latency mul + add);
 *   c = 1 − m makes 1 the fixed point, so values stay normal forever;
 * - `accumulate`: R×V chains acc[r][v] += x[r]·b[v], x broadcast-loaded from a small L1-resident
 *   buffer each step, b in registers (only the add, or the FMA, is on the chain);
 * - `l1`: the GEMM microkernel itself on L1-resident data: R×V chains acc[r][v] += splat(A[k][r])·
 *   B[k][v], with V vector loads of B and R broadcasts of A per step, k cycling over 64 steps of a
 *   4 KiB buffer (the best any register-tiled GEMM can do with this instruction mix).
 * Each form is swept over chain counts (too few are latency-bound, too many spill registers); the
 * peak is the best. gemm.ts also runs the best kernel of each variant interleaved with the GEMMs,
 * so every ratio compares numbers taken under the same machine load.
 *
 * Run alone: `node dist/bench/peak.js [--quick]`.
 */
import v8 from 'node:v8';
import { compileAssemblyScript } from '../codegen/compile.js';
import type { SimdVariant } from '../src/simd-support.js';
import { log, sectionMain, stats } from './timing.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

/** Steps per chain per loop iteration (amortises the loop counter). */
const UNROLL = 4;
const RECURRENCE_CHAINS = [6, 8, 10, 12, 14] as const;
const ACCUMULATE_TILES: ReadonlyArray<readonly [number, number]> = [[2, 4], [2, 5], [3, 4], [4, 3]];
const L1_TILES: ReadonlyArray<readonly [number, number]> = [[2, 4], [4, 2], [3, 3], [3, 4], [4, 3]];
/** k steps of the l1 form per loop iteration (then the pointers wrap). */
const L1_STEPS = 64;

interface PeakKernel { name: string; form: 'recurrence' | 'accumulate' | 'l1'; chains: number; flopPerIter: number }

function kernels(): PeakKernel[] {
  return [
    ...RECURRENCE_CHAINS.map((n) => ({ name: `rec_c${n}`, form: 'recurrence' as const, chains: n, flopPerIter: n * UNROLL * 8 })),
    ...ACCUMULATE_TILES.map(([r, v]) => ({ name: `acc_${r}x${v}`, form: 'accumulate' as const, chains: r * v, flopPerIter: r * v * UNROLL * 8 })),
    ...L1_TILES.map(([r, v]) => ({ name: `l1_${r}x${v}`, form: 'l1' as const, chains: r * v, flopPerIter: r * v * L1_STEPS * 8 })),
  ];
}

const madd = (simd: SimdVariant, a: string, b: string, c: string): string =>
  simd === 'relaxed' ? `f32x4.relaxed_madd(${a}, ${b}, ${c})` : `f32x4.add(f32x4.mul(${a}, ${b}), ${c})`;

export function peakSource(simd: SimdVariant): string {
  const fns: string[] = [];
  for (const n of RECURRENCE_CHAINS) {
    const L: string[] = [`export function rec_c${n}(iters: i32, m: f32, buf: usize): f32 {`];
    L.push(`  const vm = f32x4.splat(m);`, `  const vc = f32x4.splat(<f32>1.0 - m);`);
    // Distinct starting values: no two chains compute the same thing (nothing to fold or share).
    for (let i = 0; i < n; i++) L.push(`  let a${i} = f32x4.splat(<f32>${(0.5 + i / 64).toFixed(6)});`);
    L.push(`  for (let it = 0; it < iters; it++) {`);
    for (let u = 0; u < UNROLL; u++) for (let i = 0; i < n; i++) L.push(`    a${i} = ${madd(simd, `a${i}`, 'vm', 'vc')};`);
    L.push(`  }`, `  let s = a0;`);
    for (let i = 1; i < n; i++) L.push(`  s = f32x4.add(s, a${i});`);
    L.push(`  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3) + <f32>buf;`, `}`);
    fns.push(L.join('\n'));
  }
  for (const [R, V] of ACCUMULATE_TILES) {
    const L: string[] = [`export function acc_${R}x${V}(iters: i32, m: f32, buf: usize): f32 {`];
    for (let v = 0; v < V; v++) L.push(`  const b${v} = f32x4.splat(m * <f32>${(0.001 * (v + 1)).toFixed(4)});`);
    for (let r = 0; r < R; r++) for (let v = 0; v < V; v++) L.push(`  let c${r}_${v} = f32x4.splat(<f32>${(0.01 * (r * V + v)).toFixed(3)});`);
    L.push(`  for (let it = 0; it < iters; it++) {`);
    for (let u = 0; u < UNROLL; u++) {
      for (let r = 0; r < R; r++) {
        L.push(`    const x${r}_${u} = v128.load32_splat(buf, ${4 * (u * R + r)});`);
        for (let v = 0; v < V; v++) L.push(`    c${r}_${v} = ${madd(simd, `x${r}_${u}`, `b${v}`, `c${r}_${v}`)};`);
      }
    }
    L.push(`  }`, `  let s = c0_0;`);
    for (let r = 0; r < R; r++) for (let v = 0; v < V; v++) if (r || v) L.push(`  s = f32x4.add(s, c${r}_${v});`);
    L.push(`  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);`, `}`);
    fns.push(L.join('\n'));
  }
  for (const [R, V] of L1_TILES) {
    const L: string[] = [`export function l1_${R}x${V}(iters: i32, m: f32, buf: usize): f32 {`];
    for (let r = 0; r < R; r++) for (let v = 0; v < V; v++) L.push(`  let c${r}_${v} = f32x4.splat(m * <f32>${(0.01 * (r * V + v)).toFixed(3)});`);
    L.push(`  for (let it = 0; it < iters; it++) {`, `    let pa = buf;`, `    let pb = buf + ${L1_B_OFFSET};`, `    for (let k = 0; k < ${L1_STEPS}; k++) {`);
    for (let v = 0; v < V; v++) L.push(`      const b${v} = v128.load(pb, ${16 * v});`);
    for (let r = 0; r < R; r++) {
      L.push(`      const a${r} = v128.load32_splat(pa, ${4 * r});`);
      for (let v = 0; v < V; v++) L.push(`      c${r}_${v} = ${madd(simd, `a${r}`, `b${v}`, `c${r}_${v}`)};`);
    }
    L.push(`      pa += ${4 * R};`, `      pb += ${16 * V};`, `    }`, `  }`, `  let s = c0_0;`);
    for (let r = 0; r < R; r++) for (let v = 0; v < V; v++) if (r || v) L.push(`  s = f32x4.add(s, c${r}_${v});`);
    L.push(`  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);`, `}`);
    fns.push(L.join('\n'));
  }
  return `// edge-mae bench: SIMD peak probes (${simd}).\n${fns.join('\n\n')}\n`;
}

type PeakFn = (iters: number, m: number, buf: number) => number;

/** Where the probes' inputs live (inside the module's one page, past its static data): x / A values, then B. */
const BUF = 32768;
const L1_B_OFFSET = 4096;

export async function instantiatePeak(simd: SimdVariant): Promise<Record<string, PeakFn>> {
  const wasm = await compileAssemblyScript(peakSource(simd), simd);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  // Small values: 64-step sums stay far from overflow for as long as the probes run.
  new Float32Array(memory.buffer, BUF, 4096).fill(0.001);
  const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>, { env: { memory, abort: () => { throw new Error('abort'); } } });
  return instance.exports as unknown as Record<string, PeakFn>;
}

export interface PeakResult {
  simd: SimdVariant;
  /** Best GFLOP/s over kernels and samples (the peak). */
  gflops: number;
  /** Best over kernels of the median sample. */
  gflopsMedian: number;
  best: string;
  /** Median GFLOP/s per probe kernel. */
  byKernel: Record<string, number>;
  step: string;
}

/** A probe kernel ready to run: one call does `flop` floating-point operations. */
export interface PeakRunner { name: string; flop: number; run: () => number }

function runner(fns: Record<string, PeakFn>, k: PeakKernel, iters: number): PeakRunner {
  const f = fns[k.name];
  return { name: k.name, flop: iters * k.flopPerIter, run: () => f(iters, 0.999, BUF) };
}

/** Sizes a probe call to about `targetMs`, after warm-up (tier-up happens between calls). */
function sized(fns: Record<string, PeakFn>, k: PeakKernel, targetMs: number): PeakRunner {
  const f = fns[k.name];
  for (let i = 0; i < 3; i++) f(20_000, 0.999, BUF);
  const t0 = performance.now();
  f(200_000, 0.999, BUF);
  const iters = Math.max(1000, Math.round((200_000 * targetMs) / Math.max(performance.now() - t0, 0.01)));
  return runner(fns, k, iters);
}

/** Sweeps every probe of one variant; returns the result and the best probe, ready to rerun. */
export async function measurePeak(simd: SimdVariant, opts: { samples: number; targetMs: number }): Promise<{ result: PeakResult; best: PeakRunner }> {
  const fns = await instantiatePeak(simd);
  const byKernel: Record<string, number> = {};
  let best = 0, bestMedian = 0, bestRunner: PeakRunner | undefined;
  for (const k of kernels()) {
    const r = sized(fns, k, opts.targetMs);
    const times: number[] = [];
    let sink = 0;
    for (let s = 0; s < opts.samples; s++) {
      const t = performance.now();
      sink += r.run();
      times.push(performance.now() - t);
    }
    if (!Number.isFinite(sink)) throw new Error('peak kernel produced a non-finite value');
    const st = stats(times);
    byKernel[k.name] = r.flop / (st.median * 1e6);
    bestMedian = Math.max(bestMedian, byKernel[k.name]);
    const b = r.flop / (st.best * 1e6);
    if (b > best) { best = b; bestRunner = r; }
  }
  return {
    result: {
      simd, gflops: best, gflopsMedian: bestMedian, best: bestRunner!.name, byKernel,
      step: simd === 'relaxed' ? 'f32x4.relaxed_madd = 8 FLOP' : 'f32x4.mul + f32x4.add = 8 FLOP',
    },
    best: bestRunner!,
  };
}

export async function measurePeaks(quick: boolean): Promise<{ results: Record<SimdVariant, PeakResult>; runners: Record<SimdVariant, PeakRunner> }> {
  const opts = { samples: quick ? 3 : 5, targetMs: 20 };
  const results = {} as Record<SimdVariant, PeakResult>;
  const runners = {} as Record<SimdVariant, PeakRunner>;
  for (const simd of ['simd128', 'relaxed'] as const) {
    const { result, best } = await measurePeak(simd, opts);
    results[simd] = result;
    runners[simd] = best;
    log(`peak ${simd}: ${result.gflops.toFixed(1)} GFLOP/s (best probe ${result.best}; median-based ${result.gflopsMedian.toFixed(1)})`);
  }
  return { results, runners };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await sectionMain('peak', async (args) => (await measurePeaks(args.quick)).results);
}
