/**
 * safetensors reader and writer on plain Uint8Array / DataView / TextDecoder, so it runs in
 * browsers, workers and edge runtimes as well as Node.
 *
 * Layout: u64 little-endian header length n, n bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str}}`,
 * then the raw little-endian tensor data, offsets relative to byte 8 + n.
 */
import { SafetensorsError } from './errors.js';

/** Every dtype the format defines; `SafetensorsFile` can convert F32/F16/BF16/F64, I64/I32 and U8. */
export type DType =
  | 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8'
  | 'BOOL';

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1,
});

export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Offset of the tensor's first byte in the whole file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** The reference implementation refuses headers above 100 MB; so do we (guards against huge allocations). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** IEEE 754 half-precision bits to a number (exact: every f16 value is an f32 value). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** bfloat16 bits to a number: the upper half of an f32. */
export function bf16BitsToNumber(h: number): number {
  const scratch = new DataView(new ArrayBuffer(4));
  scratch.setUint32(0, (h & 0xffff) << 16);
  return scratch.getFloat32(0);
}

/** A parsed safetensors file. Tensors are read lazily from the bytes given to `parse`. */
/**
 * Where a file's bytes come from: memory (parse) or, in Node, reads from an open file (so a large
 * model is never held twice: tensors are read one at a time as they are packed).
 */
export interface ByteSource {
  readonly byteLength: number;
  /** `length` bytes at `offset`: a view, valid until the next read; callers copy what they keep. */
  read(offset: number, length: number): Uint8Array;
}

