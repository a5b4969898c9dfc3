/**
 * Image decoding: PNG and JPEG bytes → interleaved pixels, edge-safe (no Node APIs).
 *
 * PNG is decoded here, on top of fflate's zlib inflate: every colour type and bit depth of the
 * PNG specification (gray 1/2/4/8/16, RGB 8/16, palette 1/2/4/8, gray+alpha 8/16, RGBA 8/16),
 * non-interlaced and Adam7, with CRC checks. (fast-png was tried first and dropped: it mis-decodes
 * interlaced images of less than 8 bits per sample and cannot tell a short zlib stream from a
 * complete one.) Samples keep their depth (16-bit stays 16-bit: see rgb.ts for how Pillow maps
 * it to 8 bits); sub-byte gray is scaled to 8 bits as Pillow does (×255, ×85, ×17); palette
 * images are expanded to RGB, or RGBA when a tRNS chunk gives the palette alpha. Colour-key tRNS
 * on gray/RGB images, gamma, ICC profiles and other colour metadata are ignored, as Pillow does.
 *
 * JPEG is decoded by jpeg.ts, which reproduces libjpeg-turbo's default output (islow IDCT, fancy
 * upsampling, its YCbCr tables), i.e. the pixels Pillow gets; baseline and progressive. (jpeg-js
 * was tried first and dropped: its float colour conversion and nearest-neighbour chroma
 * upsampling put 17% of the preprocessed values of the test JPEG more than 3 levels away.) Gray
 * JPEGs come out with one channel. EXIF orientation is not applied (neither Pillow's open() nor
 * Hugging Face applies it).
 *
 * Both decoders check the size in the header against DecodeLimits before they allocate for the
 * pixels, and their work is bounded by the input: PNG's zlib stream is inflated into exactly the
 * bytes the header calls for and refused when it holds more; JPEG bounds its scans (jpeg.ts).
 *
 * Every failure is an ImageError naming the file and the problem in one line.
 */
import { Unzlib } from 'fflate';
import { ImageError } from '../errors.js';
import type { ImageSize } from './image-size.js';
import { decodeJpeg, JpegError } from './jpeg.js';

export interface RawImage {
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  bitDepth: 8 | 16;
  /** Interleaved samples, row-major: width·height·channels values (Uint16Array when bitDepth is 16). */
  data: Uint8Array | Uint16Array;
  /** Where the image came from, for error messages (optional). */
  name?: string;
}

/**
 * Pillow refuses images with more than 2 × Image.MAX_IMAGE_PIXELS pixels (DecompressionBombError);
 * the same limit guards against huge allocations here.
 */
export const MAX_IMAGE_PIXELS = 2 * Math.floor((1024 * 1024 * 1024) / 4 / 3);

/** What decodeImage accepts, checked on the header's size before anything is allocated for the pixels. */
export interface DecodeLimits {
  /** Most pixels, width × height (default MAX_IMAGE_PIXELS). */
  maxPixels?: number;
  /** Longest side, pixels (default: only maxPixels applies). */
  maxSide?: number;
  /** Called with the header's size once the limits pass, before decoding; throws to refuse the image (e.g. checkImageSize for a model). */
  checkSize?: (size: ImageSize) => void;
}

