/**
 * The handler per runtime, for the edge section: the bundled model (SIMD128 kernels from
 * `edge-mae build`, bytes in) served by Node, Deno, Bun, Vercel's edge-runtime VM and workerd (the
 * Cloudflare example under its wrangler), each in a process of its own on loopback
 * (test/support/runtimes.ts, test/support/wrangler.ts), one after another. One client here
 * sends sequential requests: GET /healthz (the runtime's HTTP path alone) and POST /reconstruct
 * (decode, model, figure, PNG), after a warm-up; p50/p99 of the round trips, one run.
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { DEFAULT_SAMPLES_DIR } from '../src/node/paths.js';
import { ROOT } from '../test/helpers.js';
import { EXAMPLE, startWrangler } from '../test/support/wrangler.js';
import { type RuntimeServer, buildAssets, installPackedPackage, runtimeBinary, startChildRuntime, startProcessRuntime } from '../test/support/runtimes.js';

export interface RuntimeLatency {
  runtime: string;
  version?: string;
  backend?: string;
  requests?: number;
  healthzP50ms?: number;
  reconstructP50ms?: number;
  reconstructP99ms?: number;
  /** The loss of the sample, as this runtime computed it (the same everywhere). */
  loss?: number;
  skipped?: string;
}

const quantile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
};

async function time(url: string, init: RequestInit | undefined, n: number): Promise<{ ms: number[]; last: Response }> {
  const ms: number[] = [];
  let last!: Response;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    last = await fetch(url, init);
    await last.clone().arrayBuffer();
    ms.push(performance.now() - t0);
    if (last.status !== 200) throw new Error(`${url}: ${last.status} ${await last.text()}`);
  }
  return { ms, last };
}

export async function runtimeLatency(quick: boolean): Promise<RuntimeLatency[]> {
  const assets = buildAssets();
  const project = installPackedPackage();
  const sample = new Uint8Array(readFileSync(join(DEFAULT_SAMPLES_DIR, readdirSync(DEFAULT_SAMPLES_DIR).filter((f) => f.endsWith('.png')).sort()[0])));
  const n = quick ? 50 : 200;
  const rows: RuntimeLatency[] = [];
  for (const runtime of ['node', 'deno', 'bun', 'edge-runtime', 'workerd'] as const) {
    let server: Pick<RuntimeServer, 'url' | 'backend' | 'stop'>;
    let version: string | undefined;
    try {
      if (runtime === 'workerd') {
        // The Cloudflare example as a user runs it (its wrangler's workerd; module built with 0.5/0.75/0.9).
        const w = await startWrangler();
        const health = await (await fetch(`${w.url}/healthz`)).json() as { backend: string };
        version = `wrangler ${(JSON.parse(readFileSync(join(EXAMPLE, 'node_modules', 'wrangler', 'package.json'), 'utf8')) as { version: string }).version}`;
        server = { url: w.url, backend: health.backend, stop: w.stop };
      } else if (runtime === 'deno' || runtime === 'bun') {
        const bin = runtimeBinary(runtime);
        if ('missing' in bin) { rows.push({ runtime, skipped: bin.missing }); continue; }
        version = runtime === 'bun' ? `bun ${bin.version}` : bin.version.replace(/ \(.*/, '');
        server = await startProcessRuntime(runtime, bin.path, project, assets);
      } else {
        version = runtime === 'node' ? `node ${process.version}` : `edge-runtime ${(JSON.parse(readFileSync(join(ROOT, 'node_modules', 'edge-runtime', 'package.json'), 'utf8')) as { version: string }).version}`;
        server = await startChildRuntime(runtime, project, assets);
      }
    } catch (e) {
      rows.push({ runtime, skipped: (e as Error).message.split('\n')[0] });
      continue;
    }
    try {
      const rec = { method: 'POST', body: sample as Uint8Array<ArrayBuffer> };
      await time(`${server.url}/reconstruct?seed=3`, rec, 20);
      const health = await time(`${server.url}/healthz`, undefined, n);
      const r = await time(`${server.url}/reconstruct?seed=3`, rec, n);
      rows.push({
        runtime,
        version,
        backend: server.backend,
        requests: n,
        healthzP50ms: quantile(health.ms, 0.5),
        reconstructP50ms: quantile(r.ms, 0.5),
        reconstructP99ms: quantile(r.ms, 0.99),
        loss: Number(r.last.headers.get('x-loss')),
      });
    } finally {
      await server.stop();
    }
  }
  for (const dir of [project, assets.dir]) rmSync(dir, { recursive: true, force: true });
  return rows;
}

// Alone: `node dist/bench/edge-runtimes.js [--quick] [--out FILE]` (the edge section runs it too).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runtimeLatency(process.argv.includes('--quick'));
  const out = process.argv.indexOf('--out');
  const json = JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, loadavg1m: loadavg()[0], runtimes: rows }, null, 2) + '\n';
  if (out > 0) writeFileSync(process.argv[out + 1], json); else process.stdout.write(json);
}