export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  private readonly bytes: ByteSource;
  private readonly tensors: Map<string, TensorInfo>;
  readonly source: string;

  private constructor(bytes: ByteSource, source: string, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.bytes = bytes;
    this.source = source;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Parses and validates the header of a file held in memory; `source` names the file in error messages. */
  static parse(bytes: Uint8Array, source = 'safetensors'): SafetensorsFile {
    return SafetensorsFile.open({ byteLength: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) }, source);
  }

  /** Parses and validates the header, reading it from `bytes`; tensor data is read on demand. */
  static open(bytes: ByteSource, source = 'safetensors'): SafetensorsFile {
    const fail = (msg: string): never => {
      throw new SafetensorsError(`${source}: ${msg}`);
    };
    if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
    const head = bytes.read(0, 8);
    const view = new DataView(head.buffer, head.byteOffset, 8);
    const lenLow = view.getUint32(0, true);
    const lenHigh = view.getUint32(4, true);
    const headerLen = lenHigh * 2 ** 32 + lenLow;
    if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    if (8 + headerLen > bytes.byteLength) fail(`header length ${headerLen} runs past the end of the ${bytes.byteLength}-byte file`);

    let json: unknown;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.read(8, headerLen));
      json = JSON.parse(text);
    } catch (e) {
      fail(`header is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!isPlainObject(json)) fail(`header must be a JSON object, got ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}`);
    const header = json as Record<string, unknown>;
    // JSON.parse keeps the last of duplicate keys; the reference reader refuses them.
    const duplicate = firstDuplicateKey(text!);
    if (duplicate !== undefined) fail(`header names '${duplicate}' twice (each key must be unique)`);

    const metadata = parseMetadata(header[METADATA_KEY], fail);
    const dataStart = 8 + headerLen;
    const dataLen = bytes.byteLength - dataStart;
    const tensors = new Map<string, TensorInfo>();
    const spans: { name: string; begin: number; end: number }[] = [];

    for (const [name, entry] of Object.entries(header)) {
      if (name === METADATA_KEY) continue;
      if (!isPlainObject(entry)) fail(`tensor '${name}': entry must be an object with dtype, shape, data_offsets`);
      const e = entry as Record<string, unknown>;
      const dtype = e.dtype;
      if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_SIZE, dtype)) {
        fail(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(', ')})`);
      }
      const shape = e.shape;
      if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
        fail(`tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
      }
      const offsets = e.data_offsets;
      if (
        !Array.isArray(offsets) || offsets.length !== 2 ||
        !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
        offsets[0] > offsets[1]
      ) {
        fail(`tensor '${name}': data_offsets must be [begin, end] non-negative integers with begin <= end, got ${JSON.stringify(offsets)}`);
      }
      const [begin, end] = offsets as [number, number];
      if (end > dataLen) fail(`tensor '${name}': data_offsets [${begin},${end}] lie outside the ${dataLen}-byte data area`);
      const dims = shape as number[];
      const expected = numElements(dims) * DTYPE_SIZE[dtype as DType];
      if (expected !== end - begin) {
        fail(`tensor '${name}': shape ${shapeText(dims)} × ${dtype} needs ${expected} bytes, data_offsets [${begin},${end}] give ${end - begin}`);
      }
      tensors.set(name, Object.freeze({ name, dtype: dtype as DType, shape: Object.freeze(dims.slice()), byteOffset: dataStart + begin, byteLength: end - begin }));
      spans.push({ name, begin, end });
    }

    // As the reference reader: the tensors tile the data area, in offset order, with no gap,
    // no overlap and nothing after the last one (an empty tensor sits where the previous one ends).
    spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
    let end = 0;
    for (let i = 0; i < spans.length; i++) {
      const cur = spans[i]!;
      const prev = spans[i - 1];
      if (cur.begin < end) fail(`tensors '${prev!.name}' [${prev!.begin},${prev!.end}] and '${cur.name}' [${cur.begin},${cur.end}] overlap`);
      if (cur.begin > end) fail(`tensor '${cur.name}' begins at byte ${cur.begin} of the data area, after a gap from byte ${end}`);
      end = cur.end;
    }
    if (end !== dataLen) fail(`the tensors end at byte ${end} of the ${dataLen}-byte data area: ${dataLen - end} bytes after them belong to no tensor`);
    return new SafetensorsFile(bytes, source, tensors, metadata);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.source}: no tensor '${name}' (file has ${this.tensors.size} tensors)`);
    return t;
  }

  /** The tensor's raw little-endian bytes (a view into the file when it is in memory). */
  raw(name: string): Uint8Array {
    const t = this.info(name);
    return this.bytes.read(t.byteOffset, t.byteLength);
  }

  /**
   * Like f32, but an F32 tensor whose bytes are 4-aligned comes back as a view, without a copy:
   * into the caller's bytes (parse), or into a file source's read buffer, valid only until the
   * next read. For consuming a tensor at once (packing weights), never for keeping it.
   */
  f32View(name: string): Float32Array {
    const t = this.info(name);
    if (t.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
      const r = this.raw(name);
      if (r.byteOffset % 4 === 0) return new Float32Array(r.buffer, r.byteOffset, r.byteLength / 4);
    }
    return this.f32(name);
  }

  /** F32/F16/BF16/F64 converted to a new Float32Array. */
  f32(name: string): Float32Array {
    const t = this.info(name);
    const n = t.byteLength / DTYPE_SIZE[t.dtype];
    switch (t.dtype) {
      case 'F32': {
        if (LITTLE_ENDIAN_HOST) return new Float32Array(this.alignedCopy(t));
        const v = this.viewOf(t);
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true);
        return out;
      }
      case 'F64': {
        const v = this.viewOf(t);
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
        return out;
      }
      case 'F16': {
        const v = this.viewOf(t);
        const out = new Float32Array(n);
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) {
          const h = v.getUint16(2 * i, true);
          const exp = (h >> 10) & 0x1f;
          if (exp === 0) out[i] = f16BitsToNumber(h); // zero / subnormal: not a plain re-bias
          else {
            const sign = (h & 0x8000) << 16;
            const mant = (h & 0x3ff) << 13;
            bits[i] = exp === 0x1f ? sign | 0x7f800000 | mant : sign | ((exp + 112) << 23) | mant;
          }
        }
        return out;
      }
      case 'BF16': {
        const v = this.viewOf(t);
        const out = new Float32Array(n);
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) bits[i] = v.getUint16(2 * i, true) << 16;
        return out;
      }
      default:
        throw new SafetensorsError(`${this.source}: tensor '${name}' is ${t.dtype}, expected a float dtype (F32, F16, BF16, F64)`);
    }
  }

  /** I64 (and I32, widened) as a new BigInt64Array. */
  i64(name: string): BigInt64Array {
    const t = this.info(name);
    if (t.dtype === 'I64') {
      if (LITTLE_ENDIAN_HOST) return new BigInt64Array(this.alignedCopy(t));
      const v = this.viewOf(t);
      const out = new BigInt64Array(t.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = v.getBigInt64(8 * i, true);
      return out;
    }
    if (t.dtype === 'I32') {
      const v = this.viewOf(t);
      const out = new BigInt64Array(t.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = BigInt(v.getInt32(4 * i, true));
      return out;
    }
    throw new SafetensorsError(`${this.source}: tensor '${name}' is ${t.dtype}, expected I64 or I32`);
  }

  /** I64/I32 as a new Int32Array; I64 values outside the int32 range are an error. */
  int32(name: string): Int32Array {
    const t = this.info(name);
    const v = this.viewOf(t);
    if (t.dtype === 'I32') {
      const out = new Int32Array(t.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = v.getInt32(4 * i, true);
      return out;
    }
    if (t.dtype === 'I64') {
      const out = new Int32Array(t.byteLength / 8);
      for (let i = 0; i < out.length; i++) {
        const x = v.getBigInt64(8 * i, true);
        if (x < -2147483648n || x > 2147483647n) {
          throw new SafetensorsError(`${this.source}: tensor '${name}' element ${i} = ${x} does not fit in int32`);
        }
        out[i] = Number(x);
      }
      return out;
    }
    throw new SafetensorsError(`${this.source}: tensor '${name}' is ${t.dtype}, expected I64 or I32`);
  }

  /** U8 as a new Uint8Array. */
  u8(name: string): Uint8Array {
    const t = this.info(name);
    if (t.dtype !== 'U8') throw new SafetensorsError(`${this.source}: tensor '${name}' is ${t.dtype}, expected U8`);
    return this.raw(name).slice();
  }

  private viewOf(t: TensorInfo): DataView {
    const r = this.raw(t.name);
    return new DataView(r.buffer, r.byteOffset, r.byteLength);
  }

  /** A copy of the tensor's bytes in a fresh buffer, so typed-array views on it are aligned. */
  private alignedCopy(t: TensorInfo): ArrayBuffer {
    const r = this.raw(t.name);
    // Copy (Uint8Array's slice would not when r is a Node Buffer, whose own slice is a view).
    const out = new Uint8Array(r.byteLength);
    out.set(r);
    return out.buffer;
  }
}

/**
 * The first key that a JSON object's text names twice at its top level (text already checked by
 * JSON.parse), compared after unescaping, as JSON.parse would read it.
 */
function firstDuplicateKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let keyNext = false; // at the top level, the next string is a key (after '{' or ',')
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      let escaped = false;
      while (text[j] !== '"') {
        if (text[j] === '\\') { escaped = true; j++; }
        j++;
      }
      if (depth === 1 && keyNext) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (seen.has(key)) return key;
        seen.add(key);
        keyNext = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      keyNext = depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      keyNext = true;
    }
  }
  return undefined;
}

