/**
 * GEMM throughput on every vit-mae-base weight GEMM shape (M×K×N = tokens × in × out), 1 thread:
 * - edge-mae: the generated kernel for linearSpec(k, n) (m passed at run time, bias epilogue),
 *   its weight packed into nr-column panels exactly as src/pack.ts does, in both SIMD variants;
 * - tfjs-wasm: tf.matMul(a, w) with w a [K, N] tensor made once (XNNPACK packs it once and caches
 *   the operator); the wasm backend runs synchronously, so a call's time is its compute;
 * - onnxruntime-web: a one-MatMul + Add model with the weight and bias as initializers (its run
 *   also copies x in and y out: 0.1–1 MB, small against the compute).
 * Engines are interleaved per shape (round-robin samples), after warm-up; medians and bests are
 * reported as GFLOP/s (2·M·K·N per call) and as a fraction of the measured SIMD peak (peak.ts).
 * Every engine's output is first checked against a float64 product on a few rows.
 * Also: proof that tfjs runs its SIMD build (a child process forced onto the scalar build).
 *
 * Run alone: `node dist/bench/gemm.js [--quick]`.
 */
import v8 from 'node:v8';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compileAssemblyScript } from '../codegen/compile.js';
import { emitModuleSource } from '../codegen/generate.js';
import { ARENA_BASE, type GemmSpec, kernelName, linearSpec, panelCount } from '../src/plan.js';
import type { SimdVariant } from '../src/simd-support.js';
import { ORT_SESSION_OPTIONS, type OrtInfo, type TfjsInfo, initOrt, initTfjs } from './engines.js';
import { type PeakResult, measurePeaks } from './peak.js';
import { matmulModel } from './onnx-graph.js';
import { type Contender, type Stats, interleave, log, parseArgs, sectionMain } from './timing.js';
import { packPanelsInto } from '../src/pack.js';
import { transposeLinear } from './shared.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

/** [M, K, N]: every GEMM shape of vit-mae-base (encoder at 50 tokens, decoder at 197) and a square one. */
export const GEMM_SHAPES: ReadonlyArray<readonly [number, number, number]> = [
  [50, 768, 2304], [50, 768, 768], [50, 768, 3072], [50, 3072, 768],
  [197, 512, 1536], [197, 512, 2048], [197, 2048, 512], [512, 512, 512],
];

export const GEMM_ENGINES = ['edge-simd128', 'edge-relaxed', 'tfjs-wasm', 'ort-web'] as const;
type EngineName = (typeof GEMM_ENGINES)[number];

