/**
 * Batch forward throughput, edge-mae beside PyTorch (issue 12's "what it must show"): the bundled
 * model's `model.forward` over the 10,000 Fashion-MNIST test images (Debian's
 * dataset-fashion-mnist, preprocessed by the model's preprocessor) at batch 500, seeded masks,
 * images/s at 1 and 2 threads. edge-mae is loaded for the whole batch (`batch: 500`: one encoder and
 * one decoder program call per batch), with SIMD128 kernels and with relaxed-SIMD ones (behind a
 * flag in Node 20, set here as the other sections do). PyTorch is bench/torch_mae.py — the same
 * architecture written for the bench — in its own process per thread count (torch.set_num_threads).
 * Before any timing, a gate: on the bundled model's reference and the golden cases, PyTorch's and
 * edge-mae's losses (both kernel variants) equal the authors' within 1e-6 (else PyTorch is not
 * timed: different functions). Then rounds of one full pass per contender, the order rotated each
 * round; medians and bests, the load average before and after. Each pass also records the CPU time
 * its process spent (all its threads): at 1 thread, images per CPU-second is the engine's speed
 * with the time other work took from it left out — on a shared machine the fairer comparison. (At
 * 2 threads it also counts time spent waiting for the other thread.) Writes its JSON to --out.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import { join } from 'node:path';
import {
  DEFAULT_MODEL_DIR, MaeModel, PACKAGE_ROOT, SafetensorsFile, type SimdVariant, encodeSafetensors, fashionMnistImage, loadFashionMnist, preprocess, relaxedSimdSupported, seededNoise,
} from '../src/node/index.js';
import { openBlasDir, torchCheck, torchMissing, TorchServer, type PassResult } from './torch-peer.js';
import { log, parseArgs, sectionMain, stats } from './timing.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

export const GATE_TOLERANCE = 1e-6;
const BATCH = 500;
/** The kernel variants timed: SIMD128 everywhere, relaxed SIMD where the engine validates it. */
const SIMDS: SimdVariant[] = relaxedSimdSupported() ? ['simd128', 'relaxed'] : ['simd128'];

export interface BatchGateCase {
  case: string;
  golden: { loss: number; lossNormPix: number };
  /** edge-mae with SIMD128 kernels. */
  edge: { loss: number; lossNormPix: number };
  /** edge-mae with relaxed-SIMD kernels (when the engine validates them). */
  edgeRelaxed?: { loss: number; lossNormPix: number };
  torch?: { loss: number; lossNormPix: number; predMaxAbs?: number; maskEqual?: boolean; posTableMaxAbs: number };
  pass: boolean;
}

export interface BatchRow {
  engine: 'edge-mae' | 'pytorch';
  /** edge-mae's kernel variant. */
  simd?: SimdVariant;
  threads: number;
  description: string;
  imagesPerSecMedian: number;
  imagesPerSecBest: number;
  secondsPerPass: number[];
  /** CPU seconds of the engine's process (all threads) per pass (absent in results from before 2026-12-04). */
  cpuSecondsPerPass?: number[];
  /** Images per CPU-second, median over passes (at 1 thread: the speed with other work's time left out). */
  imagesPerCpuSecondMedian?: number;
  /** Mean of the 20 batch losses of the last pass (the same noise on both sides: they should agree). */
  loss: number;
  lossNormPix: number;
}

export interface BatchResult {
  images: number;
  batch: number;
  rounds: number;
  gate: { tolerance: number; pass: boolean; cases: BatchGateCase[] };
  rows: BatchRow[];
  /** Why PyTorch was not timed (not installed, or the gate failed). */
  torchSkipped?: string;
  torchInfo?: Record<string, Record<string, unknown>>;
  /** 1-minute load average: section start, after each round, section end. */
  loadavg: { before: number[]; rounds: number[]; after: number[] };
}

const args = parseArgs();
const rounds = Number(args.flags.rounds ?? (args.quick ? 1 : 3));
const loadBefore = os.loadavg();
const missing = torchMissing();

/** The three cases with the authors' losses: the bundled model's reference and both golden cases. */
const CASES: Array<[string, string, string]> = [
  ['mae-fashion-mnist', DEFAULT_MODEL_DIR, join(DEFAULT_MODEL_DIR, 'reference.safetensors')],
  ...(['tiny', 'small'] as const).map((c): [string, string, string] => {
    const dir = join(PACKAGE_ROOT, 'test', 'fixtures', 'golden', c);
    return [`golden ${c}`, dir, join(dir, 'io.safetensors')];
  }),
];

