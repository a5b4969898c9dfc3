/**
 * One training step's gradients on the bundled model (models/mae-fashion-mnist), 1 thread:
 * model.gradients at batch 256 (forward with tape + backward, the WASM training module), median
 * and best ms over several runs after a warm-up, and images/s at the median. Pixels are seeded
 * uniform values in the preprocessor's range; the mask from a seed per run.
 *
 *   node dist/bench/train-step.js [--runs=9] [--batch=256] [--profile] [--relaxed]
 *
 * --profile also times every program step alone (each kernel's calls summed over the step's
 * program, on the trainer's memory after a real step), grouped by kernel family, medians of runs:
 * where the step's time goes.
 */
import { loadavg } from 'node:os';
import v8 from 'node:v8';
import { join } from 'node:path';
import { MaeModel, DEFAULT_MODEL_DIR } from '../src/node/index.js';
import { mulberry32 } from '../src/random.js';
import { relaxedSimdSupported } from '../src/simd-support.js';
import { compileProgram, type KernelExports } from '../src/backend/program-runner.js';
import { trainingBackwardProgram, trainingForwardProgram } from '../src/training/program.js';
import type { MemoryLayout } from '../src/plan.js';
import { parseArgs, stats } from './timing.js';

const args = parseArgs();
// --relaxed: let this engine validate relaxed SIMD (Node 20 keeps it behind a flag; newer engines
// ship it), so the model loads its relaxed kernels (FMA: f32x4.relaxed_madd) as it does there.
if (args.flags.relaxed === 'true') v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const runs = Number(args.flags.runs ?? 9);
const batch = Number(args.flags.batch ?? 256);
const model = await MaeModel.load({ model: DEFAULT_MODEL_DIR ?? join('models', 'mae-fashion-mnist'), threads: 1 });
const cfg = model.config;
const per = cfg.numChannels * cfg.imageSize * cfg.imageSize;
const rand = mulberry32(1);
const pixels = Float32Array.from({ length: batch * per }, () => rand() * 4 - 2);

process.stdout.write(`train-step: ${cfg.imageSize}x${cfg.imageSize}, batch ${batch}, 1 thread, ${relaxedSimdSupported() ? 'relaxed SIMD' : 'SIMD128'}, ${runs} runs; loadavg before ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
const t0 = performance.now();
await model.gradients(pixels, { batch, seed: 0 });
process.stdout.write(`first call (builds the trainer and its programs): ${(performance.now() - t0).toFixed(0)} ms\n`);
const ms: number[] = [];
const cpu: number[] = [];
/** This process's CPU time (user + system), ms: on a shared machine, less of the others' load than wall time. */
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
for (let r = 0; r < runs; r++) {
  const t = performance.now(), c = cpuMs();
  await model.gradients(pixels, { batch, seed: r + 1 });
  ms.push(performance.now() - t);
  cpu.push(cpuMs() - c);
}
const s = stats(ms), sc = stats(cpu);
process.stdout.write(`model.gradients batch ${batch}: median ${s.median.toFixed(1)} ms, best ${s.best.toFixed(1)} ms (MAD ${(100 * s.madRel).toFixed(1)}%), ${(batch / (s.median / 1000)).toFixed(0)} images/s at the median; CPU time median ${sc.median.toFixed(1)} ms, best ${sc.best.toFixed(1)} ms\n`);
process.stdout.write(`samples (wall ms): ${ms.map((x) => x.toFixed(0)).join(' ')}\n`);

if (args.flags.profile === 'true') {
  // The trainer's internals, reachable at run time: one program step at a time on its memory.
  const tr = (model as unknown as { trainer: { exports: KernelExports; f32: Float32Array; layout: MemoryLayout; tiling: Record<string, never>; config: typeof cfg } }).trainer;
  const keep = tr.layout && (tr as unknown as { layout: { keep: number } }).layout.keep;
  // A kernel's family: its name without the shape parts (f32_gemm_dw_2x16_in128_out512 → f32_gemm_dw).
  const family = (k: string): string => k.split('_').filter((t) => !/\d/.test(t) && !['acc', 'saveprobs', 'normpix', 'all', 'bias', 'residual', 'scale'].includes(t)).join('_');
  const perKernel = new Map<string, number[]>();
  const reps = Number(args.flags.reps ?? 5);
  for (const w of [trainingForwardProgram(cfg, keep, batch, tr.tiling), trainingBackwardProgram(cfg, keep, batch, cfg.normPixLoss, tr.tiling)]) {
    const totals = new Map<string, number[]>();
    w.steps.forEach((step) => {
      const name = 'kernel' in step ? step.kernel : 'copy';
      const run = compileProgram([step], tr.exports, tr.layout, cfg, tr.f32, { index: 0, count: 1 }, w.specs);
      run();
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t = cpuMs();
        run();
        times.push(cpuMs() - t);
      }
      const list = totals.get(name) ?? Array.from({ length: reps }, () => 0);
      times.forEach((x, i) => { list[i]! += x; });
      totals.set(name, list);
    });
    for (const [k, v] of totals) perKernel.set(k, v);
  }
  const byFamily = new Map<string, number>();
  const rows = [...perKernel].map(([k, v]) => [k, stats(v).median] as const).sort((a, b) => b[1] - a[1]);
  for (const [k, v] of rows) byFamily.set(family(k), (byFamily.get(family(k)) ?? 0) + v);
  process.stdout.write(`\nper kernel (CPU ms per step, median of ${reps}; the step's sum over its calls):\n`);
  for (const [k, v] of rows) if (v >= 0.5) process.stdout.write(`  ${v.toFixed(1).padStart(7)}  ${k}\n`);
  process.stdout.write(`by family:\n`);
  for (const [k, v] of [...byFamily].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${v.toFixed(1).padStart(7)}  ${k}\n`);
  process.stdout.write(`  ${rows.reduce((a, [, v]) => a + v, 0).toFixed(1).padStart(7)}  total\n`);
}
process.stdout.write(`loadavg after ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
