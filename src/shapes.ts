/**
 * Shapes that follow from a config. Apart from config.ts so that the memory plan (plan.ts), which
 * config validation consults, does not import config.ts back.
 */
import type { MaeConfig } from './config.js';

/** Shapes that follow from a config. */
export interface MaeShapes {
  /** Patches per side (image_size / patch_size). */
  readonly grid: number;
  /** Number of patches L. */
  readonly numPatches: number;
  /** Values per patch, p·p·C. */
  readonly patchDim: number;
  readonly headDim: number;
  readonly decoderHeadDim: number;
}

export function shapesOf(cfg: MaeConfig): MaeShapes {
  const grid = cfg.imageSize / cfg.patchSize;
  return {
    grid,
    numPatches: grid * grid,
    patchDim: cfg.patchSize * cfg.patchSize * cfg.numChannels,
    headDim: cfg.hiddenSize / cfg.numAttentionHeads,
    decoderHeadDim: cfg.decoderHiddenSize / cfg.decoderNumAttentionHeads,
  };
}

/** Kept patches for a mask ratio: int(L·(1 − ratio)), truncated as in models_mae.py. */
export function lenKeep(numPatches: number, maskRatio: number): number {
  return Math.trunc(numPatches * (1 - maskRatio));
}
