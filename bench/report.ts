/**
 * The readable summary of a bench results file: tables for the machine, the golden checks, GEMM
 * GFLOP/s with peak ratios, whole-forward times and load/RSS.
 * Run alone on a saved file: `node dist/bench/report.js bench/results/FILE.json`.
 */
import { readFileSync } from 'node:fs';
import type { ForwardResult } from './forward.js';
import type { GemmResult } from './gemm.js';
import type { LoadRssResult } from './load-rss.js';
import type { MachineInfo } from './machine.js';
import type { PngRow } from './png.js';
import type { VerifyResult } from './verify.js';
import type { RuntimeLatency } from './edge-runtimes.js';
import type { BatchResult, BatchRow } from './batch-forward.js';
import type { TrainResult } from './train-peer.js';

/** bench/threads.ts: edge-mae alone at 1 and 2 threads. */
export interface ThreadsResult {
  rows: Array<{ simd: string; threads: number; backend: string; forwardMs: number; encodeAllMs: number; forwardBestMs?: number; encodeAllBestMs?: number }>;
  speedups: Array<{ simd: string; forward: number; encodeAll: number; forwardBest?: number; encodeAllBest?: number }>;
  /** The 1-thread forward alone vs in two processes at once: the most two cores gave two copies of the work. */
  capacity?: { aloneMs: number; concurrentMs: number[]; ceiling: number };
}

/** bench/edge.ts: module sizes, cold starts, the handler under load, PNG encoding. */
export interface EdgeResult {
  sizes: Array<{ config: string; variant: string; raw: number; gzip: number; kernels: number }>;
  coldStartMs: Record<string, { ms: number[] }>;
  handler: { requests: number; concurrency: number; seconds: number; requestsPerSecond: number; validP50ms: number; validP99ms: number; statuses: Record<string, number>; rssStartMiB: number; rssAfter100MiB: number; rssAfter1000MiB: number };
  webgpu?: Array<{ device: string; backend?: string; images?: number; ms?: number[]; note?: string; skipped?: string }>;
  png?: PngRow[];
  runtimes?: RuntimeLatency[];
}

/** The batch section as text: the golden gate, then images/s per engine and thread count. */
export function renderBatch(b: BatchResult): string {
  const lines = [`Golden gate (authors' loss / loss_norm_pix; edge-mae and PyTorch within ${b.gate.tolerance}): ${b.gate.pass ? 'PASS' : 'FAIL'}`];
  const d = (x: number | undefined, ref: number): string => (x === undefined ? '—' : sci(Math.abs(x - ref)));
  const relaxed = b.gate.cases.some((c) => c.edgeRelaxed);
  // edge-mae's worst over its kernel variants.
  const worst = (c: BatchResult['gate']['cases'][number], key: 'loss' | 'lossNormPix'): string =>
    sci(Math.max(...[c.edge, c.edgeRelaxed].flatMap((e) => (e ? [Math.abs(e[key] - c.golden[key])] : []))));
  const edgeHead = relaxed ? '|edge − ref| (both)' : '|edge − ref|';
  lines.push(table(['case', 'loss', edgeHead, '|torch − ref|', 'loss_norm_pix', edgeHead, '|torch − ref|', ''], b.gate.cases.map((c) => [
    c.case, c.golden.loss.toFixed(6), worst(c, 'loss'), d(c.torch?.loss, c.golden.loss),
    c.golden.lossNormPix.toFixed(6), worst(c, 'lossNormPix'), d(c.torch?.lossNormPix, c.golden.lossNormPix), c.pass ? 'ok' : 'FAIL',
  ])));
  lines.push('', `Bundled model, model.forward over ${b.images} Fashion-MNIST test images at batch ${b.batch} (seeded masks), ${b.rounds} rounds of one pass each, order rotated; images/s median (best); images per CPU-second of the engine's process (median; at 2 threads it includes waiting):`);
  const name = (r: BatchRow): string => (r.simd ? `${r.engine} ${r.simd}` : r.engine);
  const row = (engine: string, threads: number, simd?: string) => b.rows.find((r) => r.engine === engine && r.threads === threads && r.simd === simd);
  lines.push(table(['engine', 'threads', 'images/s', '× PyTorch', '2t / 1t', 'per CPU-s', '× PyTorch', 'mean loss', 'runs'], b.rows.map((r) => {
    const peer = row('pytorch', r.threads), one = row(r.engine, 1, r.simd);
    const cpu = r.imagesPerCpuSecondMedian;
    return [
      name(r), r.threads, `${f0(r.imagesPerSecMedian)} (${f0(r.imagesPerSecBest)})`,
      r.engine === 'edge-mae' && peer ? `×${(r.imagesPerSecMedian / peer.imagesPerSecMedian).toFixed(2)}` : '',
      r.threads === 2 && one ? `×${(r.imagesPerSecMedian / one.imagesPerSecMedian).toFixed(2)}` : '',
      cpu === undefined ? '' : f0(cpu),
      cpu !== undefined && r.threads === 1 && r.engine === 'edge-mae' && peer?.imagesPerCpuSecondMedian ? `×${(cpu / peer.imagesPerCpuSecondMedian).toFixed(2)}` : '',
      r.loss.toFixed(8), r.description,
    ];
  })));
  if (b.torchSkipped) lines.push(`PyTorch: ${b.torchSkipped}`);
  const la = (x: number[]): string => x.map((v) => v.toFixed(2)).join(' ');
  lines.push(`load average (1/5/15 min): ${la(b.loadavg.before)} before, ${la(b.loadavg.after)} after; 1-min after each round: ${la(b.loadavg.rounds)}`);
  return lines.join('\n');
}

