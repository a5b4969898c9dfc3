/**
 * What the backward kernel tests share: arrays in one wasm memory with guard cells after each,
 * seeded inputs in [−1, 1), and bound checks that say which element left its bound (and that a
 * plausible mistake would have).
 */
import assert from 'node:assert/strict';
import { mulberry32 } from '../reference/mae-reference.js';

/** Unit roundoff of float32. */
export const U = 2 ** -24;
export const GUARD = 12345.5;

/** Uniform in [−1, 1) from a seed. */
export function rng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() * 2 - 1;
}

/** Arrays in one memory, each followed by guard cells; reset between tests. */
export class Arena {
  readonly memory: WebAssembly.Memory;
  readonly f32: Float32Array;
  private at = 65536;
  constructor(pages: number) {
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.f32 = new Float32Array(this.memory.buffer);
  }
  reset(): void { this.at = 65536; }
  alloc(n: number, fill?: (i: number) => number): number {
    const ptr = this.at;
    for (let i = 0; i < n + 16; i++) this.f32[(ptr >> 2) + i] = i < n && fill ? fill(i) : GUARD;
    this.at += Math.ceil((n + 16) * 4 / 64) * 64;
    return ptr;
  }
  view(ptr: number, n: number): Float32Array { return this.f32.subarray(ptr >> 2, (ptr >> 2) + n); }
  copy(ptr: number, n: number): Float64Array { return Float64Array.from(this.view(ptr, n)); }
  guardIntact(ptr: number, n: number): boolean { return this.view(ptr + n * 4, 16).every((v) => v === GUARD); }
}

/** Index of the first element outside its bound, or −1. */
export function firstOutside(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: (i: number) => number): number {
  for (let i = 0; i < expected.length; i++) if (!(Math.abs(actual[i]! - expected[i]!) <= tol(i))) return i;
  return -1;
}

export function assertWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  const i = firstOutside(actual, expected, tol);
  if (i >= 0) assert.fail(`${what}: element ${i} = ${actual[i]}, expected ${expected[i]} (|diff| ${Math.abs(actual[i]! - expected[i]!).toExponential(2)} > ${tol(i).toExponential(2)})`);
}

/** The mistake check: a wrong formula's values leave the bound somewhere. */
export function assertCaught(actual: ArrayLike<number>, wrong: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  assert.ok(firstOutside(actual, wrong, tol) >= 0, `${what}: the bound does not tell the kernel from the mistake`);
}
