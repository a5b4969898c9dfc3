/**
 * The whole vit-mae-base forward of one 224-px image (mask ratio 0.75: encoder on 49 visible
 * patches + cls, decoder on 197 tokens, both losses) and the encoder on all 196 patches, per
 * engine, on the same random weights (assets.ts) and the same image and masking:
 * - edge-mae: MaeModel.load({ model, simd, threads }) in both SIMD variants;
 * - tfjs-wasm: tfjs-mae.ts on the wasm backend;
 * - onnxruntime-web: onnx-graph.ts's models (forward, encoder) on the wasm EP.
 * The engines named by --engines run in this one process at --threads threads, interleaved
 * (round-robin samples), after a warm-up call; each call includes reading its outputs back to JS
 * (edge-mae's also computes the losses in JS, as its forward does). Before timing, each engine's
 * pred and encoder output are compared with edge-mae SIMD128's (verify.ts has already checked
 * every engine against the PyTorch reference on the golden cases).
 *
 * Threads: an engine that cannot run the asked thread count here is reported as unsupported, not
 * timed at another count. tfjs-wasm needs tfjs-threads.ts's shim for more than 1 thread in Node. edge-mae: if MaeModel.load takes `threads` (threaded mode), the model's
 * description says "N threads"; an engine without it says "1 thread" and is skipped.
 *
 * Run alone: `node dist/bench/forward.js --engines=edge-simd128,edge-relaxed,tfjs,ort --threads=1 [--quick]`.
 */
import v8 from 'node:v8';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel, type LoadOptions } from '../src/node/index.js';
import { BASE, type BaseAssets, baseAssetPaths, benchCacheDir, ensureBaseAssets, readBaseWeights } from './assets.js';
import { preset } from '../src/config.js';
import { type BenchInput, benchInput } from './shared.js';
import { initOrt, initTfjs } from './engines.js';
import { OrtMae } from './ort-mae.js';
import { TfjsMae } from './tfjs-mae.js';
import { type Contender, type Stats, interleave, log, parseArgs, sectionMain } from './timing.js';
import { compare, type Errors } from './verify.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

export const FORWARD_ENGINES = ['edge-simd128', 'edge-relaxed', 'tfjs', 'ort'] as const;
export type ForwardEngine = (typeof FORWARD_ENGINES)[number];

interface Loaded {
  forward: () => Promise<{ pred: Float32Array; latent: Float32Array; loss: number }>;
  encode: () => Promise<Float32Array>;
  dispose: () => Promise<void> | void;
  info: Record<string, unknown>;
}

export interface EngineForwardResult {
  engine: ForwardEngine;
  threads: number;
  /** Set when this engine cannot run at this thread count here (then nothing was timed). */
  unsupported?: string;
  info?: Record<string, unknown>;
  loadMs?: number;
  /** Milliseconds per call. */
  forward?: Stats;
  encodeAll?: Stats;
  /** pred / encoder output against edge-mae SIMD128 (1 thread) on the same inputs. */
  agreement?: { pred: Errors; latentAll: Errors; loss: number };
}

export interface ForwardResult {
  threads: number;
  engines: EngineForwardResult[];
  settings: { warmup: number; samples: number };
  model: { config: string; weightSeed: number; keep: number; tokensEncoder: number; tokensDecoder: number };
}

async function loadEngine(engine: ForwardEngine, threads: number, a: BaseAssets, input: BenchInput): Promise<Loaded | string> {
  if (engine === 'edge-simd128' || engine === 'edge-relaxed') {
    const simd = engine === 'edge-simd128' ? 'simd128' : 'relaxed';
    // `threads` is the threaded-mode hook: ignored by a MaeModel without it (then "1 thread").
    const model = await MaeModel.load({ model: a.dir, simd, threads } as LoadOptions & { threads?: number });
    const description = model.backendDescription;
    if (threads > 1 && !new RegExp(`\\b${threads} threads\\b`).test(description)) {
      model.dispose();
      return `MaeModel.load did not start ${threads} threads (backend: ${description})`;
    }
    return {
      forward: () => model.forward(input.pixels, { batch: 1, noise: input.noise }),
      encode: () => model.encode(input.pixels, { batch: 1 }),
      dispose: () => model.dispose(),
      info: { engine: 'edge-mae', simd, description },
    };
  }
  const cfg = preset(BASE);
  if (engine === 'tfjs') {
    // Only tfjs takes the weights as tensors (ORT reads its .onnx files).
    const { weights } = readBaseWeights(a);
    // More than 1 thread needs tfjs-threads.ts's shim in Node (tfjs 4.22 does not start its threaded build there).
    const { tf, info } = await initTfjs(threads, { nodeThreadsShim: threads > 1 });
    if (info.threads !== threads) return `tfjs-backend-wasm ran ${info.threads} thread(s) when asked for ${threads} (multithread flag ${info.multithreadFlag}, binary ${info.binary?.file ?? '?'})`;
    const m = new TfjsMae(tf, cfg, weights);
    return {
      forward: async () => m.forward(input.pixels, input.idsKeep, input.idsRestore, input.mask),
      encode: async () => m.encode(input.pixels),
      dispose: () => m.dispose(),
      info: { ...info, nodeThreadsShim: threads > 1 } as unknown as Record<string, unknown>,
    };
  }
  const { ort, info } = await initOrt(threads);
  const m = await OrtMae.create(ort, cfg, { forward: new Uint8Array(readFileSync(a.onnxForward)), encoder: new Uint8Array(readFileSync(a.onnxEncoder)) });
  return {
    forward: () => m.forward(input.pixels, input.idsKeep, input.idsRestore, input.mask),
    encode: () => m.encode(input.pixels),
    dispose: () => m.release(),
    get info() { return info() as unknown as Record<string, unknown>; },
  };
}

