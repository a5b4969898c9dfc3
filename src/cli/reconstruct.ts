/** `edge-mae reconstruct`: the MAE paper's figure (masked | reconstruction | original) for images. */
import { resolve } from 'node:path';
import { reconstruct, type Reconstruction } from '../jobs/reconstruct.js';
import { figureSize, renderFigure } from '../jobs/figure.js';
import { encodePng } from '../image/encode-png.js';
import { checkOutputPath, writeFileAtomic } from '../node/atomic-write.js';
import { DEFAULT_SAMPLES_DIR } from '../node/paths.js';
import { UsageError } from '../errors.js';
import { type ModelArgs, loadModel } from './model-args.js';
import { type ImageSourceArgs, imageItems } from './image-sources.js';
import { DEFAULT_IMAGE_BATCH, SkippedImages, pixelBatches } from './image-batches.js';

export interface ReconstructArgs extends ImageSourceArgs, Pick<ModelArgs, 'model' | 'threads' | 'device' | 'batch'> {
  out: string;
  maskRatio?: number;
  seed?: number;
  scale?: number;
  showPrediction?: boolean;
}

export async function runReconstruct(a: ReconstructArgs, log: (line: string) => void, warn: (line: string) => void): Promise<void> {
  if (!/\.png$/i.test(a.out)) throw new UsageError(`--out '${a.out}': the figure is a PNG file; use a .png name`);
  checkOutputPath(a.out);
  const items = imageItems(a, a.model ? undefined : DEFAULT_SAMPLES_DIR);
  const model = await loadModel({ ...a, batch: a.batch ?? DEFAULT_IMAGE_BATCH });
  try {
    // Refused before any forward pass when the figure could not be held (images that fail to load only make it smaller).
    figureSize(items.length, model.config.imageSize, { scale: a.scale, showPrediction: a.showPrediction });
    const rows: Reconstruction[] = [];
    const names: string[] = [];
    const skipped = new SkippedImages(warn);
    for (const b of pixelBatches(items, model, model.maxBatch, skipped.skip)) {
      skipped.loadedSome();
      // Masks per image from (seed, position) so a figure does not change with batching.
      const seed = ((a.seed ?? 0) + b.firstIndex) >>> 0;
      rows.push(...await reconstruct(model, b.pixels, model.preprocessor, { batch: b.batch, maskRatio: a.maskRatio, seed }));
      names.push(...b.names);
    }
    skipped.check();
    const fig = renderFigure(rows, { scale: a.scale, showPrediction: a.showPrediction });
    writeFileAtomic(a.out, encodePng(fig.data, fig.width, fig.height, 3));
    log('image\tloss\tloss_norm_pix');
    rows.forEach((r, i) => log(`${names[i]}\t${r.loss.toFixed(6)}\t${r.lossNormPix.toFixed(6)}`));
    log(`wrote ${resolve(a.out)} (${rows.length} rows: masked ${Math.round((a.maskRatio ?? model.config.maskRatio) * 100)}% | reconstruction | ${a.showPrediction ? 'prediction | ' : ''}original; ${model.backendDescription})`);
  } finally {
    model.dispose();
  }
}
