/** Images → one pixel_values batch [N, C, H, W] for a model. */
import type { MaeModel } from '../model.js';
import type { RawImage } from '../image/decode.js';
import { preprocessImage } from '../image/preprocess.js';
import { imagePixels } from '../patchify.js';

export function preprocess(model: MaeModel, images: readonly RawImage[]): Float32Array {
  const C = model.config.numChannels as 1 | 3;
  const per = imagePixels(model.config);
  const out = new Float32Array(images.length * per);
  images.forEach((img, i) => out.set(preprocessImage(img, model.preprocessor, C), i * per));
  return out;
}