function checkLimits(size: ImageSize, limits: DecodeLimits, name: string): void {
  const { width, height } = size;
  const maxPixels = limits.maxPixels ?? MAX_IMAGE_PIXELS;
  if (limits.maxSide !== undefined && (width > limits.maxSide || height > limits.maxSide)) {
    throw new ImageError(`${name}: image too large (${width}×${height} pixels, limit ${limits.maxSide} per side)`);
  }
  if (width * height > maxPixels) throw new ImageError(`${name}: image too large (${width}×${height} pixels, limit ${maxPixels})`);
  limits.checkSize?.(size);
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export type ImageFormat = 'png' | 'jpeg';

/** The format named by the magic bytes, or undefined. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8 && (bytes.length === 2 || bytes[2] === 0xff)) return 'jpeg';
  return undefined;
}

function describeMagic(bytes: Uint8Array): string {
  const b = bytes;
  const ascii = (s: string, at = 0) => [...s].every((c, i) => b[at + i] === c.charCodeAt(0));
  if (ascii('GIF8')) return 'GIF';
  if (ascii('RIFF') && ascii('WEBP', 8)) return 'WebP';
  if (ascii('BM')) return 'BMP';
  if ((ascii('II') && b[2] === 42 && b[3] === 0) || (ascii('MM') && b[2] === 0 && b[3] === 42)) return 'TIFF';
  if (ascii('ftyp', 4)) return 'HEIF/AVIF/MP4';
  if (ascii('\u00ff\u000a') || ascii('JXL ', 4)) return 'JPEG XL';
  if (ascii('<svg') || ascii('<?xml')) return 'SVG/XML';
  if (ascii('P') && b[1] !== undefined && b[1] >= 0x31 && b[1] <= 0x37) return 'PNM';
  return '';
}

/**
 * Decodes PNG or JPEG bytes (detected by their magic bytes). `name` (the file name) is used in
 * error messages and stored on the result. The size in the header must pass `limits` before any
 * pixel is decoded; a file whose header gives no size fails there.
 */
export function decodeImage(bytes: Uint8Array, name = 'image', limits: DecodeLimits = {}): RawImage {
  if (!(bytes instanceof Uint8Array)) throw new ImageError(`${name}: expected the file's bytes (a Uint8Array)`);
  if (bytes.length === 0) throw new ImageError(`${name}: empty file, not an image`);
  const format = sniffImageFormat(bytes);
  const check = (width: number, height: number) => checkLimits({ width, height }, limits, name);
  let img: RawImage;
  if (format === 'png') img = decodePngBytes(bytes, name, check);
  else if (format === 'jpeg') img = decodeJpegBytes(bytes, name, check);
  else {
    if (bytes.length < 8 && PNG_SIGNATURE.slice(0, bytes.length).every((b, i) => bytes[i] === b)) {
      throw new ImageError(`${name}: truncated PNG (${bytes.length} bytes, shorter than the signature)`);
    }
    const kind = describeMagic(bytes);
    throw new ImageError(
      `${name}: unsupported image format${kind ? ` (looks like ${kind})` : ' (unrecognised magic bytes)'}; supported: PNG, JPEG`,
    );
  }
  img.name = name;
  return img;
}

// ---------------------------------------------------------------------------------------------
// PNG

const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (PNG/zlib polynomial) of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

const COLOR_TYPES: Record<number, { channels: number; depths: number[]; what: string }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16], what: 'gray' },
  2: { channels: 3, depths: [8, 16], what: 'RGB' },
  3: { channels: 1, depths: [1, 2, 4, 8], what: 'palette' },
  4: { channels: 2, depths: [8, 16], what: 'gray+alpha' },
  6: { channels: 4, depths: [8, 16], what: 'RGBA' },
};

const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** Compressed bytes pushed to the inflater at a time: each push yields at most ~1032× as much. */
const INFLATE_CHUNK = 4096;

/**
 * Inflates a zlib stream into exactly `size` bytes (or fewer, when it ends early), refusing a
 * stream that holds more as soon as it yields the first byte too many. Input goes in small
 * chunks, so a bomb is stopped after one chunk's output. Inflating stops at the first chunk that
 * yields nothing: past the end of the stream the inflater would only buffer the rest.
 */
function inflateExactly(compressed: Uint8Array, size: number, fail: (problem: string) => never): Uint8Array {
  const out = new Uint8Array(size);
  let filled = 0;
  const z = new Unzlib((chunk) => {
    if (filled + chunk.length > size) fail(`corrupt PNG (image data inflates to more than the ${size} bytes its header calls for)`);
    out.set(chunk, filled);
    filled += chunk.length;
  });
  for (let at = 0; at < compressed.length; at += INFLATE_CHUNK) {
    const before = filled;
    z.push(compressed.subarray(at, at + INFLATE_CHUNK), false);
    if (filled === before) break;
  }
  z.push(new Uint8Array(0), true);
  return out.subarray(0, filled);
}

