/**
 * Training speed in the page (Chromium, the model worker, 1 and 2 kernel threads) beside
 * `edge-mae pretrain` in Node for the same run: the bundled model continued on the first N
 * Fashion-MNIST training images (written as PNG files, picked in the page's training panel as a
 * user would), batch 256, the engines taking turns. images/s: the median of the steps' own figures
 * after the first (which compiles the programs). Each browser run's losses are also checked
 * against Node's, step for step.
 *
 * Run: npm run build && node dist/bench/browser-train.js [--images 1024] [--batch 256] [--epochs 2] [--rounds 2] [--out FILE]
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fashionMnistImage } from '../src/data/fashion-mnist.js';
import { encodePng } from '../src/image/encode-png.js';
import { loadFashionMnist } from '../src/node/fashion-mnist.js';
import { DEFAULT_MODEL_DIR, PACKAGE_ROOT } from '../src/node/paths.js';
import { chromiumMissing, openBuiltPage } from '../test/support/chromium-page.js';
import { describeMachine } from './machine.js';

interface Step { iter: number; loss: number; imagesPerS: number }

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('images', 1024), BATCH = arg('batch', 256), EPOCHS = arg('epochs', 2), ROUNDS = arg('rounds', 2);
const outArg = process.argv.indexOf('--out');

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const speed = (steps: Step[]): number => median(steps.slice(1).map((s) => s.imagesPerS));

async function main(): Promise<void> {
  if (chromiumMissing) throw new Error(chromiumMissing);
  const machine = describeMachine();
  const o = await openBuiltPage({ stepMs: Number(process.env.BENCH_STEP_MS ?? 600_000), viewport: { width: 1100, height: 1600 } });
  try {
    // The data: Fashion-MNIST training images 0…N−1 as PNG files, for the page and the CLI alike.
    const data = join(o.dir, 'data');
    mkdirSync(data);
    const train = loadFashionMnist('train');
    const files: string[] = [];
    for (let i = 0; i < N; i++) {
      const img = fashionMnistImage(train.images, i);
      const f = join(data, `train-${String(i).padStart(5, '0')}.png`);
      writeFileSync(f, encodePng(img.data as Uint8Array, img.width, img.height, 1));
      files.push(f);
    }
    const { page } = o;
    await page.goto(o.server.url);
    await page.waitForSelector('#status[data-state="ready"]', { state: 'attached' });
    await page.setInputFiles('#train-files', files);
    await page.waitForFunction((n) => document.getElementById('train-data-info')!.textContent!.startsWith(`${n} image`), N)
      .catch(async (e: Error) => { throw new Error(`the page did not take the ${N} images: '${await page.textContent('#train-data-info')}' / '${await page.textContent('#train-status')}' (${e.message.split('\n')[0]})`); });

    const node = async (threads: number): Promise<Step[]> => {
      const out = join(o.dir, `node-${threads}-${Math.random().toString(36).slice(2)}`);
      await promisify(execFile)(process.execPath, [join(PACKAGE_ROOT, 'bin', 'edge-mae.js'), 'pretrain', '--init', DEFAULT_MODEL_DIR, '--data', data, '--out', out,
        '--batch', String(BATCH), '--epochs', String(EPOCHS), '--seed', '0', '--threads', String(threads)]);
      return readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => { const j = JSON.parse(l) as { iter: number; loss: number; images_per_s: number }; return { iter: j.iter, loss: j.loss, imagesPerS: j.images_per_s }; });
    };
    const browser = async (threads: number): Promise<{ steps: Step[]; longestTaskMs: number; backend: string; memory: string }> => {
      await page.selectOption('#train-init', 'bundled');
      await page.fill('#train-batch', String(BATCH));
      await page.fill('#train-epochs', String(EPOCHS));
      await page.fill('#train-steps', '');
      await page.fill('#train-seed', '0');
      await page.selectOption('#train-threads', String(threads));
      await page.click('#train-start');
      await page.waitForSelector('#train-stats:is([data-state="done"], [data-state="stopped"], [data-state="error"])', { state: 'attached', timeout: 600_000 });
      if (await page.getAttribute('#train-stats', 'data-state') !== 'done') throw new Error(`browser run: ${await page.textContent('#train-status')}`);
      return {
        steps: JSON.parse((await page.getAttribute('#train-stats', 'data-steps'))!) as Step[],
        longestTaskMs: Number(await page.getAttribute('#train-stats', 'data-longest-task-ms')),
        backend: (await page.textContent('#t-backend'))!, memory: (await page.textContent('#t-memory'))!,
      };
    };

    const runs: Record<string, unknown>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const threads of [1, 2]) {
        const n = await node(threads);
        const b = await browser(threads);
        const same = b.steps.length === n.length && b.steps.every((s, i) => s.loss === n[i]!.loss);
        const row = { round, threads, nodeImagesPerS: speed(n), chromiumImagesPerS: speed(b.steps), chromiumOverNode: speed(b.steps) / speed(n), steps: n.length, sameLosses: same, longestTaskMs: b.longestTaskMs, backend: b.backend, memory: b.memory };
        runs.push(row);
        process.stdout.write(`${JSON.stringify(row)}\n`);
        if (!same) throw new Error(`threads ${threads}: the page's losses differ from Node's`);
      }
    }
    const summary = [1, 2].map((threads) => {
      const rs = runs.filter((r) => r.threads === threads);
      return { threads, nodeImagesPerS: median(rs.map((r) => r.nodeImagesPerS as number)), chromiumImagesPerS: median(rs.map((r) => r.chromiumImagesPerS as number)) };
    });
    for (const s of summary) process.stdout.write(`threads ${s.threads}: Node ${s.nodeImagesPerS.toFixed(0)} images/s, Chromium ${s.chromiumImagesPerS.toFixed(0)} images/s (×${(s.chromiumImagesPerS / s.nodeImagesPerS).toFixed(2)})\n`);
    const version = (await o.context.browser()?.version()) ?? (await page.evaluate(() => navigator.userAgent));
    const result = { bench: 'browser-train', date: new Date().toISOString(), machine: { ...machine, loadavgEnd: os.loadavg() }, chromium: version, run: { images: N, batch: BATCH, epochs: EPOCHS, init: DEFAULT_MODEL_DIR, seed: 0 }, runs, summary };
    const out = outArg > 0 ? process.argv[outArg + 1]! : join(PACKAGE_ROOT, 'bench', 'results', `${result.date.slice(0, 10)}-${machine.slug}-browser-train.json`);
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`→ ${out}\n`);
  } finally {
    await o.close();
  }
}

main().catch((e: Error) => { process.stderr.write(`bench/browser-train: ${e.message}\n`); process.exitCode = 1; });