function parseMetadata(value: unknown, fail: (msg: string) => never): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (value === undefined || value === null) return metadata; // Python writes null for "no metadata"
  if (!isPlainObject(value)) fail(`${METADATA_KEY} must be an object of string values, got ${JSON.stringify(value)}`);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`${METADATA_KEY} value for '${k}' must be a string, got ${JSON.stringify(v)}`);
    metadata[k] = v as string;
  }
  return metadata;
}

export interface TensorToWrite {
  dtype: 'F32' | 'I64' | 'I32';
  shape: readonly number[];
  data: Float32Array | BigInt64Array | Int32Array;
}

const WRITE_ARRAY: Record<TensorToWrite['dtype'], { name: string; ok: (d: unknown) => boolean }> = {
  F32: { name: 'Float32Array', ok: (d) => d instanceof Float32Array },
  I64: { name: 'BigInt64Array', ok: (d) => d instanceof BigInt64Array },
  I32: { name: 'Int32Array', ok: (d) => d instanceof Int32Array },
};

/**
 * Encodes tensors as a safetensors file. Tensors are laid out by element size (largest first),
 * then by name, and the header is space-padded to a multiple of 8, so every tensor is aligned.
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`encodeSafetensors: ${msg}`);
  };
  const names = Object.keys(tensors).sort((a, b) => {
    const size = DTYPE_SIZE[tensors[b]!.dtype] - DTYPE_SIZE[tensors[a]!.dtype];
    return size !== 0 ? size : a < b ? -1 : a > b ? 1 : 0;
  });

  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`${METADATA_KEY} value for '${k}' must be a string, got ${JSON.stringify(v)}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) fail(`'${METADATA_KEY}' is reserved and cannot name a tensor`);
    const t = tensors[name]!;
    const kind = WRITE_ARRAY[t.dtype];
    if (!kind) fail(`tensor '${name}': cannot write dtype ${JSON.stringify(t.dtype)} (supported: F32, I64, I32)`);
    if (!kind.ok(t.data)) fail(`tensor '${name}': dtype ${t.dtype} needs a ${kind.name}, got ${t.data?.constructor?.name ?? typeof t.data}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`);
    }
    const n = numElements(t.shape);
    if (t.data.length !== n) fail(`tensor '${name}': shape ${shapeText(t.shape)} needs ${n} elements, data has ${t.data.length}`);
    const byteLength = n * DTYPE_SIZE[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);

  let pos = 8 + headerLen;
  for (const name of names) {
    const t = tensors[name]!;
    const d = t.data;
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    } else if (d instanceof Float32Array) {
      for (let i = 0; i < d.length; i++) view.setFloat32(pos + 4 * i, d[i]!, true);
    } else if (d instanceof BigInt64Array) {
      for (let i = 0; i < d.length; i++) view.setBigInt64(pos + 8 * i, d[i]!, true);
    } else {
      for (let i = 0; i < d.length; i++) view.setInt32(pos + 4 * i, d[i]!, true);
    }
    pos += d.byteLength;
  }
  return out;
}