/** Deterministic uniform values in [-1, 1) (xorshift), so every engine sees the same inputs. */
export function uniform(n: number, seed: number, scale = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

interface Problem {
  m: number; k: number; n: number;
  a: Float32Array; // [m, k]
  w: Float32Array; // [n, k] (a Linear's weight)
  wT: Float32Array; // [k, n]
  bias: Float32Array; // [n]
}

function problem(m: number, k: number, n: number, seed: number): Problem {
  const a = uniform(m * k, seed);
  const w = uniform(n * k, seed + 1, 1 / Math.sqrt(k));
  return { m, k, n, a, w, wT: transposeLinear(w, n, k), bias: uniform(n, seed + 2, 0.1) };
}

/** Largest |y − ref| / (1 + |ref|) over a few rows, ref in float64. */
function checkRows(p: Problem, y: Float32Array): number {
  const rows = [...new Set([0, 1, Math.floor(p.m / 2), p.m - 1])];
  let worst = 0;
  for (const r of rows) {
    for (let j = 0; j < p.n; j++) {
      let s = p.bias[j];
      for (let i = 0; i < p.k; i++) s += p.a[r * p.k + i] * p.w[j * p.k + i];
      worst = Math.max(worst, Math.abs(y[r * p.n + j] - s) / (1 + Math.abs(s)));
    }
  }
  return worst;
}

// ─── edge-mae ────────────────────────────────────────────────────────────────────────────────

/**
 * A packed GEMM kernel: (a, b, bias, c, res, m) — and, since threaded mode, a panel range
 * [p0, p1) after m (one thread: all panels). The export's arity tells which.
 */
type GemmFn = (a: number, b: number, bias: number, c: number, res: number, m: number, p0?: number, p1?: number) => void;

interface EdgeGemm {
  memory: WebAssembly.Memory;
  f32: Float32Array;
  kernels: Record<SimdVariant, Record<string, GemmFn>>;
  /** Byte addresses of each problem's A, packed B, bias, C. */
  place: (p: Problem, spec: GemmSpec) => { a: number; b: number; bias: number; c: number };
  compileMs: Record<SimdVariant, number>;
}

async function edgeGemm(problems: readonly Problem[]): Promise<EdgeGemm> {
  const specs = [...new Map(problems.map((p) => { const s = linearSpec(p.k, p.n); return [kernelName(s), s]; })).values()];
  // One memory for all problems, shared by both variants' instances; regions 64-byte aligned with
  // 64 bytes of slack after each (the kernels' partial-vector tails), as src/plan.ts lays them out.
  const align = (bytes: number): number => Math.ceil(bytes / 64) * 64 + 64;
  let total = ARENA_BASE;
  for (const p of problems) {
    const s = linearSpec(p.k, p.n);
    total += align(p.m * p.k * 4) + align(panelCount(p.n, s.nr) * s.nr * p.k * 4) + align(p.n * 4) + align(p.m * p.n * 4);
  }
  const pages = Math.ceil(total / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const f32 = new Float32Array(memory.buffer);
  const kernels = {} as EdgeGemm['kernels'];
  const compileMs = {} as Record<SimdVariant, number>;
  for (const simd of ['simd128', 'relaxed'] as const) {
    const t0 = performance.now();
    const { source } = emitModuleSource(specs, `bench GEMMs (${simd})`, { exportAll: true, simd });
    const wasm = await compileAssemblyScript(source, simd);
    compileMs[simd] = performance.now() - t0;
    const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>, { env: { memory, abort: () => { throw new Error('kernel abort'); } } });
    const ex = instance.exports as unknown as Record<string, GemmFn> & { heap_base(): number };
    if (ex.heap_base() > ARENA_BASE) throw new Error('GEMM module static data overlaps the arena');
    kernels[simd] = ex;
  }
  let at = ARENA_BASE;
  const placed = new Map<Problem, { a: number; b: number; bias: number; c: number }>();
  const put = (data: Float32Array | null, floats: number): number => {
    const addr = at;
    if (data) f32.set(data, addr >> 2);
    at += align(floats * 4);
    return addr;
  };
  return {
    memory, f32, kernels, compileMs,
    place: (p, spec) => {
      let r = placed.get(p);
      if (!r) {
        const packed = new Float32Array(panelCount(p.n, spec.nr) * spec.nr * p.k);
        packPanelsInto(packed, p.w, p.n, p.k, spec.nr);
        r = { a: put(p.a, p.a.length), b: put(packed, packed.length), bias: put(p.bias, p.n), c: put(null, p.m * p.n) };
        placed.set(p, r);
      }
      return r;
    },
  };
}

// ─── the section ─────────────────────────────────────────────────────────────────────────────

export interface EngineGemm {
  stats: Stats;
  gflopsMedian: number;
  gflopsBest: number;
  /** Against the peak probe of the engine's variant measured in the same rounds: median/median, best/best. */
  peakRatioMedian: number;
  peakRatioBest: number;
  /** Against the session's overall peak (best of all peak measurements). */
  peakRatioOverall: number;
  maxError: number;
}

export interface GemmShapeResult {
  m: number; k: number; n: number;
  gflop: number;
  /** The edge-mae kernel (both variants have the same name). */
  kernel: string;
  engines: Record<EngineName, EngineGemm>;
  /** The peak probes interleaved with this shape's samples (GFLOP/s, median and best). */
  peak: Record<SimdVariant, { gflopsMedian: number; gflopsBest: number }>;
}

export interface GemmResult {
  threads: 1;
  peakStart: Record<SimdVariant, PeakResult>;
  peakEnd: Record<SimdVariant, PeakResult>;
  /** Best GFLOP/s seen for each variant's probe over the whole section. */
  peakOverall: Record<SimdVariant, number>;
  /** Which peak each engine is compared with. */
  peakVariant: Record<EngineName, SimdVariant>;
  shapes: GemmShapeResult[];
  edgeCompileMs: Record<SimdVariant, number>;
  tfjs: TfjsInfo;
  ort: OrtInfo;
  tfjsSimdCheck: unknown;
  settings: { warmup: number; samples: number; targetMsPerSample: number };
}

// tfjs 4.22's and ORT 1.30's binaries have no relaxed-SIMD instructions (they validate on engines
// without it, see run.ts): their bound is the SIMD128 peak.
const PEAK_VARIANT: Record<EngineName, SimdVariant> = { 'edge-simd128': 'simd128', 'edge-relaxed': 'relaxed', 'tfjs-wasm': 'simd128', 'ort-web': 'simd128' };

export async function runGemm(quick: boolean): Promise<GemmResult> {
  const settings = { warmup: quick ? 1 : 3, samples: quick ? 5 : 15, targetMsPerSample: 30 };
  const start = await measurePeaks(quick);
  const problems = GEMM_SHAPES.map(([m, k, n], i) => problem(m, k, n, 17 + 5 * i));

  const edge = await edgeGemm(problems);
  log(`edge-mae GEMM modules compiled (simd128 ${edge.compileMs.simd128.toFixed(0)} ms, relaxed ${edge.compileMs.relaxed.toFixed(0)} ms)`);
  const { tf, info: tfjs } = await initTfjs(1);
  const { ort, info: ortInfo } = await initOrt(1);
  log(`tfjs ${tfjs.version} backend=${tfjs.backend} simd=${tfjs.simdFlag} threads=${tfjs.threads}; ort-web threads=1`);

  const shapes: GemmShapeResult[] = [];
  for (const p of problems) {
    const spec = linearSpec(p.k, p.n);
    const name = kernelName(spec);
    const addr = edge.place(p, spec);
    const edgeRun = (simd: SimdVariant) => {
      const fn = edge.kernels[simd][name];
      if (fn.length >= 8) {
        const panels = panelCount(p.n, spec.nr);
        return () => fn(addr.a, addr.b, addr.bias, addr.c, 0, p.m, 0, panels);
      }
      return () => fn(addr.a, addr.b, addr.bias, addr.c, 0, p.m);
    };
    const readEdge = (): Float32Array => edge.f32.slice(addr.c >> 2, (addr.c >> 2) + p.m * p.n);

    const aT = tf.tensor2d(p.a, [p.m, p.k]);
    const wT = tf.tensor2d(p.wT, [p.k, p.n]);
    const tfRun = () => { tf.matMul(aT, wT).dispose(); };

    const session = await ort.InferenceSession.create(matmulModel(p.m, p.k, p.n, p.wT, p.bias), ORT_SESSION_OPTIONS);
    const x = new ort.Tensor('float32', p.a, [p.m, p.k]);
    const ortRun = async () => { const r = await session.run({ x }); (r.y as { dispose?: () => void }).dispose?.(); };

    // Correctness first: every engine against float64 on a few rows (tfjs: bias added after).
    const errors = {} as Record<EngineName, number>;
    edgeRun('simd128')(); errors['edge-simd128'] = checkRows(p, readEdge());
    edgeRun('relaxed')(); errors['edge-relaxed'] = checkRows(p, readEdge());
    {
      const y = tf.tidy(() => tf.add(tf.matMul(aT, wT), tf.tensor1d(p.bias)));
      errors['tfjs-wasm'] = checkRows(p, y.dataSync() as Float32Array);
      y.dispose();
    }
    errors['ort-web'] = checkRows(p, (await session.run({ x })).y.data as Float32Array);
    for (const [e, err] of Object.entries(errors)) if (!(err < 1e-3)) throw new Error(`GEMM ${p.m}x${p.k}x${p.n}: ${e} differs from the float64 product by ${err}`);

    const peakRun = (simd: SimdVariant) => start.runners[simd].run;
    const contenders: Contender[] = [
      { name: 'edge-simd128', run: edgeRun('simd128') },
      { name: 'edge-relaxed', run: edgeRun('relaxed') },
      { name: 'tfjs-wasm', run: tfRun },
      { name: 'ort-web', run: ortRun },
      { name: 'peak-simd128', run: peakRun('simd128') },
      { name: 'peak-relaxed', run: peakRun('relaxed') },
    ];
    const st = await interleave(contenders, { warmup: settings.warmup, samples: settings.samples, targetMs: settings.targetMsPerSample });
    const gflop = (2 * p.m * p.k * p.n) / 1e9;
    const peak = {} as GemmShapeResult['peak'];
    for (const simd of ['simd128', 'relaxed'] as const) {
      const flop = start.runners[simd].flop / 1e9;
      const s2 = st[`peak-${simd}`];
      peak[simd] = { gflopsMedian: flop / (s2.median / 1e3), gflopsBest: flop / (s2.best / 1e3) };
    }
    const engines = {} as GemmShapeResult['engines'];
    for (const e of GEMM_ENGINES) {
      const gm = gflop / (st[e].median / 1e3), gb = gflop / (st[e].best / 1e3);
      const pk = peak[PEAK_VARIANT[e]];
      engines[e] = { stats: st[e], gflopsMedian: gm, gflopsBest: gb, peakRatioMedian: gm / pk.gflopsMedian, peakRatioBest: gb / pk.gflopsBest, peakRatioOverall: 0, maxError: errors[e] };
    }
    shapes.push({ m: p.m, k: p.k, n: p.n, gflop, kernel: name, engines, peak });
    log(`GEMM ${p.m}x${p.k}x${p.n}: ${GEMM_ENGINES.map((e) => `${e} ${engines[e].gflopsMedian.toFixed(1)}`).join(', ')} GFLOP/s (peak ${peak.simd128.gflopsMedian.toFixed(1)} / relaxed ${peak.relaxed.gflopsMedian.toFixed(1)})`);
    aT.dispose(); wT.dispose();
    await session.release();
  }
  const end = await measurePeaks(quick);
  const peakOverall = {} as Record<SimdVariant, number>;
  for (const simd of ['simd128', 'relaxed'] as const) {
    peakOverall[simd] = Math.max(start.results[simd].gflops, end.results[simd].gflops, ...shapes.map((s) => s.peak[simd].gflopsBest));
  }
  for (const s of shapes) for (const e of GEMM_ENGINES) s.engines[e].peakRatioOverall = s.engines[e].gflopsBest / peakOverall[PEAK_VARIANT[e]];
  return {
    threads: 1, peakStart: start.results, peakEnd: end.results, peakOverall, peakVariant: PEAK_VARIANT, shapes,
    edgeCompileMs: edge.compileMs, tfjs, ort: ortInfo(), tfjsSimdCheck: tfjsSimdCheck(quick), settings,
  };
}

/**
 * Is SIMD really what makes tfjs fast here? One shape in child processes: the default build (SIMD)
 * and one forced onto the scalar build, alternated twice (a shared machine's load comes and goes);
 * reports the binaries loaded, each build's best median, and the speed-up.
 */
function tfjsSimdCheck(quick: boolean): unknown {
  const self = fileURLToPath(import.meta.url);
  type Probe = { gflops: number; gflopsBest: number; info: TfjsInfo };
  const one = (simd: boolean): Probe | { error: string } => {
    const r = spawnSync(process.execPath, [self, '--tfjs-probe', `--simd=${simd}`, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) return { error: (r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' ') };
    return JSON.parse(r.stdout) as Probe;
  };
  const runs = { simd: [] as Array<Probe | { error: string }>, scalar: [] as Array<Probe | { error: string }> };
  for (let i = 0; i < 2; i++) { runs.simd.push(one(true)); runs.scalar.push(one(false)); }
  const best = (xs: Array<Probe | { error: string }>): Probe | { error: string } => {
    const ok = xs.filter((x): x is Probe => 'gflops' in x);
    return ok.length ? ok.reduce((a, b) => (b.gflops > a.gflops ? b : a)) : xs[0];
  };
  const simd = best(runs.simd), scalar = best(runs.scalar);
  const speedup = 'gflops' in simd && 'gflops' in scalar ? simd.gflops / scalar.gflops : null;
  return { shape: [197, 512, 2048], simd, scalar, speedup, allRuns: { simd: runs.simd.map((x) => ('gflops' in x ? x.gflops : x.error)), scalar: runs.scalar.map((x) => ('gflops' in x ? x.gflops : x.error)) } };
}

async function tfjsProbe(simd: boolean, quick: boolean): Promise<unknown> {
  const { tf, info } = await initTfjs(1, { forceSimd: simd ? undefined : false });
  const [m, k, n] = [197, 512, 2048];
  const p = problem(m, k, n, 99);
  const a = tf.tensor2d(p.a, [m, k]), w = tf.tensor2d(p.wT, [k, n]);
  const st = await interleave([{ name: 'mm', run: () => { tf.matMul(a, w).dispose(); } }], { warmup: 2, samples: quick ? 3 : 7, targetMs: 30 });
  const gflop = (2 * m * k * n) / 1e9;
  return { gflops: gflop / (st.mm.median / 1e3), gflopsBest: gflop / (st.mm.best / 1e3), info };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseArgs();
  if (args.flags['tfjs-probe']) {
    const r = await tfjsProbe(args.flags.simd !== 'false', args.quick);
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  }
  await sectionMain('gemm', (a) => runGemm(a.quick));
}