/** The edge section as text. */
export function renderEdge(e: EdgeResult): string {
  const kb = (b: number): string => (b / 1024).toFixed(1);
  const lines = ['Kernel module per config (KiB):', table(['config', 'variant', 'raw', 'gzip', 'kernels'], e.sizes.map((r) => [r.config, r.variant, kb(r.raw), kb(r.gzip), r.kernels]))];
  lines.push('', 'Cold start, fresh process to first forward result (kernels cached), ms:', table(['model', 'runs'], Object.entries(e.coldStartMs).map(([m, r]) => [m, r.ms.join(', ')])));
  const h = e.handler;
  lines.push('', `Handler on loopback: ${h.requests} requests, ${h.concurrency} concurrent, mixed valid/invalid: ${h.requestsPerSecond} req/s; valid p50 ${h.validP50ms} ms, p99 ${h.validP99ms} ms; statuses ${JSON.stringify(h.statuses)}; server RSS ${h.rssStartMiB} → ${h.rssAfter100MiB} (after 100) → ${h.rssAfter1000MiB} MiB (after 1000)`);
  if (e.webgpu) {
    lines.push('', 'Bundled model, 16 images, forward ms (WebGPU when an adapter is present):');
    for (const r of e.webgpu) lines.push(`  ${r.device}: ${r.skipped ? `not run (${r.skipped})` : `${r.ms!.join(', ')} — ${r.backend}${r.note ? ` [${r.note}]` : ''}`}`);
  }
  if (e.png) {
    lines.push('', 'PNG encoding of the reconstruction figure, ms best / median (node:vm: as in Vercel\'s edge runtime):');
    lines.push(table(['figure', 'size', 'PNG KiB', 'Node', 'node:vm'], e.png.map((r) => [r.figure, `${r.width}×${r.height}`, kb(r.bytes), `${r.node.bestMs} / ${r.node.medianMs}`, `${r.vm.bestMs} / ${r.vm.medianMs}`])));
  }
  if (e.runtimes) {
    lines.push('', 'The handler per runtime (bundled model, SIMD128 kernels from bytes; each server its own process, sequential requests on loopback), ms:');
    lines.push(table(['runtime', 'version', 'healthz p50', 'reconstruct p50', 'reconstruct p99', 'loss'], e.runtimes.map((r) => r.skipped
      ? [r.runtime, '', 'not run', r.skipped.slice(0, 80), '', '']
      : [r.runtime, r.version ?? '', r.healthzP50ms!, r.reconstructP50ms!, r.reconstructP99ms!, String(r.loss)])));
  }
  return lines.join('\n');
}