async function gate(): Promise<BatchResult['gate']> {
  const cases: BatchGateCase[] = [];
  for (const [name, dir, ioPath] of CASES) {
    const io = SafetensorsFile.parse(new Uint8Array(readFileSync(ioPath)), ioPath);
    const pixels = io.f32('pixel_values'), noise = io.f32('noise');
    const golden = { loss: io.f32('loss')[0], lossNormPix: io.f32('loss_norm_pix')[0] };
    const edges: Array<{ loss: number; lossNormPix: number }> = [];
    for (const simd of SIMDS) {
      const model = await MaeModel.load({ model: dir, simd });
      const f = await model.forward(pixels, { batch: io.info('noise').shape[0], noise });
      model.dispose();
      edges.push({ loss: f.loss, lossNormPix: f.lossNormPix });
    }
    const [edge, edgeRelaxed] = edges;
    const near = (x: { loss: number; lossNormPix: number }): boolean => Math.abs(x.loss - golden.loss) <= GATE_TOLERANCE && Math.abs(x.lossNormPix - golden.lossNormPix) <= GATE_TOLERANCE;
    let torch: BatchGateCase['torch'];
    if (!missing) {
      const t = torchCheck(dir, ioPath);
      torch = { loss: t.loss, lossNormPix: t.loss_norm_pix, predMaxAbs: t.pred_max_abs_diff, maskEqual: t.mask_equal, posTableMaxAbs: t.pos_table_max_abs_diff };
    }
    const pass = edges.every(near) && (!torch || (near(torch) && torch.maskEqual !== false));
    cases.push({ case: name, golden, edge, edgeRelaxed, torch, pass });
    log(`batch gate ${name}: golden ${golden.loss} / ${golden.lossNormPix}; edge-mae ${edges.map((e, i) => `${SIMDS[i]} ${e.loss} / ${e.lossNormPix}`).join(', ')}; pytorch ${torch ? `${torch.loss} / ${torch.lossNormPix} (pred ${torch.predMaxAbs})` : 'not run'} → ${pass ? 'ok' : 'FAIL'}`);
  }
  return { tolerance: GATE_TOLERANCE, pass: cases.every((c) => c.pass), cases };
}

/** The test split preprocessed, and the noise of batch k from seed k (what forward({ seed: k }) draws). */
function testSet(model: MaeModel): { pixels: Float32Array; noise: Float32Array; count: number } {
  const fm = loadFashionMnist('test');
  const images = Array.from({ length: fm.count }, (_, i) => fashionMnistImage(fm.images, i));
  const pixels = preprocess(model, images);
  const L = model.shapes.numPatches;
  const noise = new Float32Array(fm.count * L);
  for (let k = 0; k * BATCH < fm.count; k++) noise.set(seededNoise(k, Math.min(BATCH, fm.count - k * BATCH), L), k * BATCH * L);
  return { pixels, noise, count: fm.count };
}

