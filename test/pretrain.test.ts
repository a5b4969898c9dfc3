/**
 * Pretraining: the schedule against MAE's util/lr_sched.py written out here, the masking
 * strategies' properties, the CLI's run on a few hundred images (the loss falls; a stopped and
 * resumed run ends with the same bytes as one never stopped), and bad options answered in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type Schedule, learningRate, peakLr } from '../src/training/schedule.js';
import { blockMask, gridMask, keptPatches, sampleMasking } from '../src/training/masking-strategies.js';
import { epochFlips, epochOrder } from '../src/training/data.js';
import { lenKeep } from '../src/shapes.js';
import { encodeSafetensors } from '../src/safetensors.js';
import { uniform } from '../src/random.js';
import { ROOT, runCli, tempDir } from './helpers.js';

const BUNDLED = join(ROOT, 'models', 'mae-fashion-mnist');

test('the learning rate follows MAE\'s lr_sched.adjust_learning_rate (warm-up, then half-cosine to min_lr)', () => {
  // util/lr_sched.py, as a Python reader would transcribe it.
  const official = (epoch: number, lr: number, minLr: number, warmup: number, epochs: number): number =>
    epoch < warmup ? (lr * epoch) / warmup : minLr + (lr - minLr) * 0.5 * (1 + Math.cos((Math.PI * (epoch - warmup)) / (epochs - warmup)));
  const lr = peakLr(2e-3, 256);
  assert.equal(lr, 2e-3);
  assert.equal(peakLr(1.5e-4, 4096), 2.4e-3);
  for (const [warmup, epochs, minLr] of [[1, 20, 0], [0.2, 1, 0], [5, 50, 1e-6]] as const) {
    const s: Schedule = { lr, minLr, warmupEpochs: warmup, epochs };
    for (let i = 0; i <= 1000; i++) {
      const e = (epochs * i) / 1000;
      assert.ok(Math.abs(learningRate(s, e) - official(e, lr, minLr, warmup, epochs)) <= 1e-18, `epoch ${e}`);
    }
    assert.equal(learningRate(s, 0), 0);
    assert.ok(Math.abs(learningRate(s, warmup) - lr) < 1e-15);
    assert.ok(Math.abs(learningRate(s, epochs) - minLr) < 1e-15);
  }
  // The reference run's table: lr at the end of epoch 1 of 20 (234 steps/epoch, warm-up 1 epoch) is 1.99e-3.
  assert.equal(learningRate({ lr, minLr: 0, warmupEpochs: 1, epochs: 20 }, 233 / 234 + 1).toExponential(2), '1.99e-3');
});

test('masking: random keeps int(L·(1 − r)); block removes exactly as many in contiguous blocks; grid keeps one of every 2×2; all seeded', () => {
  for (const [grid, ratio] of [[7, 0.75], [14, 0.75], [14, 0.4], [5, 0.5]] as const) {
    const L = grid * grid;
    for (const strategy of ['random', 'block'] as const) {
      const m = sampleMasking(strategy, 6, grid, ratio, 11);
      assert.equal(m.lenKeep, lenKeep(L, ratio), `${strategy} ${grid}×${grid} keep`);
      for (let i = 0; i < 6; i++) {
        const row = m.mask.subarray(i * L, (i + 1) * L);
        assert.equal(row.reduce((a, b) => a + b, 0), L - m.lenKeep, `${strategy}: removed count, image ${i}`);
        // ids_keep are exactly the kept patches, and ids_restore inverts the shuffle.
        const kept = [...m.idsKeep.subarray(i * m.lenKeep, (i + 1) * m.lenKeep)].sort((a, b) => a - b);
        assert.deepEqual(kept, [...row.keys()].filter((l) => row[l] === 0));
        for (let j = 0; j < L; j++) assert.equal(m.idsShuffle[i * L + m.idsRestore[i * L + j]!], j);
      }
      assert.deepEqual(sampleMasking(strategy, 6, grid, ratio, 11), m, `${strategy}: the same seed, the same masks`);
      assert.notDeepEqual(sampleMasking(strategy, 6, grid, ratio, 12).mask, m.mask, `${strategy}: another seed, other masks`);
    }
  }
  // Contiguity: removed patches' removed 4-neighbours, on average, block vs random (14×14, 40 % removed: random ≈ 4·0.4).
  const neighbours = (mask: ArrayLike<number>, grid: number): number => {
    let sum = 0, count = 0;
    for (let l = 0; l < grid * grid; l++) {
      if (!mask[l]) continue;
      const r = Math.floor(l / grid), c = l % grid;
      sum += (r > 0 ? mask[l - grid]! : 0) + (r < grid - 1 ? mask[l + grid]! : 0) + (c > 0 ? mask[l - 1]! : 0) + (c < grid - 1 ? mask[l + 1]! : 0);
      count++;
    }
    return sum / count;
  };
  let block = 0, random = 0;
  for (let s = 0; s < 20; s++) {
    block += neighbours(blockMask(14, 78, uniform(s)), 14) / 20;
    random += neighbours(sampleMasking('random', 1, 14, 0.4, s).mask, 14) / 20;
  }
  assert.ok(block > 2.6 && random < 1.8, `removed neighbours: block ${block.toFixed(2)}, random ${random.toFixed(2)}`);
  // Grid: rows and columns 0, 2, 4, … kept, the same for every image whatever the ratio.
  const g = sampleMasking('grid', 3, 7, 0.9, 5);
  assert.equal(g.lenKeep, keptPatches('grid', 7, 0.9));
  assert.equal(g.lenKeep, 16);
  for (let i = 0; i < 3; i++) assert.deepEqual([...g.mask.subarray(i * 49, (i + 1) * 49)], [...gridMask(7)]);
  for (let l = 0; l < 49; l++) assert.equal(gridMask(7)[l], Math.floor(l / 7) % 2 === 0 && (l % 7) % 2 === 0 ? 0 : 1);
});

test('the epoch order is a seeded permutation and about half the images are flipped', () => {
  const o = epochOrder(1000, 3, 0);
  assert.deepEqual([...o].sort((a, b) => a - b), [...Array(1000).keys()]);
  assert.deepEqual(epochOrder(1000, 3, 0), o);
  assert.notDeepEqual(epochOrder(1000, 3, 1), o);
  const flips = epochFlips(1000, 3, 0).reduce((a, b) => a + b, 0);
  assert.ok(flips > 430 && flips < 570, `${flips} of 1000 flipped`);
});

/** A few hundred Fashion-MNIST-like images: the bundled model's test samples tiled with noise, as pixel_values. */
function smallData(dir: string, n: number): string {
  const rand = uniform(99);
  const pixels = new Float32Array(n * 784);
  for (let i = 0; i < n; i++) {
    // A blob of random size and place on a dark background: something a MAE can learn quickly.
    const cx = 6 + rand() * 16, cy = 6 + rand() * 16, r = 4 + rand() * 6;
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) pixels[i * 784 + y * 28 + x] = ((x - cx) ** 2 + (y - cy) ** 2 < r * r ? 2 : -0.8) + 0.05 * (rand() - 0.5);
  }
  const path = join(dir, 'data.safetensors');
  writeFileSync(path, encodeSafetensors({ pixel_values: { dtype: 'F32', shape: [n, 1, 28, 28], data: pixels } }));
  return path;
}

