/**
 * Small helpers shared by the bench's engines, with no heavy imports (the load-time children
 * import this, and every import they make is counted in their load time).
 */
import { type MaeConfig, shapesOf } from '../src/config.js';
import { randomMasking, seededNoise } from '../src/masking.js';

export interface BenchInput {
  pixels: Float32Array;
  noise: Float32Array;
  idsKeep: Int32Array;
  idsRestore: Int32Array;
  mask: Float32Array;
}

/** One image (values in [-2, 2)) and its masking at the config's ratio, from fixed seeds: the same for every engine. */
export function benchInput(cfg: MaeConfig): BenchInput {
  const L = shapesOf(cfg).numPatches;
  const pixels = seededNoise(9, 1, cfg.numChannels * cfg.imageSize * cfg.imageSize).map((v) => v * 4 - 2);
  const noise = seededNoise(0, 1, L);
  const m = randomMasking(noise, 1, L, cfg.maskRatio);
  return { pixels, noise, idsKeep: m.idsKeep, idsRestore: m.idsRestore, mask: m.mask };
}

/** W [out, in] row-major → Wᵀ [in, out] (a Linear's weight as the right operand of a matmul). */
export function transposeLinear(w: Float32Array, out: number, inp: number): Float32Array {
  const t = new Float32Array(out * inp);
  for (let o = 0; o < out; o++) {
    const row = o * inp;
    for (let i = 0; i < inp; i++) t[i * out + o] = w[row + i];
  }
  return t;
}
