/**
 * Thread scaling of edge-mae alone: vit-mae-base (random weights) at 1 and 2 kernel threads in a
 * process with no other engine (peer engines' thread pools keep spinning between their runs and
 * take cores from ours in the shared forward section). The 1- and 2-thread models' calls alternate
 * round by round; medians of repeated calls after warm-up. Then the machine's parallel capacity:
 * the 1-thread forward in one process alone and in two at once (parallel-child.ts).
 * Writes its JSON to --out.
 */
import v8 from 'node:v8';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MaeModel } from '../src/node/index.js';
import { ensureBaseAssets } from './assets.js';
import { log, parseArgs, sectionMain, stats } from './timing.js';

// Relaxed SIMD is behind a flag in Node 20; set before any module is compiled.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const args = parseArgs();
const dir = ensureBaseAssets().dir;
const pixels = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.01));
const repeats = args.quick ? 3 : 7;
const median = (xs: number[]): number => stats(xs).median;

type Row = { simd: string; threads: number; backend: string; forwardMs: number; encodeAllMs: number; forwardBestMs: number; encodeAllBestMs: number };
const rows: Row[] = [];
for (const simd of ['simd128', 'relaxed'] as const) {
  // Both models loaded at once and their calls alternated, 1 thread then 2, round by round: on a
  // shared machine a slow spell then lands on both sides of the ratio instead of one.
  const models = [await MaeModel.load({ model: dir, threads: 1, simd }), await MaeModel.load({ model: dir, threads: 2, simd })];
  try {
    /** Per model: [median, best] ms. */
    const time = async (run: (m: MaeModel) => Promise<unknown>): Promise<Array<[number, number]>> => {
      for (const m of models) await run(m);
      const ms: number[][] = models.map(() => []);
      for (let i = 0; i < repeats; i++) {
        for (const [j, m] of models.entries()) { const t0 = performance.now(); await run(m); ms[j].push(performance.now() - t0); }
      }
      return ms.map((x) => { const t = stats(x); return [+t.median.toFixed(1), +t.best.toFixed(1)]; });
    };
    const forward = await time((m) => m.forward(pixels, { batch: 1, seed: 1 }));
    const encode = await time((m) => m.encode(pixels, { batch: 1 }));
    for (const [j, m] of models.entries()) {
      rows.push({ simd, threads: j + 1, backend: m.backendDescription, forwardMs: forward[j][0], encodeAllMs: encode[j][0], forwardBestMs: forward[j][1], encodeAllBestMs: encode[j][1] });
      log(`threads: ${simd} ${j + 1}: forward ${forward[j][0]} (best ${forward[j][1]}) ms, encoder all patches ${encode[j][0]} (best ${encode[j][1]}) ms`);
    }
  } finally {
    for (const m of models) m.dispose();
  }
}
const speedups = (['simd128', 'relaxed'] as const).map((simd) => {
  const one = rows.find((r) => r.simd === simd && r.threads === 1)!;
  const two = rows.find((r) => r.simd === simd && r.threads === 2)!;
  const ratio = (a: number, b: number): number => +(a / b).toFixed(2);
  return {
    simd,
    forward: ratio(one.forwardMs, two.forwardMs), encodeAll: ratio(one.encodeAllMs, two.encodeAllMs),
    forwardBest: ratio(one.forwardBestMs, two.forwardBestMs), encodeAllBest: ratio(one.encodeAllBestMs, two.encodeAllBestMs),
  };
});
// The machine's own ceiling: the 1-thread forward in one process alone, and in two processes at
// once, rounds alternated. On a VM whose two vCPUs can share a physical core, or with neighbours busy, two copies of
// the work do not run at full speed, and no 2-thread split can beat what they get.
async function parallelCapacity(): Promise<{ aloneMs: number; concurrentMs: number[]; ceiling: number }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'parallel-child.js');
  const argv = [script, `--dir=${dir}`, '--seconds=3'];
  const child = (): Promise<number> => new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { timeout: 120_000 }, (e, stdout) => {
      if (e) reject(e);
      else resolve((JSON.parse(stdout.trim().split('\n').pop()!) as { medianMs: number }).medianMs);
    });
  });
  // Alone and in pairs, alternated over rounds: the machine's speed drifts over seconds.
  const alone: number[] = [], pairs: number[][] = [];
  for (let round = 0; round < (args.quick ? 1 : 3); round++) {
    alone.push(await child());
    pairs.push(await Promise.all([child(), child()]));
  }
  const aloneMs = median(alone);
  const concurrentMs = [0, 1].map((i) => median(pairs.map((p) => p[i])));
  // Two forwards' worth of work in the time the slower copy takes, against one alone.
  const ceiling = +((2 * aloneMs) / Math.max(...concurrentMs)).toFixed(2);
  log(`threads: parallel capacity: 1-thread forward ${aloneMs.toFixed(0)} ms alone, ${concurrentMs.map((x) => x.toFixed(0)).join(' and ')} ms as two processes at once → ceiling ×${ceiling}`);
  return { aloneMs: +aloneMs.toFixed(1), concurrentMs: concurrentMs.map((x) => +x.toFixed(1)), ceiling };
}
const capacity = await parallelCapacity();
const result = { rows, speedups, capacity };
await sectionMain('threads', async () => result);
