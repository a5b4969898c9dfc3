/**
 * MAE random masking (models_mae.py `random_masking`), driven by caller-supplied noise so a run
 * is reproducible: sort each row's noise ascending, keep the first len_keep patches (smallest
 * noise), remove the rest.
 */
import { checkMaskRatio, lenKeep as lenKeepOf } from './config.js';
import { InputError } from './errors.js';
import { mulberry32 } from './random.js';

export interface Masking {
  /** Kept patches per image, int(L·(1 − mask_ratio)). */
  lenKeep: number;
  /** [N,L] argsort(noise) per row, ascending. */
  idsShuffle: Int32Array;
  /** [N,L] inverse permutation of idsShuffle: idsRestore[idsShuffle[j]] = j. */
  idsRestore: Int32Array;
  /** [N,lenKeep] idsShuffle[:, :lenKeep]: kept patches in order of increasing noise (encoder token order). */
  idsKeep: Int32Array;
  /** [N,L] 0 = kept, 1 = removed, in original patch order. */
  mask: Float32Array;
}

/**
 * Masks with the given noise [N,L]. The argsort is stable (equal noise: lower patch index
 * first); torch.argsort is not, so on tied noise torch may differ, but the result here is the
 * same on every platform. Throws ConfigError for a mask ratio outside [0, 1), InputError for
 * noise of the wrong length or with non-finite values.
 */
export function randomMasking(noise: Float32Array, n: number, numPatches: number, maskRatio: number): Masking {
  checkMaskRatio(maskRatio);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`batch size must be a positive integer, got ${n}`);
  if (!Number.isInteger(numPatches) || numPatches < 1) {
    throw new InputError(`number of patches must be a positive integer, got ${numPatches}`);
  }
  const L = numPatches;
  if (noise.length !== n * L) {
    throw new InputError(`noise: expected [N,L] = [${n},${L}] (${n * L} values), got ${noise.length} values`);
  }
  for (let i = 0; i < noise.length; i++) {
    // NaN would make the sort order undefined; ±Infinity is rejected too, as torch.rand never makes it.
    if (!Number.isFinite(noise[i])) {
      throw new InputError(`noise: value at [${Math.floor(i / L)},${i % L}] is ${noise[i]}; noise must be finite`);
    }
  }
  return maskingFromNoise(noise, n, L, lenKeepOf(L, maskRatio));
}

/** The masking tensors of noise [N,L] (checked by the caller) keeping the `keep` patches of smallest noise per image. */
export function maskingFromNoise(noise: Float32Array, n: number, L: number, keep: number): Masking {
  const idsShuffle = new Int32Array(n * L);
  const idsRestore = new Int32Array(n * L);
  const idsKeep = new Int32Array(n * keep);
  const mask = new Float32Array(n * L);
  const order = new Int32Array(L);
  for (let b = 0; b < n; b++) {
    const base = b * L;
    for (let l = 0; l < L; l++) order[l] = l;
    // Ties go to the lower index, which makes the sort stable whatever the engine's algorithm.
    order.sort((a, c) => noise[base + a] - noise[base + c] || a - c);
    for (let j = 0; j < L; j++) {
      const l = order[j];
      idsShuffle[base + j] = l;
      idsRestore[base + l] = j;
      mask[base + l] = j < keep ? 0 : 1;
    }
    idsKeep.set(order.subarray(0, keep), b * keep);
  }
  return { lenKeep: keep, idsShuffle, idsRestore, idsKeep, mask };
}

/**
 * Deterministic masking noise [N,L], uniform in [0, 1), from Mulberry32 (Tommy Ettinger's
 * 32-bit generator: state += 0x6D2B79F5, then two xorshift-multiply rounds). Values are drawn
 * row-major in one stream; each is the top 24 bits of an output / 2^24, so it is exact in
 * float32 and the same on every platform (only 32-bit integer arithmetic via Math.imul).
 * The seed must be an integer in [0, 2^32). It is not torch.rand: same seed ≠ same mask as
 * PyTorch. Ties are possible (24-bit values) and are broken stably by randomMasking.
 */
export function seededNoise(seed: number, n: number, numPatches: number): Float32Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InputError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  if (!Number.isInteger(n) || n < 1) throw new InputError(`batch size must be a positive integer, got ${n}`);
  if (!Number.isInteger(numPatches) || numPatches < 1) {
    throw new InputError(`number of patches must be a positive integer, got ${numPatches}`);
  }
  const out = new Float32Array(n * numPatches);
  const next = mulberry32(seed);
  // The top 24 bits: exact in float32.
  for (let i = 0; i < out.length; i++) out[i] = (next() >>> 8) / 16777216;
  return out;
}
