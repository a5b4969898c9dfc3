/**
 * Fashion-MNIST IDX reading: synthetic IDX files built here (plain and gzipped), malformed ones,
 * image/label access, the selection syntax, and the Node loader on a temporary directory. The
 * real dataset (Debian's dataset-fashion-mnist) is only used when it happens to be installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import {
  FASHION_MNIST_CLASSES,
  fashionMnistImage,
  fashionMnistLabel,
  parseFashionMnistSpec,
  parseIdx,
} from '../src/data/fashion-mnist.js';
import { DEFAULT_FASHION_MNIST_DIR, loadFashionMnist } from '../src/node/fashion-mnist.js';
import { FileError, ImageError, UsageError } from '../src/errors.js';

function idx(type: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const dv = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

const N = 3;
const PIXELS = Uint8Array.from({ length: N * 28 * 28 }, (_, i) => (i * 7) & 255);
const LABELS = Uint8Array.from([9, 0, 3]);

test('parseIdx reads plain and gzipped IDX files', () => {
  const raw = idx(0x08, [N, 28, 28], PIXELS);
  for (const bytes of [raw, gzipSync(raw)]) {
    const a = parseIdx(bytes, 'images');
    assert.deepEqual(a.dims, [N, 28, 28]);
    assert.deepEqual(a.data, PIXELS);
  }
  const l = parseIdx(gzipSync(idx(0x08, [N], LABELS)));
  assert.deepEqual([l.dims, Array.from(l.data)], [[N], [9, 0, 3]]);
});

test('parseIdx errors: magic, type, truncation, trailing bytes, broken gzip', () => {
  const good = idx(0x08, [2, 2], [1, 2, 3, 4]);
  const cases: [Uint8Array, RegExp][] = [
    [Uint8Array.from([0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 5]), /not an IDX file \(magic 12 34 08 01/],
    [idx(0x07, [1], [0]), /unknown data type 0x07/],
    [idx(0x0d, [1], [0, 0, 0, 0]), /f32 is not supported/],
    [Uint8Array.from([0, 0, 8]), /truncated IDX file/],
    [Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 1]), /truncated IDX header/],
    [good.subarray(0, good.length - 1), /truncated IDX data \(shape \[2, 2\] needs 4 bytes, got 3\)/],
    [Uint8Array.from([...good, 9]), /1 bytes past/],
    [gzipSync(good).subarray(0, 15), /gzip/],
    [idx(0x08, [], []), /0 dimensions/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(
      () => parseIdx(bytes, 'file.idx'),
      (e: unknown) => e instanceof ImageError && e.message.startsWith('file.idx: ') && re.test(e.message),
      re.source,
    );
  }
});

test('fashionMnistImage and fashionMnistLabel', () => {
  const images = parseIdx(idx(0x08, [N, 28, 28], PIXELS));
  const labels = parseIdx(idx(0x08, [N], LABELS));
  const img = fashionMnistImage(images, 1);
  assert.deepEqual([img.width, img.height, img.channels, img.bitDepth], [28, 28, 1, 8]);
  assert.deepEqual(img.data, PIXELS.subarray(784, 1568));
  assert.deepEqual(fashionMnistLabel(labels, 0), { label: 9, name: 'Ankle boot' });
  assert.deepEqual(fashionMnistLabel(labels, 1), { label: 0, name: 'T-shirt/top' });
  assert.throws(() => fashionMnistImage(images, 3), UsageError);
  assert.throws(() => fashionMnistImage(images, -1), UsageError);
  assert.throws(() => fashionMnistImage(labels, 0), ImageError);
  assert.equal(FASHION_MNIST_CLASSES.length, 10);
});

test('parseFashionMnistSpec', () => {
  assert.deepEqual(parseFashionMnistSpec('test:0-7'), { split: 'test', indices: [0, 1, 2, 3, 4, 5, 6, 7] });
  assert.deepEqual(parseFashionMnistSpec('train:12'), { split: 'train', indices: [12] });
  assert.deepEqual(parseFashionMnistSpec('test:3,1,9-10'), { split: 'test', indices: [3, 1, 9, 10] });
  assert.deepEqual(parseFashionMnistSpec('test:9999'), { split: 'test', indices: [9999] });
  for (const bad of ['test', 'valid:0', 'test:', 'test:a', 'test:5-2', 'test:10000', 'train:0-60000', 'test:1,,2', 'test:-1']) {
    assert.throws(
      () => parseFashionMnistSpec(bad),
      (e: unknown) => e instanceof UsageError && e.message.includes(`'${bad}'`) && e.message.includes('test:0-7'),
      bad,
    );
  }
});

test('loadFashionMnist reads a directory of IDX files and explains a missing one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fmnist-'));
  try {
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx(0x08, [N, 28, 28], PIXELS)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [N], LABELS)); // plain file accepted too
    const test_ = loadFashionMnist('test', dir);
    assert.equal(test_.count, N);
    assert.deepEqual(test_.images.data, PIXELS);
    assert.deepEqual(Array.from(test_.labels.data), [9, 0, 3]);
    assert.throws(
      () => loadFashionMnist('train', dir),
      (e: unknown) => e instanceof FileError && /train split not found/.test(e.message) && /apt-get install dataset-fashion-mnist/.test(e.message),
    );
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx(0x08, [2, 28, 28], PIXELS.subarray(0, 2 * 784))));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx(0x08, [N], LABELS)));
    assert.throws(() => loadFashionMnist('train', dir), (e: unknown) => e instanceof ImageError && /2 images but labels of shape \[3\]/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// CI installs the package (.ci/run), so there a missing dataset fails; elsewhere it skips with the reason.
const datasetMissing = !existsSync(join(DEFAULT_FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));
test('the installed Debian dataset', { skip: datasetMissing && !process.env.CI && 'dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)' }, () => {
  const t = loadFashionMnist('test');
  assert.equal(t.count, 10000);
  assert.deepEqual(t.images.dims, [10000, 28, 28]);
  assert.deepEqual(fashionMnistLabel(t.labels, 0), { label: 9, name: 'Ankle boot' });
  const img = fashionMnistImage(t.images, 0);
  assert.equal(img.data.length, 784);
});
