/** `edge-mae encode IMAGES…`: one pooled embedding per image, to JSON lines or safetensors. */
import { embed, type Pooling } from '../jobs/embed.js';
import { encodeSafetensors } from '../safetensors.js';
import { checkOutputPath, writeFileAtomic } from '../node/atomic-write.js';
import { UsageError } from '../errors.js';
import { type ModelArgs, loadModel } from './model-args.js';
import { type ImageSourceArgs, imageItems } from './image-sources.js';
import { DEFAULT_IMAGE_BATCH, SkippedImages, pixelBatches } from './image-batches.js';
import { progress } from './progress.js';

export interface EncodeImagesArgs extends ImageSourceArgs, Pick<ModelArgs, 'model' | 'threads' | 'device' | 'batch'> {
  out: string;
  pool?: Pooling;
}

export async function runEncodeImages(a: EncodeImagesArgs, log: (line: string) => void, warn: (line: string) => void): Promise<void> {
  const asJsonl = /\.jsonl?$/i.test(a.out);
  if (!asJsonl && !/\.safetensors$/i.test(a.out)) throw new UsageError(`--out '${a.out}': use a .jsonl or .safetensors file`);
  const pool = a.pool ?? 'mean';
  checkOutputPath(a.out);
  const items = imageItems(a);
  const model = await loadModel({ ...a, batch: a.batch ?? DEFAULT_IMAGE_BATCH });
  try {
    const D = model.config.hiddenSize;
    const names: string[] = [];
    const chunks: Float32Array[] = [];
    const bar = progress('encode', items.length);
    const skipped = new SkippedImages(warn);
    for (const b of pixelBatches(items, model, model.maxBatch, (why) => { skipped.skip(why); bar.tick(1); })) {
      skipped.loadedSome();
      chunks.push(await embed(model, b.pixels, { batch: b.batch, pool }));
      names.push(...b.names);
      bar.tick(b.batch);
    }
    bar.stop();
    skipped.check();
    const all = new Float32Array(names.length * D);
    let at = 0;
    for (const c of chunks) { all.set(c, at); at += c.length; }
    if (asJsonl) {
      const lines = names.map((name, i) => JSON.stringify({ image: name, embedding: Array.from(all.subarray(i * D, (i + 1) * D)) }));
      writeFileAtomic(a.out, lines.join('\n') + '\n');
    } else {
      writeFileAtomic(a.out, encodeSafetensors({ embeddings: { dtype: 'F32', shape: [names.length, D], data: all } }, { images: JSON.stringify(names), pool }));
    }
    log(`encode: ${names.length} image(s) → ${pool}-pooled embeddings [${names.length},${D}] → ${a.out}${names.length < items.length ? ` (${items.length - names.length} skipped)` : ''} (${model.backendDescription})`);
  } finally {
    model.dispose();
  }
}
