/**
 * `npm run bench`: edge-mae against tfjs-wasm (XNNPACK) and onnxruntime-web (wasm EP) on this
 * machine, each section in its own child process (engines keep global state: tfjs's backend,
 * ORT's thread count, wasm heaps):
 *   1. verify    — the tfjs and ONNX models reproduce the golden `pred` within 1e-4 (else they
 *                  are not timed: a comparison of different functions means nothing);
 *   2. gemm      — GFLOP/s on every vit-mae-base GEMM shape vs the measured SIMD peak, 1 thread;
 *   3. forward   — whole vit-mae-base forward and encoder-on-all-patches: all engines interleaved
 *                  in one process at 1 thread, then in another at 2 threads;
 *   4. load/RSS  — a fresh process per engine: start → first result, peak RSS;
 *   5. threads   — edge-mae alone at 1 and 2 threads (no peer thread pools competing for cores);
 *   6. edge      — kernel module sizes per config, cold start, the serverless handler under load;
 *   7. batch     — the bundled model's forward over the 10,000 Fashion-MNIST test images at batch
 *                  500, images/s at 1 and 2 threads beside PyTorch (bench/torch_mae.py), after a
 *                  golden-loss gate (PyTorch not run when Debian's python3-torch is absent);
 *   8. train     — one pretraining step (forward, loss, backward, AdamW) of the bundled
 *                  architecture at batch 256, edge-mae's trainer beside PyTorch at 1 and 2 threads.
 * Writes bench/results/<date>-<machine>[-quick].json and prints the summary (report.ts).
 *
 * Flags: --quick (fewer repeats), --only=verify,gemm,forward,load,threads,edge,batch,train (a subset).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBaseAssets } from './assets.js';
import type { ForwardResult } from './forward.js';
import type { GemmResult } from './gemm.js';
import { runLoadRss } from './load-rss.js';
import { describeMachine, engineBinaries, packageVersions } from './machine.js';
import { type BenchResults, renderReport } from './report.js';
import { log, parseArgs } from './timing.js';
import type { VerifyResult } from './verify.js';
import type { EdgeResult, ThreadsResult } from './report.js';
import type { BatchResult } from './batch-forward.js';
import type { TrainResult } from './train-peer.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const SECTIONS = ['verify', 'gemm', 'forward', 'threads', 'load', 'edge', 'batch', 'train'] as const;

const args = parseArgs();
const quick = args.quick;
const only = new Set((args.flags.only ?? SECTIONS.join(',')).split(','));
const started = Date.now();
const machine = describeMachine();
const tmp = mkdtempSync(join(os.tmpdir(), 'edge-mae-bench-run-'));

/** Runs dist/bench/<script> with --out; its progress goes to our stderr. */
function section<T>(name: string, script: string, extra: string[] = [], timeoutMs = 600_000): T | string {
  const out = join(tmp, `${name}.json`);
  log(`── ${name} ──`);
  const t0 = Date.now();
  const before = os.loadavg()[0];
  const r = spawnSync(process.execPath, [join(HERE, script), `--out=${out}`, ...(quick ? ['--quick'] : []), ...extra], { stdio: ['ignore', 'ignore', 'inherit'], timeout: timeoutMs });
  results.sections[name] = { seconds: (Date.now() - t0) / 1000, loadavg1mBefore: before, loadavg1mAfter: os.loadavg()[0] };
  log(`   ${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s (1-min load average ${before.toFixed(1)} → ${os.loadavg()[0].toFixed(1)})`);
  if (r.status !== 0) return `exit ${r.status ?? r.signal ?? r.error}`;
  return JSON.parse(readFileSync(out, 'utf8')) as T;
}

const results: BenchResults = {
  schema: 'edge-mae-bench/1',
  date: new Date().toISOString(),
  quick,
  durationS: 0,
  machine,
  versions: packageVersions(ROOT),
  engineBinaries: engineBinaries(),
  forward: [],
  sections: {},
  errors: {},
};
log(`${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; load average ${machine.loadavgStart.map((x) => x.toFixed(2)).join(' ')}`);

try {
  if (only.has('forward') || only.has('load') || only.has('threads')) ensureBaseAssets();
  let othersVerified = true;
  if (only.has('verify')) {
    const v = section<VerifyResult>('verify', 'verify.js');
    if (typeof v === 'string') { results.errors.verify = v; othersVerified = false; } else { results.verify = v; othersVerified = v.pass; }
    if (!othersVerified) log('verify FAILED: tfjs / ONNX models are not timed in the forward section');
  }
  if (only.has('gemm')) {
    const g = section<GemmResult>('gemm', 'gemm.js');
    if (typeof g === 'string') results.errors.gemm = g; else results.gemm = g;
  }
  if (only.has('forward')) {
    const others = othersVerified ? ['tfjs', 'ort'] : [];
    // One process per thread count, engines interleaved in it: on a shared machine, only numbers
    // taken in the same rounds compare fairly (an idle engine's threads park between its calls).
    const runs: Array<[string, string[], number]> = [
      ['forward-1t', ['edge-simd128', 'edge-relaxed', ...others], 1],
      ['forward-2t', ['edge-simd128', 'edge-relaxed', ...others], 2],
    ];
    for (const [name, engines, threads] of runs) {
      const f = section<ForwardResult>(name, 'forward.js', [`--engines=${engines.join(',')}`, `--threads=${threads}`]);
      if (typeof f === 'string') results.errors[name] = f; else results.forward.push(f);
    }
  }
  if (only.has('load')) {
    log('── load/RSS ──');
    const t0 = Date.now(), before = os.loadavg()[0];
    try {
      results.load = await runLoadRss(quick);
    } catch (e) {
      results.errors.load = (e as Error).message;
    }
    results.sections.load = { seconds: (Date.now() - t0) / 1000, loadavg1mBefore: before, loadavg1mAfter: os.loadavg()[0] };
  }
  if (only.has('threads')) {
    const t = section<ThreadsResult>('threads', 'threads.js');
    if (typeof t === 'string') results.errors.threads = t; else results.threads = t;
  }
  if (only.has('edge')) {
    const e = section<EdgeResult>('edge', 'edge.js');
    if (typeof e === 'string') results.errors.edge = e; else results.edge = e;
  }
  if (only.has('batch')) {
    // Whole passes over 10,000 images: ~3 min idle, far more when another process takes a core
    // (the 2-thread pass then waits at barriers), hence the longer limit.
    const b = section<BatchResult>('batch', 'batch-forward.js', [], 1_800_000);
    if (typeof b === 'string') results.errors.batch = b; else results.batch = b;
  }
  if (only.has('train')) {
    const t = section<TrainResult>('train', 'train-peer.js', [], 1_800_000);
    if (typeof t === 'string') results.errors.train = t; else results.train = t;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

results.machine.loadavgEnd = os.loadavg();
results.durationS = (Date.now() - started) / 1000;
const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${results.date.slice(0, 10)}-${machine.slug}${quick ? '-quick' : ''}${only.size < SECTIONS.length ? `-${[...only].join('+')}` : ''}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
process.stdout.write(renderReport(results) + '\n');
process.stdout.write(`\nresults: ${file}\n`);
process.exit(Object.keys(results.errors).length > 0 ? 1 : 0);