/** Bytes of the filtered rows (a filter byte each) of every pass, as the zlib stream must hold them. */
function inflatedSize(width: number, height: number, bitsPerPixel: number, interlace: number): number {
  let n = 0;
  for (const [x0, y0, dx, dy] of interlace === 1 ? ADAM7 : ([[0, 0, 1, 1]] as const)) {
    const pw = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const ph = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (pw > 0 && ph > 0) n += ph * (1 + Math.ceil((pw * bitsPerPixel) / 8));
  }
  return n;
}

function decodePngBytes(bytes: Uint8Array, name: string, checkSize: (width: number, height: number) => void): RawImage {
  const fail = (problem: string): never => {
    throw new ImageError(`${name}: ${problem}`);
  };
  let pos = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = -1;
  let interlace = 0;
  let palette: Uint8Array | undefined;
  let paletteAlpha: Uint8Array | undefined;
  /** [start, end) of each IDAT chunk's data, flat. */
  const idat: number[] = [];
  let idatBytes = 0;
  let sawIend = false;
  let first = true;
  while (pos < bytes.length) {
    if (pos + 8 > bytes.length) {
      if (idat.length > 0) break; // Pillow stops reading once it has the image data
      fail(`truncated PNG (chunk header cut at byte ${pos} of ${bytes.length})`);
    }
    const length = u32(bytes, pos);
    const type = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!, bytes[pos + 6]!, bytes[pos + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) fail(`corrupt PNG (invalid chunk type at byte ${pos + 4})`);
    if (length > 0x7fffffff) fail(`corrupt PNG (chunk ${type} declares ${length} bytes)`);
    const dataStart = pos + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > bytes.length) {
      if (type !== 'IDAT' && idat.length > 0 && type !== 'IHDR') break; // trailing ancillary chunk cut off
      fail(`truncated PNG (chunk ${type} needs ${length + 12} bytes at byte ${pos}, the file has ${bytes.length - pos} left)`);
    }
    if (crc32(bytes, pos + 4, dataEnd) !== u32(bytes, dataEnd)) fail(`corrupt PNG (bad CRC in chunk ${type} at byte ${pos})`);
    if (first && type !== 'IHDR') fail(`corrupt PNG (first chunk is ${type}, expected IHDR)`);
    const data = bytes.subarray(dataStart, dataEnd);
    switch (type) {
      case 'IHDR': {
        if (!first) fail('corrupt PNG (second IHDR chunk)');
        if (length !== 13) fail(`corrupt PNG (IHDR has ${length} bytes, expected 13)`);
        width = u32(data, 0);
        height = u32(data, 4);
        depth = data[8]!;
        colorType = data[9]!;
        interlace = data[12]!;
        const ct = COLOR_TYPES[colorType];
        if (!ct) fail(`corrupt PNG (colour type ${colorType} does not exist)`);
        if (!ct!.depths.includes(depth)) fail(`corrupt PNG (bit depth ${depth} is not allowed for ${ct!.what} images)`);
        if (data[10] !== 0 || data[11] !== 0) fail('unsupported PNG (unknown compression or filter method)');
        if (interlace > 1) fail(`unsupported PNG (interlace method ${interlace})`);
        if (width === 0 || height === 0) fail(`corrupt PNG (size ${width}×${height})`);
        checkSize(width, height);
        break;
      }
      case 'PLTE':
        if (length % 3 !== 0 || length === 0 || length > 768) fail(`corrupt PNG (PLTE chunk of ${length} bytes)`);
        palette = data;
        break;
      case 'tRNS':
        if (colorType === 3) paletteAlpha = data;
        // gray/RGB colour keys are ignored: Pillow's convert("RGB") drops them too.
        break;
      case 'IDAT':
        idat.push(dataStart, dataEnd);
        idatBytes += length;
        break;
      case 'IEND':
        sawIend = true;
        break;
      default:
        // Ancillary and unknown chunks are skipped, as Pillow does.
        break;
    }
    first = false;
    pos = dataEnd + 4;
    if (sawIend) break;
  }
  if (first) fail('truncated PNG (no IHDR chunk)');
  if (idat.length === 0) fail(sawIend ? 'corrupt PNG (no image data)' : 'truncated PNG (no image data)');
  if (colorType === 3 && !palette) fail('corrupt PNG (palette image without a PLTE chunk)');

  const compressed = new Uint8Array(idatBytes);
  for (let i = 0, o = 0; i < idat.length; i += 2) {
    compressed.set(bytes.subarray(idat[i], idat[i + 1]), o);
    o += idat[i + 1]! - idat[i]!;
  }
  const channels = COLOR_TYPES[colorType]!.channels;
  const bitsPerPixel = channels * depth;
  let raw: Uint8Array;
  try {
    raw = inflateExactly(compressed, inflatedSize(width, height, bitsPerPixel, interlace), fail);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    if (/EOF/i.test(msg)) fail(`truncated PNG (image data stream ends early${sawIend ? '' : ', no IEND chunk'})`);
    fail(`corrupt PNG (image data does not inflate: ${msg})`);
  }

  const bpp = Math.max(1, bitsPerPixel >> 3); // filter byte distance
  const rowBytes = (w: number) => Math.ceil((w * bitsPerPixel) / 8);
  // Unfiltered, packed rows of the whole image.
  const stride = rowBytes(width);
  const packed = new Uint8Array(stride * height);

  const passes = interlace === 1 ? ADAM7 : ([[0, 0, 1, 1]] as const);
  let at = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const ph = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (pw === 0 || ph === 0) continue;
    const rb = rowBytes(pw);
    const need = ph * (rb + 1);
    if (at + need > raw!.length) {
      fail(`truncated PNG (image data holds ${raw!.length} bytes, ${interlace ? 'the interlaced passes need' : 'the rows need'} more)`);
    }
    let prev = new Uint8Array(rb);
    let cur = new Uint8Array(rb);
    for (let y = 0; y < ph; y++) {
      const filter = raw![at]!;
      const line = raw!.subarray(at + 1, at + 1 + rb);
      at += rb + 1;
      unfilter(filter, line, cur, prev, bpp) || fail(`corrupt PNG (unknown row filter ${filter})`);
      if (interlace === 0) {
        packed.set(cur, y * stride);
      } else {
        scatterPass(cur, packed, pw, x0 + 0, y0 + y * dy, dx, stride, bitsPerPixel);
      }
      const t = prev;
      prev = cur;
      cur = t;
    }
  }

  return unpackPng(packed, width, height, depth, colorType, stride, palette, paletteAlpha);
}

