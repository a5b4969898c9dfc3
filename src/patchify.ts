/**
 * MAE's patchify / unpatchify: images [N,C,H,W] ⇄ patch rows [N,L,p·p·C].
 *
 * A patch is flattened in (p, q, c) order, channel fastest, as models_mae.py does with
 * `einsum('nchpwq->nhwpqc')`; patch l = row·(W/p) + col. This is the layout of the loss
 * targets and of the decoder's `pred`. (The patch-embedding conv weight uses (c, p, q) instead;
 * that order belongs to the embedding, not here.)
 */
import type { MaeConfig } from './config.js';
import { shapesOf } from './config.js';
import { InputError } from './errors.js';

/** Values in one image, C·H·W. */
export function imagePixels(cfg: MaeConfig): number {
  return cfg.numChannels * cfg.imageSize * cfg.imageSize;
}

function checkBatch(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new InputError(`batch size must be a positive integer, got ${n}`);
}

/** [N,C,H,W] → [N,L,p·p·C]. `pixels` is row-major `pixel_values`. */
export function patchify(pixels: Float32Array, n: number, cfg: MaeConfig): Float32Array {
  checkBatch(n);
  const c = cfg.numChannels, s = cfg.imageSize, p = cfg.patchSize;
  if (pixels.length !== n * imagePixels(cfg)) {
    throw new InputError(
      `pixel_values: expected [N,C,H,W] = [${n},${c},${s},${s}] (${n * imagePixels(cfg)} values), got ${pixels.length} values`,
    );
  }
  const { grid, numPatches, patchDim } = shapesOf(cfg);
  const out = new Float32Array(n * numPatches * patchDim);
  forEachPixel(n, cfg, grid, numPatches, patchDim, (src, dst) => { out[dst] = pixels[src]; });
  return out;
}

/** [N,L,p·p·C] → [N,C,H,W]; the exact inverse of `patchify`. */
export function unpatchify(patches: Float32Array, n: number, cfg: MaeConfig): Float32Array {
  checkBatch(n);
  const { grid, numPatches, patchDim } = shapesOf(cfg);
  if (patches.length !== n * numPatches * patchDim) {
    throw new InputError(
      `patches: expected [N,L,p·p·C] = [${n},${numPatches},${patchDim}] (${n * numPatches * patchDim} values), got ${patches.length} values`,
    );
  }
  const out = new Float32Array(n * imagePixels(cfg));
  forEachPixel(n, cfg, grid, numPatches, patchDim, (src, dst) => { out[src] = patches[dst]; });
  return out;
}

/**
 * Visits every pixel once with its index in the image tensor and in the patch tensor, so
 * patchify and unpatchify share one definition of the layout and cannot drift apart.
 */
function forEachPixel(
  n: number, cfg: MaeConfig, grid: number, numPatches: number, patchDim: number,
  visit: (imageIndex: number, patchIndex: number) => void,
): void {
  const c = cfg.numChannels, s = cfg.imageSize, p = cfg.patchSize;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * s * s;
      for (let y = 0; y < s; y++) {
        const row = (y / p) | 0, pi = y - row * p;
        for (let x = 0; x < s; x++) {
          const col = (x / p) | 0, qj = x - col * p;
          const patch = b * numPatches + row * grid + col;
          visit(plane + y * s + x, patch * patchDim + (pi * p + qj) * c + ch);
        }
      }
    }
  }
}
