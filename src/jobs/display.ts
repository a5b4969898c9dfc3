/** Model pixels back to displayable 8-bit images: undo the preprocessor's normalisation and rescale. */
import type { PreprocessorConfig } from '../image/preprocess.js';

/** An 8-bit image, interleaved (1 = gray, 3 = RGB). */
export interface Image8 {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** [C,H,W] normalised pixels → 8-bit image: x·std + mean, then / rescale_factor, rounded and clamped. */
export function toImage8(pixels: Float32Array, channels: 1 | 3, size: number, pp: PreprocessorConfig): Image8 {
  const data = new Uint8Array(size * size * channels);
  const scale = pp.doRescale ? 1 / pp.rescaleFactor : 1;
  for (let c = 0; c < channels; c++) {
    const mean = pp.doNormalize ? pp.imageMean[c] : 0;
    const std = pp.doNormalize ? pp.imageStd[c] : 1;
    for (let i = 0; i < size * size; i++) {
      const v = (pixels[c * size * size + i] * std + mean) * scale;
      data[i * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { width: size, height: size, channels, data };
}
