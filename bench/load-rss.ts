/**
 * Load time (process start → first forward result in JS) and memory for vit-mae-base, each engine
 * in a fresh child process so nothing is shared (`node --expose-gc dist/bench/<engine>-load.js`):
 * - edge-mae (simd128, relaxed): MaeModel.load of the model folder, kernels from the cache (made
 *   beforehand here), and once more with an empty kernel cache (generation + compilation counted);
 * - tfjs-wasm: backend start, model.safetensors read, weight tensors, first forward (XNNPACK packs
 *   the weights during it);
 * - onnxruntime-web: the forward .onnx read, session creation (graph optimisation, weight
 *   prepacking), first run.
 * Every engine reads its model files from the same cache folder, after one untimed read here so
 * all start from a warm page cache. Peak RSS is resourceUsage().maxRSS of the child.
 *
 * Run alone: `node dist/bench/load-rss.js [--quick]`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildKernels } from '../codegen/compile.js';
import { preset } from '../src/config.js';
import { layoutOf, memoryPages } from '../src/plan.js';
import { ensureBaseAssets } from './assets.js';
import type { LoadReport } from './load-child.js';
import { log, sectionMain, stats } from './timing.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface LoadEngineResult {
  engine: string;
  /** What this row measures. */
  what: string;
  runs: LoadReport[];
  /** Process start → the last step before the first forward (model loaded / session created / tensors made). */
  readyMsMedian: number;
  firstResultMsMedian: number;
  firstResultMsBest: number;
  peakRssMiB: number;
  steadyRssMiB: number;
  error?: string;
}

/** Making a memory of vit-mae-base's size resident in a fresh process, medians of `runs`. */
export interface FaultFloor {
  bytes: number;
  runs: number;
  /** One thread writing every byte. */
  fillMs: number;
  /** src/node/prefault.ts: /dev/zero reads from libuv's threads. */
  prefaultMs: number;
}

export interface LoadRssResult {
  engines: LoadEngineResult[];
  faultFloor?: FaultFloor;
  runsPerEngine: number;
  modelFiles: Record<string, number>;
}

interface ChildSpec { engine: string; what: string; script: string; args: string[]; env?: Record<string, string> }

function runChild(c: ChildSpec): LoadReport | string {
  const r = spawnSync(process.execPath, ['--expose-gc', join(HERE, c.script), ...c.args], {
    encoding: 'utf8', timeout: 300_000, maxBuffer: 16 << 20, env: { ...process.env, ...c.env },
  });
  if (r.status !== 0) return `exit ${r.status ?? r.signal}: ${(r.stderr || String(r.error ?? '')).trim().split('\n').slice(-3).join(' | ')}`;
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LoadReport;
  } catch {
    return `unreadable report: ${line.slice(0, 200)}`;
  }
}