const refPath = (what: string): string => join(benchCacheDir(), `ref-${what}.f32`);

export async function runForward(engines: readonly ForwardEngine[], threads: number, quick: boolean): Promise<ForwardResult> {
  const settings = { warmup: 1, samples: quick ? 3 : 5 };
  const paths = baseAssetPaths();
  const a = existsSync(paths.onnxEncoder) ? paths : ensureBaseAssets();
  const cfg = preset(BASE);
  const input = benchInput(cfg);
  const results: EngineForwardResult[] = [];
  const loaded = new Map<ForwardEngine, Loaded>();
  for (const e of engines) {
    const t0 = performance.now();
    const l = await loadEngine(e, threads, a, input);
    if (typeof l === 'string') {
      log(`forward ${e} @${threads} threads: unsupported — ${l}`);
      results.push({ engine: e, threads, unsupported: l });
      continue;
    }
    const loadMs = performance.now() - t0;
    // First calls (untimed): outputs for the agreement check, and warm code.
    const f = await l.forward();
    const all = await l.encode();
    if (e === 'edge-simd128' && threads === 1) {
      writeFileSync(refPath('pred'), f.pred);
      writeFileSync(refPath('latent-all'), all);
      writeFileSync(refPath('loss'), Float32Array.of(f.loss));
    }
    let agreement: EngineForwardResult['agreement'];
    if (existsSync(refPath('pred'))) {
      const rd = (w: string) => new Float32Array(new Uint8Array(readFileSync(refPath(w))).buffer);
      agreement = { pred: compare(f.pred, rd('pred')), latentAll: compare(all, rd('latent-all')), loss: Math.abs(f.loss - rd('loss')[0]) };
    }
    log(`forward ${e} @${threads}: loaded in ${loadMs.toFixed(0)} ms; vs edge-mae simd128: pred max|Δ| ${agreement?.pred.maxAbs.toExponential(2)}, encoder ${agreement?.latentAll.maxAbs.toExponential(2)}`);
    loaded.set(e, l);
    results.push({ engine: e, threads, info: l.info, loadMs, agreement });
  }
  const tasks: Array<['forward' | 'encodeAll', (l: Loaded) => () => Promise<unknown>]> = [
    ['forward', (l) => l.forward],
    ['encodeAll', (l) => l.encode],
  ];
  for (const [task, fn] of tasks) {
    const contenders: Contender[] = [...loaded].map(([name, l]) => ({ name, run: fn(l) }));
    if (contenders.length === 0) continue;
    const st = await interleave(contenders, { ...settings, targetMs: 0, oneCallPerSample: true });
    for (const r of results) if (st[r.engine]) r[task] = st[r.engine];
    log(`${task} @${threads} threads: ${contenders.map((c) => `${c.name} ${st[c.name].median.toFixed(0)} ms`).join(', ')}`);
  }
  for (const l of loaded.values()) await l.dispose();
  return {
    threads, engines: results, settings,
    model: { config: 'vit-mae-base', weightSeed: 1, keep: a.keep, tokensEncoder: 1 + a.keep, tokensDecoder: 1 + 196 },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseArgs();
  const engines = (args.flags.engines ?? FORWARD_ENGINES.join(',')).split(',').filter(Boolean) as ForwardEngine[];
  for (const e of engines) if (!FORWARD_ENGINES.includes(e)) throw new Error(`unknown engine '${e}' (known: ${FORWARD_ENGINES.join(', ')})`);
  const threads = Number(args.flags.threads ?? 1);
  await sectionMain('forward', () => runForward(engines, threads, args.quick));
}
