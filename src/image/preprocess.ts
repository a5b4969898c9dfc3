/**
 * Image → `pixel_values`, exactly as Hugging Face's `ViTImageProcessor` prepares images for
 * ViT-MAE (transformers' image_processing_vit.py with Pillow):
 *
 *   convert("RGB")  (or convert("L") for a 1-channel model; see rgb.ts)
 *   → resize((width, height), BILINEAR) on uint8 (Pillow's antialiased fixed-point resampler,
 *     resize.ts; skipped when the size is already right, as Pillow returns a copy then)
 *   → x · rescale_factor   (float64 product stored as float32)
 *   → (x − mean) / std     (float32 arithmetic, mean and std rounded to float32)
 *   → channels-first [C, H, W] float32.
 *
 * Every step rounds where numpy does, so the values are bit-identical to the reference when the
 * decoded pixels are (PNG); JPEG decoders differ slightly (see decode.ts).
 */
import { ConfigError, ImageError } from '../errors.js';
import type { RawImage } from './decode.js';
import type { ImageSize } from './image-size.js';
import { resizeBilinearPil } from './resize.js';
import { toChannels8 } from './rgb.js';

export interface PreprocessorConfig {
  doResize: boolean;
  size: { height: number; width: number };
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: number[];
  imageStd: number[];
}

/** torchvision/timm ImageNet statistics, which MAE was trained with (facebook/vit-mae-*). */
export const IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225];
/** transformers' IMAGENET_STANDARD_MEAN/STD: ViTImageProcessor's defaults for absent fields. */
const STANDARD_MEAN_STD = 0.5;
/** PIL.Image.BILINEAR, the only `resample` implemented. */
const PIL_BILINEAR = 2;

/**
 * Parses a Hugging Face `preprocessor_config.json` object (or `undefined` when there is none)
 * for a model with `imageSize` × `imageSize` inputs and `numChannels` (1 or 3) channels.
 *
 * Fields: do_resize, size ({height, width}, an int for a square, or {shortest_edge: n}, taken as
 * n × n: a ViT-MAE only accepts square inputs of its image_size), resample (must be 2, BILINEAR),
 * do_rescale, rescale_factor, do_normalize, image_mean, image_std (a list of numChannels values, or
 * one number for every channel). do_center_crop: true is refused (ViTImageProcessor has no crop).
 *
 * Defaults:
 * - no file at all: resize to image_size, rescale by 1/255, normalise with the ImageNet mean/std
 *   MAE was trained with ([0.485, 0.456, 0.406] / [0.229, 0.224, 0.225]) for 3 channels, and
 *   [0.5] / [0.5] for 1 channel (there is no standard gray statistic);
 * - a file that leaves a field out: ViTImageProcessor's own default for that field (do_* true,
 *   rescale 1/255, mean and std 0.5 per channel), except `size`, which defaults to image_size
 *   (ViTImageProcessor's default is 224 × 224, the same for the published models).
 *
 * `size` must match the model's image_size when do_resize is on. `source` names the file in errors.
 */