export async function runLoadRss(quick: boolean): Promise<LoadRssResult> {
  const a = ensureBaseAssets();
  const cfg = preset('vit-mae-base');
  // The kernel modules the children load, in the default cache (what a second run of an app sees).
  for (const simd of ['simd128', 'relaxed'] as const) {
    const b = await buildKernels(cfg, { simd });
    log(`edge-mae kernels (${simd}): ${b.compiled ? 'compiled' : 'cached'} in ${b.dir}`);
  }
  // Warm page cache for every model file (and their sizes for the report).
  const modelFiles: Record<string, number> = {};
  for (const f of [a.weightsPath, a.onnxForward]) modelFiles[f] = readFileSync(f).byteLength;

  const coldCache = mkdtempSync(join(tmpdir(), 'edge-mae-bench-cold-'));
  const specs: ChildSpec[] = [
    { engine: 'edge-mae-simd128', what: 'model folder, kernels cached', script: 'edge-mae-load.js', args: [`--dir=${a.dir}`, '--simd=simd128'] },
    { engine: 'edge-mae-relaxed', what: 'model folder, kernels cached', script: 'edge-mae-load.js', args: [`--dir=${a.dir}`, '--simd=relaxed'] },
    { engine: 'tfjs-wasm', what: 'model.safetensors → tensors', script: 'tfjs-load.js', args: [`--dir=${a.dir}`] },
    { engine: 'ort-web', what: 'forward .onnx → session', script: 'ort-load.js', args: [`--onnx=${a.onnxForward}`] },
  ];
  const runs = quick ? 1 : 2;
  const reports = new Map<string, LoadReport[]>(specs.map((s) => [s.engine, []]));
  const errors = new Map<string, string>();
  for (let i = 0; i < runs; i++) {
    for (const s of specs) {
      const r = runChild(s);
      if (typeof r === 'string') { errors.set(s.engine, r); log(`load ${s.engine}: ${r}`); continue; }
      reports.get(s.engine)!.push(r);
      log(`load ${s.engine}: first result at ${r.firstResultMs.toFixed(0)} ms, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
    }
  }
  // Cold: nothing cached, kernels generated (ts-morph) and compiled (asc) in the child.
  const cold: ChildSpec = { engine: 'edge-mae-simd128-cold', what: 'model folder, empty kernel cache (generate + compile)', script: 'edge-mae-load.js', args: [`--dir=${a.dir}`, '--simd=simd128'], env: { EDGE_MAE_CACHE: coldCache } };
  specs.push(cold);
  reports.set(cold.engine, []);
  const r = runChild(cold);
  if (typeof r === 'string') errors.set(cold.engine, r);
  else { reports.get(cold.engine)!.push(r); log(`load ${cold.engine}: first result at ${r.firstResultMs.toFixed(0)} ms`); }
  rmSync(coldCache, { recursive: true, force: true });

  const engines = specs.map((s): LoadEngineResult => {
    const rs = reports.get(s.engine)!;
    if (rs.length === 0) return { engine: s.engine, what: s.what, runs: [], readyMsMedian: NaN, firstResultMsMedian: NaN, firstResultMsBest: NaN, peakRssMiB: NaN, steadyRssMiB: NaN, error: errors.get(s.engine) };
    const t = stats(rs.map((x) => x.firstResultMs));
    return {
      engine: s.engine, what: s.what, runs: rs,
      readyMsMedian: stats(rs.map((x) => x.timeline[x.timeline.length - 2][1])).median,
      firstResultMsMedian: t.median, firstResultMsBest: t.best,
      peakRssMiB: Math.max(...rs.map((x) => x.peakRssBytes)) / 2 ** 20,
      steadyRssMiB: stats(rs.map((x) => x.steadyRssBytes)).median / 2 ** 20,
      error: errors.get(s.engine),
    };
  });
  return { engines, runsPerEngine: runs, modelFiles, faultFloor: measureFaultFloor(memoryPages(layoutOf(cfg)), quick ? 1 : 3) };
}

function measureFaultFloor(pages: number, runs: number): FaultFloor | undefined {
  const ms = { fill: [] as number[], prefault: [] as number[] };
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    for (const how of ['fill', 'prefault'] as const) {
      const r = spawnSync(process.execPath, [join(HERE, 'fault-floor.js'), `--pages=${pages}`, `--how=${how}`], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) { log(`fault floor (${how}): exit ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').pop()}`); return undefined; }
      const x = JSON.parse(r.stdout.trim()) as { bytes: number; ms: number };
      bytes = x.bytes;
      ms[how].push(x.ms);
    }
  }
  const floor = { bytes, runs, fillMs: stats(ms.fill).median, prefaultMs: stats(ms.prefault).median };
  log(`fault floor: ${(bytes / 2 ** 20).toFixed(0)} MiB of fresh memory resident in ${floor.fillMs.toFixed(0)} ms (one thread writing), ${floor.prefaultMs.toFixed(0)} ms (prefault)`);
  return floor;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await sectionMain('load-rss', (args) => runLoadRss(args.quick));
}
