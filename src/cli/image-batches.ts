/**
 * Images → batches of model pixels. A bad image (unreadable, truncated, unsupported) is reported by
 * through `skip` (its error message names the file) and left out; the rest of its batch still runs.
 */
import { EdgeMaeError, ImageError } from '../errors.js';
import { checkImageSize, preprocessImage } from '../image/preprocess.js';
import type { MaeModel } from '../model.js';
import type { ImageItem } from '../node/image-files.js';
import { imagePixels } from '../patchify.js';

/** Images per batch at most: a batch's pixels are held at once (1024 vit-mae-base images are 616 MB). */
export const MAX_BATCH_IMAGES = 1024;

/** Images per kernel call of the image commands unless --batch says otherwise. */
export const DEFAULT_IMAGE_BATCH = 64;

export interface PixelBatch {
  names: string[];
  /** [N, C, H, W] */
  pixels: Float32Array;
  batch: number;
  /** Position of the first image of this batch among all images that loaded. */
  firstIndex: number;
}

export function* pixelBatches(items: readonly ImageItem[], model: MaeModel, batchSize: number, skip: (why: string) => void): Generator<PixelBatch> {
  const per = imagePixels(model.config);
  let index = 0;
  for (let i = 0; i < items.length; i += batchSize) {
    const names: string[] = [];
    const parts: Float32Array[] = [];
    for (const item of items.slice(i, i + batchSize)) {
      try {
        const img = item.load({ checkSize: (s) => checkImageSize(s, model.preprocessor, item.name) });
        parts.push(preprocessImage(img, model.preprocessor, model.config.numChannels as 1 | 3));
        names.push(item.name);
      } catch (e) {
        if (!(e instanceof EdgeMaeError)) throw e;
        skip(e.message);
      }
    }
    if (parts.length === 0) continue;
    const pixels = new Float32Array(parts.length * per);
    parts.forEach((p, k) => pixels.set(p, k * per));
    yield { names, pixels, batch: parts.length, firstIndex: index };
    index += parts.length;
  }
}

/**
 * Reports images that could not be used. Warnings wait until one image has loaded: when none
 * does, the command fails with the first reason as its one line instead.
 */
export class SkippedImages {
  private pending: string[] = [];
  private loaded = false;

  constructor(private readonly warn: (line: string) => void) {}

  /** `why` already names the file. */
  readonly skip = (why: string): void => {
    if (this.loaded) this.warn(`skipped ${why}`);
    else this.pending.push(why);
  };

  loadedSome(): void {
    if (this.loaded) return;
    this.loaded = true;
    for (const why of this.pending) this.warn(`skipped ${why}`);
    this.pending = [];
  }

  /** Throws when no image loaded at all. */
  check(): void {
    if (!this.loaded) throw new ImageError(this.pending[0] ?? 'no image could be read');
  }
}
