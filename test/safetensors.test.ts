import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SafetensorsError } from '../src/errors.js';
import { SafetensorsFile, encodeSafetensors, f16BitsToNumber, bf16BitsToNumber, MAX_HEADER_BYTES } from '../src/safetensors.js';

// Compiled to dist/test/, so the fixtures are two levels up from here.
const fixture = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../test/fixtures/golden/${path}`, import.meta.url)));

/** A safetensors file from a header given as a JSON value (or raw text) and a data area. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), opts: { rawHeader?: Uint8Array; declaredLength?: number } = {}): Uint8Array {
  const json = opts.rawHeader ?? new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  const declared = opts.declaredLength ?? json.length;
  view.setUint32(0, declared % 2 ** 32, true);
  view.setUint32(4, Math.floor(declared / 2 ** 32), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function assertFails(bytes: Uint8Array, pattern: RegExp, source = 'bad.safetensors'): void {
  assert.throws(
    () => SafetensorsFile.parse(bytes, source),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
      assert.match(e.message, pattern);
      assert.ok(e.message.startsWith(`${source}: `), `message names the file: ${e.message}`);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    },
  );
}

test('encode → parse round trip keeps names, dtypes, shapes, data and metadata', () => {
  const a = new Float32Array([1.5, -2, 3.25, Number.NaN, Infinity, -0]);
  const ids = new BigInt64Array([3n, -1n, 9007199254740993n]);
  const i32 = new Int32Array([7, -8]);
  const scalar = new Float32Array([0.125]);
  const bytes = encodeSafetensors(
    {
      'z.weight': { dtype: 'F32', shape: [2, 3], data: a },
      ids: { dtype: 'I64', shape: [3], data: ids },
      small: { dtype: 'I32', shape: [1, 2], data: i32 },
      loss: { dtype: 'F32', shape: [], data: scalar },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    },
    { case: 'unit', seed: '1' },
  );
  const headerLen = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal(headerLen % 8, 0, 'header padded to a multiple of 8');
  const f = SafetensorsFile.parse(bytes, 'rt.safetensors');
  assert.deepEqual(f.metadata, { case: 'unit', seed: '1' });
  assert.deepEqual(f.names().sort(), ['empty', 'ids', 'loss', 'small', 'z.weight']);
  assert.equal(f.info('ids').dtype, 'I64');
  assert.equal(f.info('ids').byteOffset, 8 + headerLen, 'I64 laid out first');
  for (const n of f.names()) assert.equal(f.info(n).byteOffset % alignmentOf(f.info(n).dtype), 0, `${n} aligned`);
  assert.deepEqual(f.info('z.weight').shape, [2, 3]);
  assert.deepEqual(f.info('loss').shape, []);
  assert.deepEqual([...f.f32('z.weight')], [...a]);
  assert.ok(Object.is(f.f32('z.weight')[5], -0));
  assert.deepEqual([...f.i64('ids')], [...ids]);
  assert.deepEqual([...f.i64('small')], [7n, -8n]);
  assert.deepEqual([...f.int32('small')], [7, -8]);
  assert.deepEqual([...f.f32('loss')], [0.125]);
  assert.equal(f.f32('empty').length, 0);
  assert.ok(f.has('loss') && !f.has('nope'));
  // Encoding is deterministic: same input, same bytes, regardless of key order.
  const again = encodeSafetensors({ b: { dtype: 'F32', shape: [1], data: new Float32Array([1]) }, a: { dtype: 'F32', shape: [1], data: new Float32Array([2]) } });
  const again2 = encodeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Float32Array([2]) }, b: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
  assert.deepEqual(again, again2);
});

function alignmentOf(dtype: string): number {
  return dtype === 'I64' || dtype === 'F64' ? 8 : dtype === 'F32' || dtype === 'I32' ? 4 : 1;
}

test('F32 reads correctly at any alignment of the underlying buffer', () => {
  const bytes = encodeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) }, i: { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) } });
  for (let shift = 1; shift < 8; shift++) {
    const shifted = new Uint8Array(bytes.length + shift);
    shifted.set(bytes, shift);
    const f = SafetensorsFile.parse(shifted.subarray(shift), 'shifted');
    assert.deepEqual([...f.f32('x')], [1, 2, 3]);
    assert.deepEqual([...f.i64('i')], [5n]);
    assert.deepEqual([...f.int32('i')], [5]);
  }
});

test('reads the golden fixture files', () => {
  const io = SafetensorsFile.parse(fixture('tiny/io.safetensors'), 'tiny/io.safetensors');
  assert.deepEqual(io.info('pixel_values').shape, [2, 3, 32, 32]);
  assert.equal(io.info('pixel_values').dtype, 'F32');
  assert.equal(io.f32('pixel_values').length, 2 * 3 * 32 * 32);
  assert.equal(io.info('ids_restore').dtype, 'I64');
  assert.deepEqual(io.info('ids_restore').shape, [2, 64]);
  assert.equal(io.metadata.case, 'tiny');
  assert.equal(io.metadata.len_keep, '16');
  // ids_restore is a permutation of 0..L-1 in each row.
  const restore = io.int32('ids_restore');
  for (let r = 0; r < 2; r++) assert.deepEqual([...restore.subarray(r * 64, r * 64 + 64)].sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => i));
  assert.deepEqual(io.info('loss').shape, []);
  assert.ok(Number.isFinite(io.f32('loss')[0]!));

  const small = SafetensorsFile.parse(fixture('small/io.safetensors'), 'small/io.safetensors');
  assert.deepEqual(small.info('pixel_values').shape, [2, 3, 64, 64]);
  const model = SafetensorsFile.parse(fixture('tiny/model.safetensors'), 'tiny/model.safetensors');
  assert.deepEqual(model.info('vit.embeddings.patch_embeddings.projection.weight').shape, [64, 3, 4, 4]);
  const official = SafetensorsFile.parse(fixture('tiny/model.official.safetensors'));
  assert.deepEqual(official.info('blocks.0.attn.qkv.weight').shape, [192, 64]);
});

test('a missing tensor names it', () => {
  const f = SafetensorsFile.parse(encodeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }), 'm.safetensors');
  assert.throws(() => f.info('b'), (e: unknown) => e instanceof SafetensorsError && /m\.safetensors: no tensor 'b'/.test(e.message));
  assert.throws(() => f.f32('b'), SafetensorsError);
  assert.throws(() => f.i64('a'), (e: unknown) => e instanceof SafetensorsError && /'a' is F32, expected I64 or I32/.test(e.message));
});

test('F16 conversion matches hand-computed values', () => {
  const cases: [number, number][] = [
    [0x3c00, 1], [0xc000, -2], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14],
    [0x7bff, 65504], [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0], [0x3555, 0.333251953125],
    [0x8001, -(2 ** -24)], [0x3800, 0.5], [0x4248, 3.140625],
  ];
  for (const [bits, value] of cases) assert.equal(f16BitsToNumber(bits), value, `0x${bits.toString(16)}`);
  assert.ok(Object.is(f16BitsToNumber(0x8000), -0));
  assert.ok(Number.isNaN(f16BitsToNumber(0x7e00)));
  assert.ok(Number.isNaN(f16BitsToNumber(0x7c01)));

  // The same values through the file reader's fast path.
  const all = [...cases.map(([b]) => b), 0x8000, 0x7e00, 0xfe01];
  const data = new Uint8Array(all.length * 2);
  all.forEach((b, i) => new DataView(data.buffer).setUint16(2 * i, b, true));
  const f = SafetensorsFile.parse(craft({ h: { dtype: 'F16', shape: [all.length], data_offsets: [0, data.length] } }, data));
  const got = f.f32('h');
  cases.forEach(([, value], i) => assert.equal(got[i], value, `element ${i}`));
  assert.ok(Object.is(got[cases.length], -0));
  assert.ok(Number.isNaN(got[cases.length + 1]!));
  assert.ok(Number.isNaN(got[cases.length + 2]!));
  // Exhaustive: every f16 bit pattern agrees with the scalar formula.
  const every = new Uint8Array(65536 * 2);
  for (let b = 0; b < 65536; b++) new DataView(every.buffer).setUint16(2 * b, b, true);
  const full = SafetensorsFile.parse(craft({ h: { dtype: 'F16', shape: [65536], data_offsets: [0, every.length] } }, every)).f32('h');
  for (let b = 0; b < 65536; b++) {
    const want = f16BitsToNumber(b);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(full[b]!), `0x${b.toString(16)}`);
    else assert.ok(Object.is(full[b], want), `0x${b.toString(16)}: ${full[b]} vs ${want}`);
  }
});

test('BF16 and F64 conversion', () => {
  const cases: [number, number][] = [[0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], [0x7f80, Infinity], [0xff80, -Infinity], [0x0001, 2 ** -133], [0x0000, 0]];
  for (const [bits, value] of cases) assert.equal(bf16BitsToNumber(bits), value);
  assert.ok(Number.isNaN(bf16BitsToNumber(0x7fc0)));
  const data = new Uint8Array(cases.length * 2);
  cases.forEach(([b], i) => new DataView(data.buffer).setUint16(2 * i, b, true));
  const f = SafetensorsFile.parse(craft({ b: { dtype: 'BF16', shape: [cases.length], data_offsets: [0, data.length] } }, data));
  assert.deepEqual([...f.f32('b')], cases.map(([, v]) => v));

  const d = new Float64Array([1 / 3, -2.5, 1e300]);
  const g = SafetensorsFile.parse(craft({ d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] } }, new Uint8Array(d.buffer)));
  assert.deepEqual([...g.f32('d')], [Math.fround(1 / 3), -2.5, Infinity]);
});

test('U8, I32 and int32 range check', () => {
  const big = new BigInt64Array([1n, 2n ** 31n]);
  const f = SafetensorsFile.parse(
    craft({ big: { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, u: { dtype: 'U8', shape: [3], data_offsets: [16, 19] } }, new Uint8Array([...new Uint8Array(big.buffer), 9, 8, 7])),
    'r.safetensors',
  );
  assert.deepEqual([...f.u8('u')], [9, 8, 7]);
  assert.throws(() => f.int32('big'), (e: unknown) => e instanceof SafetensorsError && /'big' element 1 = 2147483648 does not fit in int32/.test(e.message));
  assert.throws(() => f.f32('u'), (e: unknown) => e instanceof SafetensorsError && /'u' is U8, expected a float dtype/.test(e.message));
});

test('rejects a file shorter than 8 bytes', () => {
  assertFails(new Uint8Array(5), /5 bytes, shorter than the 8-byte header length/);
  assertFails(new Uint8Array(0), /0 bytes/);
});

test('rejects a header length past the end of the file or above 100 MB', () => {
  const good = craft({});
  assertFails(craft({}, undefined, { declaredLength: good.length }), /header length \d+ runs past the end of the \d+-byte file/);
  assertFails(craft({}, undefined, { declaredLength: MAX_HEADER_BYTES + 1 }), /header length 100000001 exceeds the 100000000-byte limit/);
  assertFails(craft({}, undefined, { declaredLength: 2 ** 40 }), /exceeds the 100000000-byte limit/);
  // A truncated real file.
  const io = fixture('tiny/io.safetensors');
  assertFails(io.subarray(0, 100), /runs past the end/);
  assertFails(io.subarray(0, io.length - 4), /'target_patches_norm_pix'|outside the \d+-byte data area/);
});

test('rejects a header that is not UTF-8 JSON or not an object', () => {
  assertFails(craft(null, undefined, { rawHeader: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }), /header is not valid UTF-8 JSON/);
  assertFails(craft(null, undefined, { rawHeader: new TextEncoder().encode('{"a": ') }), /header is not valid UTF-8 JSON/);
  assertFails(craft([1, 2]), /header must be a JSON object, got an array/);
  assertFails(craft(42), /header must be a JSON object, got 42/);
  assertFails(craft(null), /header must be a JSON object, got null/);
  assertFails(craft({ t: 'x' }), /tensor 't': entry must be an object/);
});

test('rejects an unknown dtype', () => {
  assertFails(craft({ t: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16)), /tensor 't': unknown dtype "F128"/);
  assertFails(craft({ t: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 't': unknown dtype undefined/);
});

test('rejects a shape that is not an array of non-negative integers', () => {
  for (const shape of [[-1], [1.5], ['2'], 4, null, [2 ** 60]]) {
    assertFails(craft({ t: { dtype: 'F32', shape, data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 't': shape must be an array of non-negative integers/);
  }
});

test('rejects bad data_offsets', () => {
  for (const offsets of [[4, 0], [0], [0, 4, 8], [0.5, 4], [-4, 0], '0,4', [0, '4']]) {
    assertFails(craft({ t: { dtype: 'F32', shape: [1], data_offsets: offsets } }, new Uint8Array(8)), /tensor 't': data_offsets must be \[begin, end\] non-negative integers with begin <= end/);
  }
});

test('rejects offsets outside the data area', () => {
  assertFails(craft({ t: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(8)), /tensor 't': data_offsets \[4,12\] lie outside the 8-byte data area/);
});

test('rejects overlapping tensors', () => {
  assertFails(
    craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
    /tensors 'a' \[0,8\] and 'b' \[4,12\] overlap/,
  );
  // An empty tensor takes no room, where the previous one ends; inside another it overlaps it (as in the reference reader).
  SafetensorsFile.parse(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } }, new Uint8Array(8)));
  assertFails(
    craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } }, new Uint8Array(8)),
    /tensors 'a' \[0,8\] and 'e' \[4,4\] overlap/,
  );
});

test('rejects gaps between tensors and bytes after the last one, as the reference reader does', () => {
  assertFails(
    craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)),
    /tensor 'b' begins at byte 8 of the data area, after a gap from byte 4/,
  );
  assertFails(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /tensor 'a' begins at byte 4 of the data area, after a gap from byte 0/);
  assertFails(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /the tensors end at byte 4 of the 8-byte data area: 4 bytes after them belong to no tensor/);
  assertFails(craft({}, new Uint8Array(1)), /the tensors end at byte 0 of the 1-byte data area/);
});

test('rejects a key named twice in the header (JSON.parse alone would keep the last)', () => {
  const t = (offsets: string) => `{"dtype":"F32","shape":[1],"data_offsets":${offsets}}`;
  const header = (text: string) => craft(null, new Uint8Array(8), { rawHeader: new TextEncoder().encode(text) });
  assertFails(header(`{"w":${t('[0,4]')},"x":${t('[4,8]')},"w":${t('[4,8]')}}`), /header names 'w' twice/);
  // The same key spelled with escapes, and keys that only look alike inside strings and nested objects.
  assertFails(header(`{"w":${t('[0,4]')}, "\\u0077" : ${t('[4,8]')}}`), /header names 'w' twice/);
  assertFails(header(`{"a\\"b":${t('[0,4]')},"a\\"b":${t('[4,8]')}}`), /header names 'a"b' twice/);
  assertFails(craft(null, undefined, { rawHeader: new TextEncoder().encode('{"__metadata__":{"k":"v"},"__metadata__":{"k":"w"}}') }), /header names '__metadata__' twice/);
  const f = SafetensorsFile.parse(header(`{"__metadata__":{"w":"{\\"w\\":1,","x":"w"},"w":${t('[0,4]')},"x":${t('[4,8]')}}`));
  assert.deepEqual(f.names().sort(), ['w', 'x']);
  assert.deepEqual(f.metadata, { w: '{"w":1,', x: 'w' });
});

test('rejects a byte length that does not match shape × dtype size', () => {
  assertFails(
    craft({ t: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, new Uint8Array(24)),
    /tensor 't': shape \[2,3\] × F32 needs 24 bytes, data_offsets \[0,20\] give 20/,
  );
  assertFails(craft({ t: { dtype: 'I64', shape: [], data_offsets: [0, 4] } }, new Uint8Array(8)), /shape \[\] × I64 needs 8 bytes/);
});

test('rejects __metadata__ that is not a string → string map', () => {
  assertFails(craft({ __metadata__: { a: 1 } }), /__metadata__ value for 'a' must be a string, got 1/);
  assertFails(craft({ __metadata__: ['x'] }), /__metadata__ must be an object of string values/);
  assertFails(craft({ __metadata__: 'x' }), /__metadata__ must be an object of string values/);
  assert.deepEqual(SafetensorsFile.parse(craft({ __metadata__: null })).metadata, {});
});

test('encodeSafetensors checks its input', () => {
  const fails = (tensors: Parameters<typeof encodeSafetensors>[0], pattern: RegExp) =>
    assert.throws(() => encodeSafetensors(tensors), (e: unknown) => e instanceof SafetensorsError && pattern.test(e.message));
  fails({ t: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }, /tensor 't': shape \[2,2\] needs 4 elements, data has 3/);
  fails({ t: { dtype: 'I64', shape: [1], data: new Float32Array(1) } }, /tensor 't': dtype I64 needs a BigInt64Array, got Float32Array/);
  fails({ t: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } }, /shape must be an array of non-negative integers/);
  fails({ __metadata__: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }, /reserved/);
});
