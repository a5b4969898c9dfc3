/**
 * Linear backward GEMM throughput beside the forward, 1 thread, on vit-mae-base's weight shapes at
 * a training micro-batch's row count (M = images × tokens): forward y = x·Wᵀ + b (linearSpec),
 * dx = dy·W (linearDxSpec, W from its second packing) and dW += dyᵀ·x (linearDwSpec), each
 * 2·M·K·N flops, as GFLOP/s (median and best of interleaved samples). Checks a few dx and dW
 * values against float64 first (a wrong kernel is not timed).
 *
 * Run alone: `node dist/bench/backward-gemm.js [--quick]` (not yet a section of run.ts).
 */
import v8 from 'node:v8';
import { compileAssemblyScript } from '../codegen/compile.js';
import { emitModuleSource } from '../codegen/generate.js';
import { ARENA_BASE, type KernelSpec, dxPackedSize, kernelName, linearDwSpec, linearDxSpec, linearSpec, panelCount } from '../src/plan.js';
import type { SimdVariant } from '../src/simd-support.js';
import { packPanelsInto, packRowPanelsInto } from '../src/pack.js';
import { uniform } from './gemm.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

/** [M, K, N]: encoder Linears at 8 images × 50 tokens, decoder at 2 images × 197 tokens. */
const SHAPES: ReadonlyArray<readonly [number, number, number]> = [
  [400, 768, 2304], [400, 768, 3072], [400, 3072, 768], [394, 512, 2048], [394, 2048, 512],
];

type Fn = (...args: number[]) => void;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const samples = quick ? 5 : 15;
  const simds: SimdVariant[] = ['simd128', 'relaxed'];
  const specs: KernelSpec[] = SHAPES.flatMap(([, k, n]) => [linearSpec(k, n), linearDxSpec(k, n), linearDwSpec(k, n)]);
  let bytes = ARENA_BASE;
  for (const [m, k, n] of SHAPES) bytes += 4 * (m * k * 2 + m * n + 3 * n * k + 64 * k + n + 4096);
  const pages = Math.ceil(bytes / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const f32 = new Float32Array(memory.buffer);
  const mods: Record<string, Record<string, Fn>> = {};
  for (const simd of simds) {
    const { source } = emitModuleSource(specs, `backward GEMM bench (${simd})`, { simd });
    const { instance } = await WebAssembly.instantiate(await compileAssemblyScript(source, simd) as Uint8Array<ArrayBuffer>, { env: { memory } });
    mods[simd] = instance.exports as unknown as Record<string, Fn>;
  }
  process.stdout.write(`shape M×K×N | kernel | ${simds.map((s) => `${s} GFLOP/s median (best)`).join(' | ')}\n`);
  for (const [m, k, n] of SHAPES) {
    let at = ARENA_BASE;
    const put = (data: Float32Array | number): number => {
      const p = at;
      const len = typeof data === 'number' ? data : data.length;
      if (typeof data !== 'number') f32.set(data, p >> 2);
      at += Math.ceil((len * 4 + 64) / 64) * 64;
      return p;
    };
    const fwd = linearSpec(k, n), dxs = linearDxSpec(k, n), dws = linearDwSpec(k, n);
    const w = uniform(n * k, 3, 1 / Math.sqrt(k));
    const x = put(uniform(m * k, 1)), dy = put(uniform(m * n, 2));
    const wf = new Float32Array(panelCount(n, fwd.nr) * fwd.nr * k); packPanelsInto(wf, w, n, k, fwd.nr);
    const wd = new Float32Array(dxPackedSize(dxs)); packRowPanelsInto(wd, w, n, k, dxs.nr);
    const pf = put(wf), pd = put(wd), bias = put(n), y = put(m * n), dx = put(m * k), dw = put(n * k);
    const flop = 2 * m * k * n;
    const runs: Array<[string, (fns: Record<string, Fn>) => void]> = [
      [kernelName(fwd), (fns) => fns[kernelName(fwd)]!(x, pf, bias, y, 0, m, 0, panelCount(n, fwd.nr))],
      [kernelName(dxs), (fns) => fns[kernelName(dxs)]!(dy, pd, dx, m, 0, panelCount(k, dxs.nr))],
      [kernelName(dws), (fns) => fns[kernelName(dws)]!(dy, x, dw, m, 0, n)],
    ];
    // Correctness first: a few dx and dW values against float64.
    f32.fill(0, dw >> 2, (dw >> 2) + n * k);
    runs[1]![1](mods.simd128!); runs[2]![1](mods.simd128!);
    const X = f32.subarray(x >> 2, (x >> 2) + m * k), DY = f32.subarray(dy >> 2, (dy >> 2) + m * n);
    for (const [r, i] of [[0, 0], [m - 1, k - 1], [m >> 1, k >> 1]] as const) {
      let s = 0; for (let o = 0; o < n; o++) s += DY[r * n + o]! * w[o * k + i]!;
      if (Math.abs(f32[(dx >> 2) + r * k + i]! - s) > 1e-4 * (1 + Math.abs(s))) throw new Error(`dx wrong at ${r},${i}`);
    }
    for (const [o, i] of [[0, 0], [n - 1, k - 1], [n >> 1, k >> 1]] as const) {
      let s = 0; for (let t = 0; t < m; t++) s += DY[t * n + o]! * X[t * k + i]!;
      if (Math.abs(f32[(dw >> 2) + o * k + i]! - s) > 1e-4 * (1 + Math.abs(s))) throw new Error(`dW wrong at ${o},${i}`);
    }
    const times: Record<string, number[]> = {};
    for (let rep = 0; rep < samples + 2; rep++) {
      for (const simd of simds) for (const [name, run] of runs) {
        const t0 = performance.now();
        run(mods[simd]!);
        const ms = performance.now() - t0;
        if (rep >= 2) (times[`${simd} ${name}`] ??= []).push(ms);
      }
    }
    for (const [name] of runs) {
      const cells = simds.map((simd) => {
        const t = times[`${simd} ${name}`]!;
        return `${(flop / median(t) / 1e6).toFixed(1)} (${(flop / Math.min(...t) / 1e6).toFixed(1)})`;
      });
      process.stdout.write(`${m}×${k}×${n} | ${name} | ${cells.join(' | ')}\n`);
    }
  }
}

await main();