const logLosses = (dir: string): number[] => readFileSync(join(dir, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);

test('pretrain on 384 images: the loss falls, the folder loads, and a stopped + resumed run ends with the same bytes', () => {
  const dir = tempDir();
  const data = smallData(dir, 384);
  const common = ['pretrain', '--config', BUNDLED, '--data', data, '--epochs', '4', '--batch', '64', '--blr', '4e-3', '--warmup-epochs', '0.5', '--seed', '7'];
  const whole = runCli([...common, '--out', join(dir, 'whole')]);
  assert.equal(whole.status, 0, whole.stderr);
  assert.match(whole.stdout, /24 steps/);
  const losses = logLosses(join(dir, 'whole'));
  assert.equal(losses.length, 24);
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(mean(losses.slice(-4)) < 0.6 * mean(losses.slice(0, 4)), `loss ${mean(losses.slice(0, 4)).toFixed(3)} → ${mean(losses.slice(-4)).toFixed(3)}`);
  for (const f of ['config.json', 'model.safetensors', 'preprocessor_config.json', 'checkpoint.safetensors']) assert.ok(existsSync(join(dir, 'whole', f)), f);
  // The folder is a model every command takes.
  const fwd = runCli(['encode', '--model', join(dir, 'whole'), '--inputs', data, '--out', join(dir, 'latent.safetensors')]);
  assert.equal(fwd.status, 0, fwd.stderr);

  const part = runCli([...common, '--out', join(dir, 'part'), '--max-iters', '9']);
  assert.equal(part.status, 0, part.stderr);
  assert.equal(logLosses(join(dir, 'part')).length, 9);
  const rest = runCli(['pretrain', '--resume', '--data', data, '--out', join(dir, 'part'), '--max-iters', '24']);
  assert.equal(rest.status, 0, rest.stderr);
  assert.deepEqual(readFileSync(join(dir, 'part', 'model.safetensors')), readFileSync(join(dir, 'whole', 'model.safetensors')), 'resumed = uninterrupted, bit for bit');
  assert.deepEqual(logLosses(join(dir, 'part')), losses);
});

test('SIGTERM finishes the step, writes the checkpoint and exits 0; --resume then ends with the bytes of a run never stopped', async () => {
  const dir = tempDir();
  const data = smallData(dir, 384);
  const common = ['pretrain', '--config', BUNDLED, '--data', data, '--epochs', '4', '--batch', '64', '--blr', '4e-3', '--seed', '9'];
  const whole = runCli([...common, '--out', join(dir, 'whole')]);
  assert.equal(whole.status, 0, whole.stderr);
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'edge-mae.js'), ...common, '--out', join(dir, 'sig')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  // Once a few steps are logged, as a service manager would.
  const log = join(dir, 'sig', 'train-log.jsonl');
  const deadline = Date.now() + 120_000;
  while (!(existsSync(log) && readFileSync(log, 'utf8').split('\n').length > 3)) {
    assert.ok(Date.now() < deadline, 'the run logged no steps within 2 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  const stopped = /stopped at step (\d+)/.exec(stderr);
  assert.ok(stopped, stderr);
  assert.ok(Number(stopped[1]) < 24, `stopped at step ${stopped[1]} of 24`);
  assert.equal(logLosses(join(dir, 'sig')).length, Number(stopped[1]));
  const rest = runCli(['pretrain', '--resume', '--data', data, '--out', join(dir, 'sig')]);
  assert.equal(rest.status, 0, rest.stderr);
  assert.deepEqual(readFileSync(join(dir, 'sig', 'model.safetensors')), readFileSync(join(dir, 'whole', 'model.safetensors')));
});

test('pretrain with 2 kernel threads gives the same weights as 1 thread', () => {
  const dir = tempDir();
  const data = smallData(dir, 256);
  const run = (threads: number): Buffer => {
    const out = join(dir, `t${threads}`);
    const r = runCli(['pretrain', '--config', BUNDLED, '--data', data, '--out', out, '--batch', '64', '--max-iters', '3', '--threads', String(threads), '--seed', '3']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${threads} thread`));
    return readFileSync(join(out, 'model.safetensors'));
  };
  assert.deepEqual(run(2), run(1));
});

test('pretrain refuses bad options and data with one line', () => {
  const dir = tempDir();
  const data = smallData(dir, 64);
  const cases: Array<[string[], RegExp]> = [
    [['--config', BUNDLED, '--data', join(dir, 'nothing'), '--out', join(dir, 'a')], /no such file or folder/],
    [['--config', BUNDLED, '--data', 'fashion-mnist:training', '--out', join(dir, 'a')], /fashion-mnist:train or fashion-mnist:test/],
    [['--config', BUNDLED, '--data', data, '--out', join(dir, 'a'), '--masking', 'checker'], /random, block or grid/],
    [['--config', BUNDLED, '--data', data, '--out', join(dir, 'a'), '--batch', '0'], /--batch/],
    [['--config', BUNDLED, '--data', data, '--out', join(dir, 'a'), '--batch', '128'], /no full step/],
    [['--config', BUNDLED, '--data', data, '--out', join(dir, 'a'), '--blr', '-1'], /--blr/],
    [['--data', data, '--out', join(dir, 'a')], /needs --config/],
    [['--resume', '--data', data, '--out', join(dir, 'none')], /no checkpoint.safetensors/],
    [['--config', BUNDLED, '--data', data, '--out', join(dir, 'a'), '--mask-ratio', '0.99'], /keeps no patch/],
  ];
  for (const [args, why] of cases) {
    const r = runCli(['pretrain', ...args]);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, why, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  // A folder that holds a run is not overwritten without --resume.
  const ok = runCli(['pretrain', '--config', BUNDLED, '--data', data, '--out', join(dir, 'b'), '--batch', '32', '--max-iters', '1']);
  assert.equal(ok.status, 0, ok.stderr);
  const again = runCli(['pretrain', '--config', BUNDLED, '--data', data, '--out', join(dir, 'b'), '--batch', '32']);
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /pass --resume/);
});
