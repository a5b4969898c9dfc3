/**
 * Node loader for Fashion-MNIST as installed by Debian's `dataset-fashion-mnist` package
 * (/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz); plain
 * (gunzipped) files with the same names without `.gz` are accepted too.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FileError, ImageError } from '../errors.js';
import { readBytes } from './regular-file.js';
import { checkIdxImages, parseIdx, type FashionMnistSplit, type IdxArray } from '../data/fashion-mnist.js';

export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The largest IDX file, train-images unpacked, is 47 MB. */
const MAX_IDX_FILE_BYTES = 64 * 2 ** 20;

export interface FashionMnist {
  split: FashionMnistSplit;
  /** [n, 28, 28] unsigned bytes. */
  images: IdxArray;
  /** [n] labels 0 … 9. */
  labels: IdxArray;
  count: number;
}

function readIdx(dir: string, base: string, split: FashionMnistSplit): IdxArray {
  const candidates = [join(dir, `${base}.gz`), join(dir, base)];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new FileError(
      `Fashion-MNIST ${split} split not found: no ${candidates[0]} (install it with 'apt-get install dataset-fashion-mnist', or give the directory that holds the IDX files)`,
    );
  }
  return parseIdx(readBytes(path, 'Fashion-MNIST file', MAX_IDX_FILE_BYTES), path);
}

/** Loads one split's images and labels, checking that their counts agree. */
export function loadFashionMnist(split: FashionMnistSplit, dir = DEFAULT_FASHION_MNIST_DIR): FashionMnist {
  if (split !== 'train' && split !== 'test') throw new FileError(`Fashion-MNIST split must be 'train' or 'test', got '${String(split)}'`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdx(dir, `${prefix}-images-idx3-ubyte`, split);
  const labels = readIdx(dir, `${prefix}-labels-idx1-ubyte`, split);
  checkIdxImages(images, join(dir, `${prefix}-images-idx3-ubyte`));
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new ImageError(`Fashion-MNIST ${split}: ${images.dims[0]} images but labels of shape [${labels.dims.join(', ')}]`);
  }
  return { split, images, labels, count: images.dims[0]! };
}