/** Reverses one PNG row filter into `out`; false for an unknown filter type. */
function unfilter(filter: number, line: Uint8Array, out: Uint8Array, prev: Uint8Array, bpp: number): boolean {
  const n = line.length;
  switch (filter) {
    case 0:
      out.set(line);
      return true;
    case 1:
      for (let i = 0; i < n; i++) out[i] = (line[i]! + (i >= bpp ? out[i - bpp]! : 0)) & 0xff;
      return true;
    case 2:
      for (let i = 0; i < n; i++) out[i] = (line[i]! + prev[i]!) & 0xff;
      return true;
    case 3:
      for (let i = 0; i < n; i++) out[i] = (line[i]! + (((i >= bpp ? out[i - bpp]! : 0) + prev[i]!) >> 1)) & 0xff;
      return true;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? out[i - bpp]! : 0;
        const b = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        out[i] = (line[i]! + pred) & 0xff;
      }
      return true;
    default:
      return false;
  }
}

/** Copies the pixels of one unfiltered Adam7 pass row into the packed full image. */
function scatterPass(
  row: Uint8Array,
  packed: Uint8Array,
  pw: number,
  x0: number,
  y: number,
  dx: number,
  stride: number,
  bitsPerPixel: number,
): void {
  const base = y * stride;
  if (bitsPerPixel >= 8) {
    const B = bitsPerPixel >> 3;
    for (let i = 0; i < pw; i++) {
      const d = base + (x0 + i * dx) * B;
      for (let k = 0; k < B; k++) packed[d + k] = row[i * B + k]!;
    }
    return;
  }
  const bits = bitsPerPixel;
  const mask = (1 << bits) - 1;
  for (let i = 0; i < pw; i++) {
    const sBit = i * bits;
    const v = (row[sBit >> 3]! >> (8 - bits - (sBit & 7))) & mask;
    const dBit = (x0 + i * dx) * bits;
    const shift = 8 - bits - (dBit & 7);
    const di = base + (dBit >> 3);
    packed[di] = (packed[di]! & ~(mask << shift)) | (v << shift);
  }
}

