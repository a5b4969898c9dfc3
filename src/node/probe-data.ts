/**
 * Labelled images for the linear probe (Node): Fashion-MNIST's IDX files, or a folder with one
 * subfolder per class (the subfolder's name is the class), either split into train/ and test/
 * or split here, per class, by a seeded draw.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileError, UsageError } from '../errors.js';
import { FASHION_MNIST_CLASSES, fashionMnistImage } from '../data/fashion-mnist.js';
import { stratifiedSplit } from '../probe/split.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { type ImageItem, imageFiles } from './image-files.js';
import { reason } from './regular-file.js';

export interface LabelledItems {
  items: ImageItem[];
  /** [items.length] class indices. */
  labels: Int32Array;
}

export interface ProbeDataset {
  classes: string[];
  train: LabelledItems;
  test: LabelledItems;
  /** How the data was read and split, for the report. */
  description: Record<string, unknown>;
}

/** Fashion-MNIST: train = the 60,000 training images (or the first trainLimit), test = the 10,000 test images (or the first testLimit). */
export function fashionMnistProbeData(dir: string, opts: { trainLimit?: number; testLimit?: number } = {}): ProbeDataset {
  const split = (name: 'train' | 'test', limit?: number): LabelledItems => {
    const d = loadFashionMnist(name, dir);
    const n = Math.min(d.count, limit ?? d.count);
    const items: ImageItem[] = Array.from({ length: n }, (_, i) => ({ name: `fashion-mnist:${name}:${i}`, load: () => fashionMnistImage(d.images, i) }));
    return { items, labels: Int32Array.from(d.labels.data.subarray(0, n)) };
  };
  const train = split('train', opts.trainLimit);
  const test = split('test', opts.testLimit);
  return {
    classes: [...FASHION_MNIST_CLASSES],
    train,
    test,
    description: {
      data: 'fashion-mnist',
      dir,
      train: opts.trainLimit !== undefined ? `the first ${train.items.length} training images` : `the ${train.items.length} training images`,
      test: opts.testLimit !== undefined ? `the first ${test.items.length} test images` : `the ${test.items.length} test images`,
    },
  };
}

function subfolders(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (e) {
    throw new FileError(`folder '${dir}': cannot be read (${reason(e)})`);
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function classItems(root: string, classes: string[], only?: Set<string>): LabelledItems {
  const items: ImageItem[] = [];
  const labels: number[] = [];
  classes.forEach((c, k) => {
    if (only && !only.has(c)) return;
    const found = imageFiles([join(root, c)]);
    items.push(...found);
    for (let i = 0; i < found.length; i++) labels.push(k);
  });
  return { items, labels: Int32Array.from(labels) };
}

/**
 * A class folder: DIR/<class>/… images (walked recursively), or DIR/train/<class>/… and
 * DIR/test/<class>/… . Classes are the subfolder names in code-point order. Without train/ and
 * test/, each class's images are split by stratifiedSplit(labels, K, testFraction, seed): the
 * held-out share is the test set.
 */
export function classFolderProbeData(dir: string, opts: { testFraction: number; seed: number }): ProbeDataset {
  const s = statSync(dir, { throwIfNoEntry: false });
  if (!s?.isDirectory()) throw new FileError(`--data '${dir}': no such folder (give fashion-mnist or a folder with one subfolder per class)`);
  const top = subfolders(dir);
  if (top.includes('train') && top.includes('test')) {
    const classes = subfolders(join(dir, 'train'));
    if (classes.length < 2) throw new UsageError(`--data '${dir}': train/ needs a subfolder per class, at least 2, found ${classes.length}`);
    const testClasses = subfolders(join(dir, 'test'));
    const unknown = testClasses.filter((c) => !classes.includes(c));
    if (unknown.length > 0) throw new UsageError(`--data '${dir}': test/${unknown[0]} is not a class of train/ (${classes.join(', ')})`);
    if (testClasses.length === 0) throw new UsageError(`--data '${dir}': test/ has no class subfolders`);
    return {
      classes,
      train: classItems(join(dir, 'train'), classes),
      test: classItems(join(dir, 'test'), classes, new Set(testClasses)),
      description: { data: 'class folders', dir, split: 'the folder\'s train/ and test/ subfolders' },
    };
  }
  if (top.length < 2) throw new UsageError(`--data '${dir}': needs a subfolder per class (at least 2), or train/ and test/ subfolders holding them; found ${top.length}`);
  if (top.includes('train') !== top.includes('test')) {
    throw new UsageError(`--data '${dir}': has ${top.includes('train') ? 'train/ but no test/' : 'test/ but no train/'} (give both, or one subfolder per class)`);
  }
  const all = classItems(dir, top);
  const split = stratifiedSplit(all.labels, top.length, opts.testFraction, opts.seed);
  if (split.held.length === 0) throw new UsageError(`--data '${dir}': too few images to hold out a test set (each class needs at least 2)`);
  const subset = (rows: Int32Array): LabelledItems => ({ items: Array.from(rows, (r) => all.items[r]!), labels: Int32Array.from(rows, (r) => all.labels[r]!) });
  return {
    classes: top,
    train: subset(split.keep),
    test: subset(split.held),
    description: {
      data: 'class folders',
      dir,
      split: `test = a seeded stratified ${opts.testFraction} of each class (round(fraction·n), at least 1 of a class of ≥ 2 images; seed ${opts.seed}), train = the rest`,
    },
  };
}
