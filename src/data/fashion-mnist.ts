/**
 * Fashion-MNIST (Zalando, 70,000 gray 28 × 28 images of 10 clothing classes) in the IDX format of
 * the original MNIST: a big-endian header (two zero bytes, a type code, the number of dimensions,
 * then one u32 per dimension) followed by the raw samples. Debian's `dataset-fashion-mnist`
 * package installs the gzipped files under /usr/share/datasets/fashion-mnist/
 * ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz). Edge-safe: bytes in, arrays out; the Node
 * loader is src/node/fashion-mnist.ts.
 */
import { gunzipSync } from 'fflate';
import { ImageError, UsageError } from '../errors.js';
import type { RawImage } from '../image/decode.js';

export interface IdxArray {
  /** e.g. [60000, 28, 28] for images, [60000] for labels. */
  dims: number[];
  /** Row-major unsigned bytes. */
  data: Uint8Array;
}

/** The ten classes, in label order (0 … 9). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export type FashionMnistSplit = 'train' | 'test';

/** Images per split. */
export const FASHION_MNIST_SIZES: Record<FashionMnistSplit, number> = { train: 60000, test: 10000 };

const IDX_TYPES: Record<number, string> = { 0x08: 'u8', 0x09: 'i8', 0x0b: 'i16', 0x0c: 'i32', 0x0d: 'f32', 0x0e: 'f64' };

/**
 * Parses an IDX file (gunzipping it first when it starts with the gzip magic 1f 8b). Only unsigned
 * byte data (type 0x08) is supported, which is what (Fashion-)MNIST uses. `source` names the file
 * in errors.
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  let b = bytes;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = gunzipSync(b);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new ImageError(`${source}: ${/EOF/i.test(msg) ? 'truncated' : 'corrupt'} gzip data (${msg})`);
    }
  }
  if (b.length < 4) throw new ImageError(`${source}: truncated IDX file (${b.length} bytes, no header)`);
  if (b[0] !== 0 || b[1] !== 0) {
    throw new ImageError(`${source}: not an IDX file (magic ${hex(b, 4)}, expected 00 00 08 0N)`);
  }
  const type = b[2]!;
  const ndims = b[3]!;
  if (!(type in IDX_TYPES)) throw new ImageError(`${source}: not an IDX file (unknown data type 0x${type.toString(16).padStart(2, '0')})`);
  if (type !== 0x08) throw new ImageError(`${source}: IDX data type ${IDX_TYPES[type]} is not supported (only unsigned bytes, 0x08)`);
  if (ndims === 0) throw new ImageError(`${source}: IDX file with 0 dimensions`);
  const headerLen = 4 + 4 * ndims;
  if (b.length < headerLen) throw new ImageError(`${source}: truncated IDX header (${ndims} dimensions need ${headerLen} bytes, got ${b.length})`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = dv.getUint32(4 + 4 * i);
    dims.push(d);
    count *= d;
  }
  const have = b.length - headerLen;
  if (have < count) {
    throw new ImageError(`${source}: truncated IDX data (shape [${dims.join(', ')}] needs ${count} bytes, got ${have})`);
  }
  if (have > count) {
    throw new ImageError(`${source}: IDX file has ${have - count} bytes past the [${dims.join(', ')}] data`);
  }
  return { dims, data: b.subarray(headerLen, headerLen + count) };
}

function hex(b: Uint8Array, n: number): string {
  return Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Checks an images array has the [n, rows, cols] shape of (Fashion-)MNIST images. */
export function checkIdxImages(images: IdxArray, source = 'images'): void {
  if (images.dims.length !== 3) {
    throw new ImageError(`${source}: expected an IDX image array [n, rows, cols], got shape [${images.dims.join(', ')}]`);
  }
}

/** Image `index` of an IDX image array as a one-channel 8-bit RawImage (white garment on black). */
export function fashionMnistImage(images: IdxArray, index: number): RawImage {
  checkIdxImages(images);
  const [n, h, w] = images.dims as [number, number, number];
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new UsageError(`Fashion-MNIST image index ${index} is out of range (0…${n - 1})`);
  }
  const size = h * w;
  return {
    width: w,
    height: h,
    channels: 1,
    bitDepth: 8,
    data: images.data.slice(index * size, (index + 1) * size),
    name: `fashion-mnist#${index}`,
  };
}

/** Label `index` of an IDX label array, with its class name. */
export function fashionMnistLabel(labels: IdxArray, index: number): { label: number; name: string } {
  if (labels.dims.length !== 1) throw new ImageError(`labels: expected an IDX label array [n], got shape [${labels.dims.join(', ')}]`);
  if (!Number.isInteger(index) || index < 0 || index >= labels.dims[0]!) {
    throw new UsageError(`Fashion-MNIST label index ${index} is out of range (0…${labels.dims[0]! - 1})`);
  }
  const label = labels.data[index]!;
  return { label, name: FASHION_MNIST_CLASSES[label] ?? `class ${label}` };
}

export interface FashionMnistSpec {
  split: FashionMnistSplit;
  /** Image indices, in the order given (duplicates kept). */
  indices: number[];
}

/** At most this many indices in one spec. */
const MAX_SPEC_INDICES = 100000;

/**
 * Parses an image selection such as `test:0-7` (inclusive range), `train:12`, or
 * `test:0-3,10,20-22`. Indices are checked against the split's size.
 */
export function parseFashionMnistSpec(spec: string): FashionMnistSpec {
  const bad = (why: string): never => {
    throw new UsageError(`Fashion-MNIST selection '${spec}': ${why} (expected <train|test>:<i>[-<j>][,...], e.g. test:0-7)`);
  };
  const m = /^\s*(train|test)\s*:\s*(.+?)\s*$/.exec(spec);
  if (!m) return bad('unknown split or missing indices');
  const split = m[1] as FashionMnistSplit;
  const max = FASHION_MNIST_SIZES[split];
  const indices: number[] = [];
  for (const part of m[2]!.split(',')) {
    const r = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!r) return bad(`'${part}' is not an index or a range`);
    const a = Number(r[1]);
    const b = r[2] === undefined ? a : Number(r[2]);
    if (b < a) bad(`range ${a}-${b} is reversed`);
    if (b >= max) bad(`index ${b} is past the ${split} split's ${max} images`);
    if (indices.length + (b - a + 1) > MAX_SPEC_INDICES) bad(`more than ${MAX_SPEC_INDICES} images`);
    for (let i = a; i <= b; i++) indices.push(i);
  }
  return { split, indices };
}