async function main(): Promise<BatchResult> {
  const g = await gate();
  let torchSkipped = missing ?? (g.pass ? undefined : 'not run: the golden gate failed (a different function is not compared)');
  // Memory laid out for the whole batch, so each batch is one encoder and one decoder program
  // call (the default batch would run it in calls of 64).
  const edge: Array<{ model: MaeModel; simd: SimdVariant; threads: number }> = [];
  for (const simd of SIMDS) for (const threads of [1, 2]) edge.push({ model: await MaeModel.load({ model: DEFAULT_MODEL_DIR, threads, batch: BATCH, simd }), simd, threads });
  for (const { model } of edge) if (model.maxBatch !== BATCH) throw new Error(`edge-mae loaded for ${model.maxBatch} images per call, not ${BATCH}`);
  const data = testSet(edge[0].model);
  const per = data.pixels.length / data.count;
  const tmp = mkdtempSync(join(os.tmpdir(), 'edge-mae-batch-'));
  const servers: TorchServer[] = [];
  try {
    const dataPath = join(tmp, 'fashion-mnist-test.safetensors');
    const L = edge[0].model.shapes.numPatches, { numChannels: C, imageSize: S } = edge[0].model.config;
    writeFileSync(dataPath, encodeSafetensors({
      pixel_values: { dtype: 'F32', shape: [data.count, C, S, S], data: data.pixels },
      noise: { dtype: 'F32', shape: [data.count, L], data: data.noise },
    }));
    if (!torchSkipped) {
      try {
        for (const t of [1, 2]) servers.push(await TorchServer.start(DEFAULT_MODEL_DIR, dataPath, BATCH, t));
      } catch (e) {
        torchSkipped = `not run: ${(e as Error).message}`;
        for (const s of servers.splice(0)) await s.close();
      }
    }
    const edgePass = async (m: MaeModel): Promise<PassResult> => {
      let loss = 0, lossNormPix = 0, batches = 0;
      const t0 = performance.now(), cpu0 = process.cpuUsage();
      for (let k = 0; k * BATCH < data.count; k++, batches++) {
        const n = Math.min(BATCH, data.count - k * BATCH);
        const f = await m.forward(data.pixels.subarray(k * BATCH * per, (k * BATCH + n) * per), { batch: n, seed: k });
        loss += f.loss;
        lossNormPix += f.lossNormPix;
      }
      const seconds = (performance.now() - t0) / 1000, cpu = process.cpuUsage(cpu0);
      return { seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6, loss: loss / batches, loss_norm_pix: lossNormPix / batches };
    };
    for (const { model } of edge) await model.forward(data.pixels.subarray(0, BATCH * per), { batch: BATCH, seed: 0 }); // warm-up batch
    const contenders: Array<{ engine: BatchRow['engine']; simd?: SimdVariant; threads: number; description: string; run: () => Promise<PassResult> }> = [
      ...edge.map((e) => ({ engine: 'edge-mae' as const, simd: e.simd, threads: e.threads, description: e.model.backendDescription, run: () => edgePass(e.model) })),
      ...servers.map((s, i) => {
        const r = s.ready as { torch?: string; blas?: string[]; os_threads?: number };
        return { engine: 'pytorch' as const, threads: i + 1, description: `torch ${r.torch}, ${r.os_threads} OS threads, ${(r.blas ?? []).map((b) => b.split('/').pop()).join(' ') || 'BLAS ?'}`, run: () => s.pass() };
      }),
    ];
    const passes: PassResult[][] = contenders.map(() => []);
    const roundLoad: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (let j = 0; j < contenders.length; j++) {
        const i = (round + j) % contenders.length;
        const r = await contenders[i].run();
        passes[i].push(r);
        log(`batch round ${round + 1}/${rounds}: ${contenders[i].engine}${contenders[i].simd ? ` ${contenders[i].simd}` : ''} ${contenders[i].threads}t ${(data.count / r.seconds).toFixed(0)} images/s (${r.seconds.toFixed(2)} s, ${(data.count / r.cpu_seconds).toFixed(0)} per CPU-second; load ${os.loadavg()[0].toFixed(2)})`);
      }
      roundLoad.push(os.loadavg()[0]);
    }
    const rows: BatchRow[] = contenders.map((c, i) => {
      const s = stats(passes[i].map((p) => p.seconds));
      const cpu = stats(passes[i].map((p) => p.cpu_seconds));
      const last = passes[i][passes[i].length - 1];
      return {
        engine: c.engine, ...(c.simd ? { simd: c.simd } : {}), threads: c.threads, description: c.description,
        imagesPerSecMedian: +(data.count / s.median).toFixed(1), imagesPerSecBest: +(data.count / s.best).toFixed(1),
        secondsPerPass: passes[i].map((p) => +p.seconds.toFixed(3)),
        cpuSecondsPerPass: passes[i].map((p) => +p.cpu_seconds.toFixed(3)), imagesPerCpuSecondMedian: +(data.count / cpu.median).toFixed(1),
        loss: last.loss, lossNormPix: last.loss_norm_pix,
      };
    });
    const torchInfo = servers.length > 0 ? Object.fromEntries(servers.map((s, i) => [`${i + 1}t`, { ...s.ready, openBlasDir: openBlasDir() ?? null }])) : undefined;
    return { images: data.count, batch: BATCH, rounds, gate: g, rows, torchSkipped, torchInfo, loadavg: { before: loadBefore, rounds: roundLoad, after: os.loadavg() } };
  } finally {
    for (const s of servers) await s.close();
    for (const { model } of edge) model.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await sectionMain('batch', main);