function unpackPng(
  packed: Uint8Array,
  width: number,
  height: number,
  depth: number,
  colorType: number,
  stride: number,
  palette: Uint8Array | undefined,
  paletteAlpha: Uint8Array | undefined,
): RawImage {
  const n = width * height;
  const channels = COLOR_TYPES[colorType]!.channels;
  if (depth === 16) {
    const data = new Uint16Array(n * channels);
    for (let y = 0; y < height; y++) {
      const r = y * stride;
      const o = y * width * channels;
      for (let i = 0; i < width * channels; i++) data[o + i] = (packed[r + 2 * i]! << 8) | packed[r + 2 * i + 1]!;
    }
    return { width, height, channels: channels as 1 | 2 | 3 | 4, bitDepth: 16, data };
  }
  // Samples of `depth` bits, one channel for gray/palette.
  const sample = (y: number, i: number): number => {
    if (depth === 8) return packed[y * stride + i]!;
    const bit = i * depth;
    return (packed[y * stride + (bit >> 3)]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
  };
  if (colorType === 3) {
    const entries = palette!.length / 3;
    const withAlpha = paletteAlpha !== undefined;
    const C = withAlpha ? 4 : 3;
    const data = new Uint8Array(n * C);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const idx = sample(y, x);
        const o = (y * width + x) * C;
        if (idx < entries) {
          data[o] = palette![idx * 3]!;
          data[o + 1] = palette![idx * 3 + 1]!;
          data[o + 2] = palette![idx * 3 + 2]!;
        } // an index past the palette gives black
        if (withAlpha) data[o + 3] = idx < paletteAlpha!.length ? paletteAlpha![idx]! : 255;
      }
    }
    return { width, height, channels: C, bitDepth: 8, data };
  }
  if (depth === 8) {
    const data = new Uint8Array(n * channels);
    for (let y = 0; y < height; y++) data.set(packed.subarray(y * stride, y * stride + width * channels), y * width * channels);
    return { width, height, channels: channels as 1 | 2 | 3 | 4, bitDepth: 8, data };
  }
  // Gray 1/2/4 bits: Pillow scales to 8 bits (mode "1" → 0/255, L;2 → ×0x55, L;4 → ×0x11).
  const scale = depth === 1 ? 255 : depth === 2 ? 0x55 : 0x11;
  const data = new Uint8Array(n);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = sample(y, x) * scale;
  return { width, height, channels: 1, bitDepth: 8, data };
}

// ---------------------------------------------------------------------------------------------
// JPEG

function decodeJpegBytes(bytes: Uint8Array, name: string, checkFrame: (width: number, height: number) => void): RawImage {
  try {
    const j = decodeJpeg(bytes, { checkFrame });
    return { width: j.width, height: j.height, channels: j.channels, bitDepth: 8, data: j.data };
  } catch (e) {
    if (e instanceof JpegError) throw new ImageError(`${name}: ${e.message}`);
    throw e;
  }
}
