/** `edge-mae score`: per-image reconstruction error (normalised-pixel loss over K masks) as CSV or JSON lines. */
import { score } from '../jobs/score.js';
import { checkOutputPath, writeFileAtomic } from '../node/atomic-write.js';
import { UsageError } from '../errors.js';
import { type ModelArgs, loadModel } from './model-args.js';
import { type ImageSourceArgs, imageItems } from './image-sources.js';
import { DEFAULT_IMAGE_BATCH, SkippedImages, pixelBatches } from './image-batches.js';
import { progress } from './progress.js';

export interface ScoreArgs extends ImageSourceArgs, Pick<ModelArgs, 'model' | 'threads' | 'device' | 'batch'> {
  maskRatio?: number;
  repeats?: number;
  seed?: number;
  format?: 'csv' | 'jsonl';
  out?: string;
}

const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export async function runScore(a: ScoreArgs, log: (line: string) => void, warn: (line: string) => void): Promise<void> {
  const format = a.format ?? (a.out && /\.jsonl?$/i.test(a.out) ? 'jsonl' : 'csv');
  if (format !== 'csv' && format !== 'jsonl') throw new UsageError(`--format must be csv or jsonl, got '${format}'`);
  if (a.out) checkOutputPath(a.out);
  const items = imageItems(a);
  const model = await loadModel({ ...a, batch: a.batch ?? DEFAULT_IMAGE_BATCH });
  try {
    const lines: string[] = format === 'csv' ? ['image,score,loss'] : [];
    const bar = progress('score', items.length);
    let total = 0, totalLoss = 0, count = 0;
    const skipped = new SkippedImages(warn);
    for (const b of pixelBatches(items, model, model.maxBatch, (why) => { skipped.skip(why); bar.tick(1); })) {
      skipped.loadedSome();
      const scores = await score(model, b.pixels, { batch: b.batch, maskRatio: a.maskRatio, repeats: a.repeats, seed: a.seed, firstIndex: b.firstIndex });
      scores.forEach((s, i) => {
        lines.push(format === 'csv' ? `${csvField(b.names[i])},${s.score},${s.loss}` : JSON.stringify({ image: b.names[i], score: s.score, loss: s.loss }));
        total += s.score;
        totalLoss += s.loss;
        count++;
      });
      bar.tick(b.batch);
    }
    bar.stop();
    skipped.check();
    const text = lines.join('\n') + '\n';
    if (a.out) writeFileAtomic(a.out, text);
    else process.stdout.write(text);
    const summary = `score: ${count} image(s), mask ratio ${a.maskRatio ?? model.config.maskRatio}, ${a.repeats ?? 1} mask(s) each, mean score (loss_norm_pix) ${(total / count).toFixed(6)}, mean loss ${(totalLoss / count).toFixed(6)} (${model.backendDescription})`;
    (a.out ? log : warn)(a.out ? `${summary} → ${a.out}` : summary);
  } finally {
    model.dispose();
  }
}
