/**
 * What the encoder sees during pretraining, the paper's three samplings (Figure 6): random (as
 * models_mae.py: the patches with the smallest uniform noise are kept), block-wise (BEiT's
 * masking: rectangles of random area and aspect ratio until the number to remove is reached,
 * adapted to small grids: the minimum block area scales with the grid, and when no block fits
 * any more the rest is removed patch by patch), and grid (one patch of every 2×2 kept, the same
 * for every image). Random and block remove exactly L − int(L·(1 − ratio)) patches; grid keeps
 * ⌈g/2⌉² of a g×g grid whatever the ratio. All three come back as models_mae.py's masking tensors
 * (ids_keep in noise order, ids_restore, mask), made from a noise that ranks kept patches first.
 */
import { InputError } from '../errors.js';
import { lenKeep } from '../shapes.js';
import { type Masking, maskingFromNoise, randomMasking } from '../masking.js';
import { uniform } from '../random.js';

export type MaskingStrategy = 'random' | 'block' | 'grid';
export const MASKING_STRATEGIES: readonly MaskingStrategy[] = ['random', 'block', 'grid'];

/** BEiT's block aspect-ratio range [0.3, 1/0.3] and minimum block (16 of 196 patches), scaled to the grid. */
const MIN_ASPECT = 0.3;
const BEIT_MIN_BLOCK = 16 / 196;

/** Removed patches of one image (1 = removed) by BEiT's block-wise procedure, `remove` exactly. */
export function blockMask(grid: number, remove: number, rand: () => number): Uint8Array {
  const L = grid * grid;
  const mask = new Uint8Array(L);
  const minArea = Math.max(1, Math.round(BEIT_MIN_BLOCK * L));
  const logAspect = [Math.log(MIN_ASPECT), Math.log(1 / MIN_ASPECT)] as const;
  let count = 0;
  const tryBlock = (maxPatches: number): number => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const area = minArea + rand() * (Math.max(minArea, maxPatches) - minArea);
      const aspect = Math.exp(logAspect[0] + rand() * (logAspect[1] - logAspect[0]));
      const h = Math.round(Math.sqrt(area * aspect)), w = Math.round(Math.sqrt(area / aspect));
      if (h < 1 || w < 1 || h > grid || w > grid) continue;
      const top = Math.floor(rand() * (grid - h + 1)), left = Math.floor(rand() * (grid - w + 1));
      let fresh = 0;
      for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) fresh += 1 - mask[i * grid + j]!;
      if (fresh > 0 && fresh <= maxPatches) {
        for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) mask[i * grid + j] = 1;
        return fresh;
      }
    }
    return 0;
  };
  while (count < remove) {
    const delta = tryBlock(remove - count);
    if (delta === 0) break;
    count += delta;
  }
  // No block fits the few that remain: remove them one by one, next to a removed patch where one is free.
  while (count < remove) {
    const free: number[] = [], beside: number[] = [];
    for (let l = 0; l < L; l++) {
      if (mask[l]) continue;
      free.push(l);
      const r = Math.floor(l / grid), c = l % grid;
      if ((r > 0 && mask[l - grid]) || (r < grid - 1 && mask[l + grid]) || (c > 0 && mask[l - 1]) || (c < grid - 1 && mask[l + 1])) beside.push(l);
    }
    const pool = beside.length > 0 ? beside : free;
    mask[pool[Math.floor(rand() * pool.length)]!] = 1;
    count++;
  }
  return mask;
}

/** The 2×2 grid's kept patches (row and column even) of a g×g grid: 1 = removed. */
export function gridMask(grid: number): Uint8Array {
  const mask = new Uint8Array(grid * grid).fill(1);
  for (let r = 0; r < grid; r += 2) for (let c = 0; c < grid; c += 2) mask[r * grid + c] = 0;
  return mask;
}

/** Kept patches per image under a strategy. */
export function keptPatches(strategy: MaskingStrategy, grid: number, maskRatio: number): number {
  return strategy === 'grid' ? Math.ceil(grid / 2) ** 2 : lenKeep(grid * grid, maskRatio);
}

/**
 * Masks for n images from a seed: random draws models_mae.py's uniform noise; block and grid
 * rank the kept patches first (their order among themselves random), so the same gather and
 * unshuffle serve all three.
 */
export function sampleMasking(strategy: MaskingStrategy, n: number, grid: number, maskRatio: number, seed: number): Masking {
  if (!MASKING_STRATEGIES.includes(strategy)) throw new InputError(`masking must be one of ${MASKING_STRATEGIES.join(', ')}, got '${strategy}'`);
  const L = grid * grid;
  const rand = uniform(seed);
  const noise = new Float32Array(n * L);
  for (let i = 0; i < noise.length; i++) noise[i] = rand();
  if (strategy === 'random') return randomMasking(noise, n, L, maskRatio);
  const keep = keptPatches(strategy, grid, maskRatio);
  if (keep < 1) throw new InputError(`mask ratio ${maskRatio} keeps no patch of ${L}`);
  for (let img = 0; img < n; img++) {
    const removed = strategy === 'grid' ? gridMask(grid) : blockMask(grid, L - keep, rand);
    // Kept patches rank first: noise in [0, 1) kept, [1, 2) removed.
    for (let l = 0; l < L; l++) noise[img * L + l] = (noise[img * L + l]! + removed[l]!) / 2;
  }
  return maskingFromNoise(noise, n, L, keep);
}