export interface BenchResults {
  schema: 'edge-mae-bench/1';
  date: string;
  quick: boolean;
  durationS: number;
  machine: MachineInfo;
  versions: Record<string, string>;
  engineBinaries?: unknown;
  verify?: VerifyResult;
  gemm?: GemmResult;
  forward: ForwardResult[];
  load?: LoadRssResult;
  edge?: EdgeResult;
  threads?: ThreadsResult;
  batch?: BatchResult;
  train?: TrainResult;
  /** Per section: wall time and the machine's 1-minute load average before and after (a shared machine's load moves the numbers). */
  sections: Record<string, { seconds: number; loadavg1mBefore: number; loadavg1mAfter: number }>;
  errors: Record<string, string>;
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (/^[-+]?[\d.]/.test(c) && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const f1 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(1));
const f0 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(0));
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
const sci = (x: number): string => (Number.isFinite(x) ? x.toExponential(1) : String(x));

export function renderReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`edge-mae bench — ${r.date}${r.quick ? ' (--quick)' : ''}, ${r.durationS.toFixed(0)} s`);
  out.push(`machine: ${m.cpuModel} (family ${m.cpuFamily ?? '?'} model ${m.cpuModelNumber ?? '?'}), ${m.cores} cores, ${m.memGiB ?? '?'} GiB; node ${m.node}; load average ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')} at start, ${(m.loadavgEnd ?? []).map((x) => x.toFixed(2)).join(' ')} at end`);
  out.push(`versions: ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);

  if (r.verify) {
    out.push('', `Same function? Golden cases (authors' PyTorch outputs), max |x − ref| — tfjs and ONNX must have pred ≤ ${r.verify.tolerance}: ${r.verify.pass ? 'PASS' : 'FAIL'}`);
    const rows: string[][] = [];
    for (const [c, engines] of Object.entries(r.verify.cases)) {
      for (const [e, k] of Object.entries(engines)) rows.push([c, e, sci(k.pred.maxAbs), sci(k.latent.maxAbs), sci(k.latentAll.maxAbs), sci(k.loss), sci(k.lossNormPix), k.pass ? 'ok' : 'FAIL']);
    }
    out.push(table(['case', 'engine', 'pred', 'latent', 'latent_all', 'loss', 'loss_norm_pix', ''], rows));
    const q = r.verify.tfjsFusedMatMulTransposeBBias;
    if (q) out.push(`tfjs-wasm fused matMul + bias vs matMul + add, max |Δ|: with transposeB ${sci(q.withTransposeB)}, without ${sci(q.withoutTransposeB)} (so the tfjs model transposes weights at load)`);
  }

  const g = r.gemm;
  if (g) {
    out.push('', `GEMM, 1 thread: GFLOP/s median (best) and % of the SIMD peak probe measured in the same rounds (edge relaxed vs the relaxed peak, the others vs SIMD128)`);
    out.push(`peak over the session: SIMD128 ${f1(g.peakOverall.simd128)} GFLOP/s (start ${f1(g.peakStart.simd128.gflops)} via ${g.peakStart.simd128.best}, end ${f1(g.peakEnd.simd128.gflops)}), relaxed ${f1(g.peakOverall.relaxed)} GFLOP/s (start ${f1(g.peakStart.relaxed.gflops)} via ${g.peakStart.relaxed.best}, end ${f1(g.peakEnd.relaxed.gflops)})`);
    const engines = Object.keys(g.shapes[0]?.engines ?? {});
    const rows = g.shapes.map((s) => [
      `${s.m}×${s.k}×${s.n}`,
      ...engines.map((e) => { const x = s.engines[e as keyof typeof s.engines]; return `${f1(x.gflopsMedian)} (${f1(x.gflopsBest)}) ${pct(x.peakRatioMedian)}`; }),
      `${f1(s.peak.simd128.gflopsMedian)} / ${f1(s.peak.relaxed.gflopsMedian)}`,
    ]);
    out.push(table(['M×K×N', ...engines, 'peak 128/relaxed'], rows));
    const tc = g.tfjsSimdCheck as { speedup?: number | null; simd?: { gflops?: number; info?: { binary?: { file?: string } } }; scalar?: { gflops?: number; info?: { binary?: { file?: string } } } } | undefined;
    if (tc) out.push(`tfjs SIMD check (197×512×2048, best of 2 child runs each): ${tc.simd?.info?.binary?.file ?? '?'} ${f1(tc.simd?.gflops)} GFLOP/s vs forced scalar ${tc.scalar?.info?.binary?.file ?? '?'} ${f1(tc.scalar?.gflops)} → ×${tc.speedup?.toFixed(2) ?? '—'}`);
    out.push(`ORT binary: ${g.ort.binary?.file ?? '?'}; tfjs binary: ${g.tfjs.binary?.file ?? '?'}; edge-mae GEMM module compile: simd128 ${f0(g.edgeCompileMs.simd128)} ms, relaxed ${f0(g.edgeCompileMs.relaxed)} ms`);
  }

  if (r.forward.length > 0) {
    out.push('', 'vit-mae-base, batch 1, 224 px: masked forward (mask 0.75: encoder on 50 tokens, decoder on 197, losses) and encoder on all 196 patches');
    out.push('ms per call, median (best); speed-up = tfjs / this, ort / this, from the same process and rounds');
    const rows: string[][] = [];
    for (const f of r.forward) {
      const same = (engine: string, t: 'forward' | 'encodeAll') => f.engines.find((e) => e.engine === engine)?.[t]?.median;
      const vs = (t: 'forward' | 'encodeAll', mine?: number): string => {
        if (!mine) return '—';
        const x = (e: string) => { const v = same(e, t); return v ? `×${(v / mine).toFixed(2)}` : '—'; };
        return `${x('tfjs')} / ${x('ort')}`;
      };
      for (const e of f.engines) {
        if (e.unsupported) { rows.push([e.engine, String(e.threads), 'unsupported', '', '', '', '', e.unsupported.slice(0, 100)]); continue; }
        const fw = e.forward, en = e.encodeAll;
        const info = (e.info ?? {}) as { description?: string; binary?: { file?: string }; nodeThreadsShim?: boolean };
        rows.push([
          e.engine, String(e.threads),
          fw ? `${f0(fw.median)} (${f0(fw.best)})` : '—',
          en ? `${f0(en.median)} (${f0(en.best)})` : '—',
          vs('forward', fw?.median), vs('encodeAll', en?.median),
          e.agreement ? sci(e.agreement.pred.maxAbs) : '—',
          info.description ?? `${info.binary?.file?.split('/').pop() ?? ''}${info.nodeThreadsShim ? ' (Node threads shim)' : ''}`,
        ]);
      }
    }
    out.push(table(['engine', 'threads', 'forward ms', 'encode-all ms', 'fwd ×tfjs / ×ort', 'enc ×tfjs / ×ort', 'pred vs edge', 'runs'], rows));
  }

  if (r.load) {
    out.push('', `Load (fresh process per engine, warm page cache): process start → ready (model loaded / session created / tensors made) and → first forward result, median of ${r.load.runsPerEngine} (best); RSS`);
    const rows = r.load.engines.map((e) => [
      e.engine, e.what,
      e.error && e.runs.length === 0 ? `error: ${e.error.slice(0, 60)}` : f0(e.readyMsMedian ?? NaN),
      e.error && e.runs.length === 0 ? '' : `${f0(e.firstResultMsMedian)} (${f0(e.firstResultMsBest)})`,
      f0(e.peakRssMiB), f0(e.steadyRssMiB),
    ]);
    out.push(table(['engine', 'what', 'ready ms', 'first result ms', 'peak RSS MiB', 'RSS after GC MiB'], rows));
    const ff = r.load.faultFloor;
    if (ff) out.push(`page-fault floor: ${(ff.bytes / 2 ** 20).toFixed(0)} MiB of fresh memory (vit-mae-base's) made resident in a fresh process in ${f0(ff.fillMs)} ms by one thread writing it, ${f0(ff.prefaultMs)} ms by edge-mae's prefault (/dev/zero reads on libuv's threads); median of ${ff.runs}`);
  }
  if (r.threads) {
    out.push('', 'edge-mae alone, vit-mae-base, ms median (best): 1 vs 2 threads, their calls alternated');
    const ms = (median: number, best?: number): string => (best === undefined ? String(median) : `${median} (${best})`);
    out.push(table(['simd', 'threads', 'forward ms', 'encode-all ms'], r.threads.rows.map((x) => [x.simd, x.threads, ms(x.forwardMs, x.forwardBestMs), ms(x.encodeAllMs, x.encodeAllBestMs)])));
    const best = (x: number | undefined): string => (x === undefined ? '' : ` (best ×${x})`);
    out.push(`speed-up with 2 threads, of medians (of bests): ${r.threads.speedups.map((x) => `${x.simd} forward ×${x.forward}${best(x.forwardBest)}, encoder all patches ×${x.encodeAll}${best(x.encodeAllBest)}`).join('; ')}`);
    const c = r.threads.capacity;
    if (c) out.push(`parallel capacity of the machine: the 1-thread SIMD128 forward ${c.aloneMs} ms alone, ${c.concurrentMs.join(' / ')} ms as two processes at once → two cores gave ×${c.ceiling} (the ceiling for 2 threads then)`);
  }
  if (r.edge) out.push('', '## Edge', '', renderEdge(r.edge));
  if (r.batch) out.push('', '## Batch forward beside PyTorch', '', renderBatch(r.batch));
  if (r.train) out.push('', '## Pretraining step beside PyTorch', '', renderTrain(r.train));
  const secs = Object.entries(r.sections ?? {});
  if (secs.length > 0) out.push('', `Sections (s; 1-min load average before → after, on ${m.cores} cores): ${secs.map(([k, v]) => `${k} ${v.seconds.toFixed(0)} (${v.loadavg1mBefore.toFixed(1)} → ${v.loadavg1mAfter.toFixed(1)})`).join(', ')}`);
  const errs = Object.entries(r.errors);
  if (errs.length > 0) out.push('', 'Section errors:', ...errs.map(([k, v]) => `  ${k}: ${v}`));
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: node dist/bench/report.js RESULTS.json\n');
    process.exit(2);
  }
  process.stdout.write(renderReport(JSON.parse(readFileSync(path, 'utf8')) as BenchResults) + '\n');
}

/** The train section: images/s per engine and thread count, and the ratio. */
export function renderTrain(t: TrainResult): string {
  const lines = [`${t.what}; median of ${t.steps} steps after one warm-up:`, '', '| threads | edge-mae images/s (ms/step) | PyTorch images/s (ms/step) | edge-mae ÷ PyTorch time | load |', '|---|---|---|---|---|'];
  for (const r of t.rows) {
    const torch = r.pytorch_images_per_s === null ? 'not run' : `${r.pytorch_images_per_s.toFixed(0)} (${(1000 * r.pytorch_s_per_step!).toFixed(0)})`;
    lines.push(`| ${r.threads} | ${r.edge_mae_images_per_s.toFixed(0)} (${(1000 * r.edge_mae_s_per_step).toFixed(0)}) | ${torch} | ${r.ratio === null ? '–' : `×${r.ratio.toFixed(2)}`} | ${r.load_before.toFixed(1)} → ${r.load_after.toFixed(1)} |`);
  }
  lines.push('', `Peak RSS of the edge-mae process: ${t.peak_rss_mib.toFixed(0)} MiB.`);
  return lines.join('\n');
}
