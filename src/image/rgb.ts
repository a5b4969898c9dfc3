/**
 * Colour conversion to 8-bit RGB or luma, the way Pillow's `Image.convert("RGB")` and
 * `Image.convert("L")` do it after `Image.open()` (libImaging Convert.c / Unpack.c,
 * PngImagePlugin's mode table):
 *
 * - gray: replicated into R, G and B; gray+alpha and RGBA: alpha is dropped, never composited
 *   (no background colour is blended in, transparent pixels keep whatever colour they store);
 * - 16-bit PNGs: Pillow does NOT scale them. RGB, RGBA and gray+alpha 16-bit PNGs are read with
 *   the unpackers "RGB;16B", "RGBA;16B" and "LA;16B", which keep the most significant byte of each
 *   sample (v >> 8, truncating, no rounding). A 16-bit gray PNG opens as a 32-bit integer image
 *   (mode "I" in Pillow 9.4, the release the reference used; "I;16" in later releases) holding 0…65535, and both `i2rgb` and `I16_RGB` /
 *   `i2l` / `I16_L` CLIP it: min(v, 255), so most 16-bit gray photographs come out almost white.
 *   That is what Hugging Face's processor sees, so it is reproduced here.
 * - luma (`convert("L")` from RGB, RGBA or palette): L = (R·19595 + G·38470 + B·7471 + 0x8000) >> 16,
 *   i.e. the ITU-R 601-2 weights 0.299/0.587/0.114 in 16-bit fixed point, rounded to nearest
 *   (Pillow ≥ 8; older releases truncated R·299/1000 + G·587/1000 + B·114/1000). The weights sum to
 *   65536, so a gray pixel keeps its value exactly.
 */
import type { RawImage } from './decode.js';

/** 16-bit sample → 8 bits as Pillow's unpackers do for RGB/RGBA/LA: the high byte. */
const hi = (v: number): number => v >>> 8;
/** 16-bit gray sample → 8 bits as Pillow's I → RGB/L conversion does: clipped. */
const clip = (v: number): number => (v > 255 ? 255 : v);

function check(img: RawImage): void {
  const { width, height, channels, bitDepth, data } = img;
  if (![1, 2, 3, 4].includes(channels) || (bitDepth !== 8 && bitDepth !== 16)) {
    throw new RangeError(`image: unsupported layout (${channels} channels, ${bitDepth} bits)`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`image: ${width}×${height}×${channels} needs ${width * height * channels} samples, got ${data.length}`);
  }
}

/** Interleaved 8-bit RGB (width·height·3 bytes), as Pillow's `convert("RGB")`. */
export function toRgb8(img: RawImage): Uint8Array {
  check(img);
  const { width, height, channels: C, bitDepth, data } = img;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  if (C === 3 && bitDepth === 8) {
    out.set(data as Uint8Array);
    return out;
  }
  // Gray source: 16-bit gray clips, 16-bit gray+alpha keeps the high byte.
  const to8 = bitDepth === 8 ? (v: number) => v : C === 1 ? clip : hi;
  if (C <= 2) {
    for (let i = 0; i < n; i++) {
      const v = to8(data[i * C]!);
      out[i * 3] = v;
      out[i * 3 + 1] = v;
      out[i * 3 + 2] = v;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const s = i * C;
    out[i * 3] = to8(data[s]!);
    out[i * 3 + 1] = to8(data[s + 1]!);
    out[i * 3 + 2] = to8(data[s + 2]!);
  }
  return out;
}

/** Pillow's RGB → L: ITU-R 601-2 luma in 16-bit fixed point with rounding. */
export function lumaOf(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/** One 8-bit channel (width·height bytes), as Pillow's `convert("L")`. */
export function toLuma8(img: RawImage): Uint8Array {
  check(img);
  const { width, height, channels: C, bitDepth, data } = img;
  const n = width * height;
  const out = new Uint8Array(n);
  if (C <= 2) {
    const to8 = bitDepth === 8 ? (v: number) => v : C === 1 ? clip : hi;
    for (let i = 0; i < n; i++) out[i] = to8(data[i * C]!);
    return out;
  }
  const to8 = bitDepth === 8 ? (v: number) => v : hi;
  for (let i = 0; i < n; i++) {
    const s = i * C;
    out[i] = lumaOf(to8(data[s]!), to8(data[s + 1]!), to8(data[s + 2]!));
  }
  return out;
}

/** Converts to `channels` 8-bit channels: 3 → `toRgb8`, 1 → `toLuma8`. */
export function toChannels8(img: RawImage, channels: 1 | 3): Uint8Array {
  return channels === 3 ? toRgb8(img) : toLuma8(img);
}