export function parsePreprocessorConfig(
  json: unknown | undefined,
  imageSize: number,
  numChannels: number,
  source = 'preprocessor_config.json',
): PreprocessorConfig {
  if (!Number.isInteger(imageSize) || imageSize < 1) throw new ConfigError(`${source}: model image_size must be a positive integer, got ${imageSize}`);
  if (numChannels !== 1 && numChannels !== 3) {
    throw new ConfigError(`${source}: image preprocessing supports 1- or 3-channel models, this one has num_channels ${numChannels}`);
  }
  if (json === undefined || json === null) {
    return {
      doResize: true,
      size: { height: imageSize, width: imageSize },
      doRescale: true,
      rescaleFactor: 1 / 255,
      doNormalize: true,
      imageMean: numChannels === 3 ? [...IMAGENET_DEFAULT_MEAN] : [0.5],
      imageStd: numChannels === 3 ? [...IMAGENET_DEFAULT_STD] : [0.5],
    };
  }
  if (typeof json !== 'object' || Array.isArray(json)) throw new ConfigError(`${source}: expected a JSON object with image processor fields`);
  const j = json as Record<string, unknown>;
  const has = (k: string) => k in j && j[k] !== null && j[k] !== undefined;

  const bool = (k: string, dflt: boolean): boolean => {
    if (!has(k)) return dflt;
    if (typeof j[k] !== 'boolean') throw new ConfigError(`${source}: field '${k}' must be true or false, got ${JSON.stringify(j[k])}`);
    return j[k] as boolean;
  };
  const posInt = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`${source}: ${what} must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };

  const doResize = bool('do_resize', true);
  let size = { height: imageSize, width: imageSize };
  if (has('size')) {
    const s = j.size;
    if (typeof s === 'number') {
      const n = posInt(s, "field 'size'");
      size = { height: n, width: n };
    } else if (typeof s === 'object' && !Array.isArray(s)) {
      const o = s as Record<string, unknown>;
      if ('height' in o || 'width' in o) {
        size = { height: posInt(o.height, "field 'size.height'"), width: posInt(o.width, "field 'size.width'") };
      } else if ('shortest_edge' in o && !('longest_edge' in o)) {
        const n = posInt(o.shortest_edge, "field 'size.shortest_edge'");
        size = { height: n, width: n };
      } else {
        throw new ConfigError(`${source}: field 'size' must be {"height", "width"}, an integer or {"shortest_edge"}, got ${JSON.stringify(s)}`);
      }
    } else {
      throw new ConfigError(`${source}: field 'size' must be {"height", "width"}, an integer or {"shortest_edge"}, got ${JSON.stringify(s)}`);
    }
  }
  if (doResize && (size.height !== imageSize || size.width !== imageSize)) {
    throw new ConfigError(`${source}: field 'size' is ${size.height}×${size.width} but the model's image_size is ${imageSize} (a ${imageSize}×${imageSize} input is needed)`);
  }
  if (!doResize) size = { height: imageSize, width: imageSize };
  if (has('resample') && j.resample !== PIL_BILINEAR) {
    throw new ConfigError(`${source}: field 'resample' is ${JSON.stringify(j.resample)}; only 2 (PIL BILINEAR) is implemented`);
  }
  if (bool('do_center_crop', false)) throw new ConfigError(`${source}: field 'do_center_crop' is true; center cropping is not implemented (ViTImageProcessor does not crop)`);

  const doRescale = bool('do_rescale', true);
  let rescaleFactor = 1 / 255;
  if (has('rescale_factor')) {
    const v = j.rescale_factor;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`${source}: field 'rescale_factor' must be a positive number, got ${JSON.stringify(v)}`);
    rescaleFactor = v;
  }
  const doNormalize = bool('do_normalize', true);
  const perChannel = (k: string, nonzero: boolean): number[] => {
    if (!has(k)) return new Array<number>(numChannels).fill(STANDARD_MEAN_STD);
    const v = j[k];
    const list = typeof v === 'number' ? new Array<number>(numChannels).fill(v) : v;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new ConfigError(`${source}: field '${k}' must be a number or a list of numbers, got ${JSON.stringify(v)}`);
    }
    if (list.length !== numChannels) {
      throw new ConfigError(`${source}: field '${k}' has ${list.length} values but the model has ${numChannels} channel${numChannels === 1 ? '' : 's'}`);
    }
    if (nonzero && list.some((x) => x === 0)) throw new ConfigError(`${source}: field '${k}' must not contain 0`);
    return [...(list as number[])];
  };
  const imageMean = perChannel('image_mean', false);
  const imageStd = perChannel('image_std', true);
  return { doResize, size, doRescale, rescaleFactor, doNormalize, imageMean, imageStd };
}

/**
 * Refuses an image that preprocessImage would refuse for its size, from the size alone (the
 * header's, before decoding: pass it as DecodeLimits.checkSize): with do_resize false the image
 * must already have the model's size. `name` names the image in the ImageError.
 */
export function checkImageSize(size: ImageSize, pp: PreprocessorConfig, name = 'image'): void {
  const { height: H, width: W } = pp.size;
  if (!pp.doResize && (size.width !== W || size.height !== H)) {
    throw new ImageError(`${name}: image is ${size.width}×${size.height} but the model needs ${W}×${H}, and do_resize is false in the preprocessor config`);
  }
}

/**
 * Decoded image → `pixel_values` for one image: a [C, H, W] Float32Array (C = numChannels,
 * H × W = pp.size). With do_resize false the image must already have that size (Hugging Face does
 * not resize then either); otherwise an ImageError names both sizes.
 */
export function preprocessImage(img: RawImage, pp: PreprocessorConfig, numChannels: 1 | 3): Float32Array {
  const name = img.name ?? 'image';
  if (numChannels !== 1 && numChannels !== 3) throw new ImageError(`${name}: cannot make ${numChannels}-channel pixel values (1 or 3)`);
  if (pp.imageMean.length !== numChannels || pp.imageStd.length !== numChannels) {
    throw new ConfigError(`preprocessor config: image_mean/image_std have ${pp.imageMean.length}/${pp.imageStd.length} values for a ${numChannels}-channel model`);
  }
  const { height: H, width: W } = pp.size;
  const C = numChannels;
  let px = toChannels8(img, C);
  if (img.width !== W || img.height !== H) {
    checkImageSize(img, pp, name);
    px = resizeBilinearPil(px, img.width, img.height, C, W, H);
  }
  const f32 = Math.fround;
  // Per-value lookup tables (256 entries per channel) hold the exact float32 results.
  const out = new Float32Array(C * H * W);
  const plane = H * W;
  for (let c = 0; c < C; c++) {
    const mean = f32(pp.imageMean[c]!);
    const std = f32(pp.imageStd[c]!);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      let x = pp.doRescale ? f32(v * pp.rescaleFactor) : v;
      if (pp.doNormalize) x = f32(f32(x - mean) / std);
      lut[v] = x;
    }
    const o = c * plane;
    for (let i = 0; i < plane; i++) out[o + i] = lut[px[i * C + c]!]!;
  }
  return out;
}
