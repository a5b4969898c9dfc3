/**
 * Image resizing, bit-exact with Pillow.
 *
 * `resizeBilinearPil` reproduces Pillow's `Image.resize(size, Image.BILINEAR)` on 8-bit images
 * (libImaging/Resample.c, `ImagingResample` with the BILINEAR filter and the default box, which is
 * the whole image; unchanged since Pillow 4 and the code Hugging Face's ViTImageProcessor runs):
 *
 * - separable, two passes: horizontal first (only the source rows the vertical pass will read),
 *   then vertical; a pass is skipped when its size does not change;
 * - per output pixel, the triangle filter `max(0, 1 − |x|)` is evaluated at source pixel centres;
 *   when shrinking, its support widens by the scale factor (`filterscale = max(1, in/out)`), so
 *   downscaling antialiases (averages every source pixel it covers) rather than sampling two;
 * - coefficients are normalised to sum 1 in double precision, then converted to fixed point with
 *   PRECISION_BITS = 22 fractional bits (rounded half away from zero);
 * - each pass accumulates `pixel × coefficient` in a 32-bit integer starting from 1 << 21 (the
 *   rounding half), shifts right by 22 and clips to [0, 255]: every pass returns uint8, so the
 *   intermediate image is rounded to 8 bits, exactly as Pillow does.
 *
 * Every floating-point operation below is written in the same order as the C code, so the double
 * results, and hence the integer coefficients, are identical.
 */

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

function bilinearFilter(x: number): number {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

interface Coeffs {
  /** Coefficients per output pixel, in fixed point, `ksize` slots each. */
  readonly kk: Int32Array;
  /** [xmin, count] per output pixel. */
  readonly bounds: Int32Array;
  readonly ksize: number;
}

/** Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the box [0, inSize). */
function precomputeCoeffs(inSize: number, outSize: number): Coeffs {
  const support0 = 1.0; // BILINEAR.support
  const in0 = 0;
  const in1 = inSize; // float box edges; integers below 2^24 are exact in float
  const scale = (in1 - in0) / outSize;
  let filterscale = scale;
  if (filterscale < 1.0) filterscale = 1.0;
  const support = support0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const pre = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let ww = 0.0;
    const ss = 1.0 / filterscale;
    // (int) casts truncate toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const base = xx * ksize;
    let x = 0;
    for (; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * ss);
      pre[base + x] = w;
      ww += w;
    }
    for (x = 0; x < xmax; x++) {
      if (ww !== 0.0) pre[base + x] /= ww;
    }
    // Remaining slots stay 0 (Float64Array is zero-filled).
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const kk = new Int32Array(outSize * ksize);
  for (let i = 0; i < kk.length; i++) {
    const v = pre[i]!;
    kk[i] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
  }
  return { kk, bounds, ksize };
}

/** Pillow's clip8: `in >> PRECISION_BITS` clamped to [0, 255]. */
function clip8(v: number): number {
  const s = v >> PRECISION_BITS;
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

function checkArgs(src: Uint8Array, width: number, height: number, channels: number, outW: number, outH: number): void {
  for (const [name, v] of [['width', width], ['height', height], ['outW', outW], ['outH', outH]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`resize: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 4) {
    throw new RangeError(`resize: channels must be 1, 2, 3 or 4, got ${channels}`);
  }
  if (src.length !== width * height * channels) {
    throw new RangeError(`resize: expected ${width}×${height}×${channels} = ${width * height * channels} bytes, got ${src.length}`);
  }
}

/**
 * Resizes an interleaved 8-bit image (`channels` values per pixel, row-major) to outW × outH,
 * bit-exact with Pillow's `Image.resize((outW, outH), Image.BILINEAR)` for modes L, LA, RGB, RGBX
 * and RGBA (channels are filtered independently; note that Pillow itself premultiplies alpha for
 * LA/RGBA before resizing, which this function does not do: convert to RGB first, as HF does).
 * Returns a new array; an unchanged size returns a copy.
 */
export function resizeBilinearPil(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
): Uint8Array {
  checkArgs(src, width, height, channels, outW, outH);
  const needH = outW !== width;
  const needV = outH !== height;
  if (!needH && !needV) return src.slice();

  const vert = precomputeCoeffs(height, outH);
  const C = channels;

  // Horizontal pass over the rows the vertical pass uses: [yFirst, yLast).
  let img = src;
  let imgW = width;
  let rowOffset = 0; // source row of img's row 0
  if (needH) {
    const yFirst = vert.bounds[0]!;
    const yLast = vert.bounds[outH * 2 - 2]! + vert.bounds[outH * 2 - 1]!;
    const rows = yLast - yFirst;
    const { kk, bounds, ksize } = precomputeCoeffs(width, outW);
    const tmp = new Uint8Array(outW * rows * C);
    const acc = new Int32Array(C);
    for (let yy = 0; yy < rows; yy++) {
      const srcRow = (yy + yFirst) * width * C;
      const dstRow = yy * outW * C;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const kb = xx * ksize;
        acc.fill(HALF);
        for (let x = 0; x < xmax; x++) {
          const k = kk[kb + x]!;
          const p = srcRow + (x + xmin) * C;
          for (let c = 0; c < C; c++) acc[c] = (acc[c]! + src[p + c]! * k) | 0;
        }
        const o = dstRow + xx * C;
        for (let c = 0; c < C; c++) tmp[o + c] = clip8(acc[c]!);
      }
    }
    img = tmp;
    imgW = outW;
    rowOffset = yFirst;
  }

  if (!needV) return img; // the horizontal pass ran (both passes skipped returned above)

  // Vertical pass.
  const { kk, bounds, ksize } = vert;
  const out = new Uint8Array(imgW * outH * C);
  const rowLen = imgW * C;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2]! - rowOffset;
    const ymax = bounds[yy * 2 + 1]!;
    const kb = yy * ksize;
    const dstRow = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let acc = HALF;
      for (let y = 0; y < ymax; y++) acc = (acc + img[(y + ymin) * rowLen + i]! * kk[kb + y]!) | 0;
      out[dstRow + i] = clip8(acc);
    }
  }
  return out;
}

/**
 * Nearest-neighbour resize of an interleaved 8-bit image, as Pillow's `Image.NEAREST`
 * (source x = floor((xx + 0.5) · in/out)); for integer upscaling factors every source pixel
 * becomes an exact factor × factor block. Meant for enlarging figures without blur.
 */
export function resizeNearest(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
): Uint8Array {
  checkArgs(src, width, height, channels, outW, outH);
  const C = channels;
  const out = new Uint8Array(outW * outH * C);
  const xs = new Int32Array(outW);
  for (let xx = 0; xx < outW; xx++) xs[xx] = Math.min(width - 1, Math.floor(((xx + 0.5) * width) / outW));
  for (let yy = 0; yy < outH; yy++) {
    const sy = Math.min(height - 1, Math.floor(((yy + 0.5) * height) / outH));
    const srcRow = sy * width * C;
    const dstRow = yy * outW * C;
    for (let xx = 0; xx < outW; xx++) {
      const s = srcRow + xs[xx]! * C;
      const d = dstRow + xx * C;
      for (let c = 0; c < C; c++) out[d + c] = src[s + c]!;
    }
  }
  return out;
}
