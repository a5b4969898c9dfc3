/**
 * Training throughput beside PyTorch: one MAE pretraining step (forward with the loss on the
 * removed patches, backward, AdamW) of the bundled architecture at batch 256 on Fashion-MNIST
 * training images, edge-mae's WasmTrainer vs the PyTorch peer (bench/torch_mae.py train: Debian's
 * python3-torch on OpenBLAS), at 1 and 2 threads, the engines taking turns so both see the same
 * machine. Medians of wall time per step; images/s = 256 / median.
 *
 *   node dist/bench/train-peer.js [--steps 12] [--out FILE.json]
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readConfig, compileTrainingKernels } from '../src/node/load.js';
import { startNodeWorkers } from '../src/node/threads.js';
import { DEFAULT_MODEL_DIR } from '../src/node/paths.js';
import { loadTrainingImages } from '../src/node/training-data.js';
import { parsePreprocessorConfig } from '../src/image/preprocess.js';
import { readPreprocessorJson } from '../src/node/load.js';
import { encodeSafetensors } from '../src/safetensors.js';
import { initialWeights } from '../src/training/init.js';
import { WasmTrainer } from '../src/training/trainer.js';
import { sampleMasking } from '../src/training/masking-strategies.js';
import { shapesOf, lenKeep } from '../src/shapes.js';
import { PYTHON, openBlasDir, torchMissing } from './torch-peer.js';

const args = process.argv.slice(2);
/** `--name value` or `--name=value`. */
const flag = (name: string, fallback: string): string => {
  const eq = args.find((a) => a.startsWith(`${name}=`));
  if (eq) return eq.slice(name.length + 1);
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const STEPS = Number(flag('--steps', args.includes('--quick') ? '6' : '12'));
const BATCH = 256;

export interface TrainRow {
  threads: number;
  edge_mae_s_per_step: number;
  edge_mae_images_per_s: number;
  pytorch_s_per_step: number | null;
  pytorch_images_per_s: number | null;
  /** PyTorch's time per step over edge-mae's (> 1: edge-mae faster). */
  ratio: number | null;
  load_before: number;
  load_after: number;
}
export interface TrainResult { what: string; steps: number; rows: TrainRow[]; peak_rss_mib: number }
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

async function edgeMae(threads: number, pixels: Float32Array, count: number): Promise<number[]> {
  const cfg = readConfig(DEFAULT_MODEL_DIR);
  const { grid } = shapesOf(cfg);
  const keep = lenKeep(grid * grid, cfg.maskRatio);
  const kernels = await compileTrainingKernels(cfg, undefined, undefined, 'simd128', threads > 1);
  const trainer = await WasmTrainer.create({ config: cfg, weights: initialWeights(cfg, 0), kernels, batch: BATCH, keep, threads, startWorkers: startNodeWorkers });
  const size = cfg.imageSize * cfg.imageSize * cfg.numChannels;
  const times: number[] = [];
  try {
    for (let i = 0; i <= STEPS; i++) {
      const at = ((i * BATCH) % (count - BATCH + 1)) * size;
      const batch = pixels.subarray(at, at + BATCH * size);
      const m = sampleMasking('random', BATCH, grid, cfg.maskRatio, i);
      const t0 = performance.now();
      await trainer.forward(batch, BATCH, m, { allPatches: false });
      await trainer.backward({ normPix: false, accumulate: false });
      trainer.step({ lr: 2e-3 });
      if (i > 0) times.push((performance.now() - t0) / 1000); // step 0 warms up
    }
  } finally {
    trainer.dispose();
  }
  return times;
}

async function torch(threads: number, data: string): Promise<number[]> {
  const blas = openBlasDir();
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), ...(blas ? { LD_LIBRARY_PATH: [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : {}) };
  const child = spawn(PYTHON, [join('bench', 'torch_mae.py'), 'train', '--model', DEFAULT_MODEL_DIR, '--data', data, '--batch', String(BATCH), '--threads', String(threads), '--steps', String(STEPS)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const times: number[] = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    const r = JSON.parse(line) as { seconds?: number };
    if (r.seconds !== undefined) times.push(r.seconds);
  }
  return times;
}

async function main(): Promise<void> {
  const cfg = readConfig(DEFAULT_MODEL_DIR);
  const images = loadTrainingImages('fashion-mnist:train:0-2559', cfg, parsePreprocessorConfig(readPreprocessorJson(DEFAULT_MODEL_DIR), cfg.imageSize, cfg.numChannels));
  const size = images.size;
  const pixels = new Float32Array(images.count * size);
  for (let i = 0; i < images.count; i++) images.read(i, pixels.subarray(i * size, (i + 1) * size));
  const dir = mkdtempSync(join(tmpdir(), 'edge-mae-train-bench-'));
  const data = join(dir, 'train.safetensors');
  writeFileSync(data, encodeSafetensors({ pixel_values: { dtype: 'F32', shape: [images.count, cfg.numChannels, cfg.imageSize, cfg.imageSize], data: pixels } }));
  const missing = torchMissing();
  const rows: TrainRow[] = [];
  try {
    for (const threads of [1, 2]) {
      const loadBefore = (await import('node:os')).loadavg()[0];
      const ours = await edgeMae(threads, pixels, images.count);
      const theirs = missing ? [] : await torch(threads, data);
      const row: TrainRow = {
        threads,
        edge_mae_s_per_step: median(ours), edge_mae_images_per_s: BATCH / median(ours),
        pytorch_s_per_step: theirs.length ? median(theirs) : null, pytorch_images_per_s: theirs.length ? BATCH / median(theirs) : null,
        ratio: theirs.length ? median(theirs) / median(ours) : null,
        load_before: loadBefore, load_after: (await import('node:os')).loadavg()[0],
      };
      rows.push(row);
      console.log(`${threads} thread(s): edge-mae ${row.edge_mae_images_per_s.toFixed(0)} images/s (${(median(ours) * 1000).toFixed(0)} ms/step), PyTorch ${row.pytorch_images_per_s?.toFixed(0) ?? missing} images/s${row.ratio ? ` → ×${row.ratio.toFixed(2)}` : ''} (load ${loadBefore.toFixed(1)} → ${row.load_after.toFixed(1)})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const result: TrainResult = { what: 'MAE pretraining step (forward, loss, backward, AdamW), bundled architecture, batch 256, Fashion-MNIST train images', steps: STEPS, rows, peak_rss_mib: process.resourceUsage().maxRSS / 1024 };
  console.log(`peak RSS of this process (edge-mae trainers, both thread counts): ${result.peak_rss_mib.toFixed(0)} MiB`);
  const out = flag('--out', '');
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
}

await main();
