/** Seeded splits for the linear probe: permutations and per-class (stratified) hold-outs. */
import { mulberry32 } from '../random.js';

/** A permutation of 0 … n−1: Fisher–Yates driven by mulberry32(seed). */
export function seededPermutation(n: number, seed: number): Int32Array {
  const next = mulberry32(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((next() / 4294967296) * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

export interface Split {
  /** Indices kept (ascending). */
  keep: Int32Array;
  /** Indices held out (ascending). */
  held: Int32Array;
}

/**
 * Holds out round(fraction · n_c) of each class c (at least 1 and at most n_c − 1 when the class
 * has 2 or more items; none of a class with 1 item): each class's indices, in ascending order, are
 * permuted by seededPermutation(n_c, seed + c) and the first ones held out. `labels` are 0 … K−1.
 */
export function stratifiedSplit(labels: ArrayLike<number>, classes: number, fraction: number, seed: number): Split {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`split fraction must be in (0, 1), got ${fraction}`);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const held: number[] = [];
  byClass.forEach((idx, c) => {
    if (idx.length < 2) return;
    const count = Math.min(idx.length - 1, Math.max(1, Math.round(fraction * idx.length)));
    const perm = seededPermutation(idx.length, (seed + c) >>> 0);
    for (let i = 0; i < count; i++) held.push(idx[perm[i]!]!);
  });
  const isHeld = new Uint8Array(labels.length);
  for (const i of held) isHeld[i] = 1;
  const keep: number[] = [];
  for (let i = 0; i < labels.length; i++) if (!isHeld[i]) keep.push(i);
  return { keep: Int32Array.from(keep), held: Int32Array.from(held).sort() };
}
