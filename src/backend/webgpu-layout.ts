/**
 * Where a model lives on a WebGPU device: one buffer per weight and one per activation (program
 * buffer names from src/plan.ts), and what that asks of the adapter's limits.
 *
 * Weights: the WASM backend's packing (src/pack.ts) with a WebGPU tiling — every Linear packed as
 * one panel of nr = n rounded up to 4, which is plain Wᵀ [k, n] with rows padded to whole vec4s, so
 * the WGSL GEMM reads one vec4 of B per k and adjacent invocations read adjacent vec4s. Every
 * buffer is a whole number of vec4s (biases are read as vec4).
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../config.js';
import { type BufferName, type Tiling, layoutOf, linearShapes, tileKey, weightSizes } from '../plan.js';
import type { GpuNeeds } from './webgpu-device.js';

/** Rows per invocation of the WGSL GEMM register tile (× one vec4 of columns). */
export const GPU_GEMM_ROWS = 4;

export const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/** Bytes of a buffer holding `floats` values: a whole number of vec4s, at least one. */
export const bufferBytes = (floats: number): number => Math.max(16, roundUp(floats * 4, 16));

/** The WebGPU tiling: each Linear [out n, in k] as one panel of round-up-4(n) columns (= padded Wᵀ). */
export function gpuTiling(cfg: MaeConfig): Tiling {
  return Object.fromEntries(linearShapes(cfg).map(([n, k]) => [tileKey(k, n), { mr: GPU_GEMM_ROWS, nr: roundUp(n, 4) }]));
}

/** Activation buffers the programs use, in floats (ids: i32). The WASM-only scratch (kt, staging) is left out. */
export function gpuActivationSizes(cfg: MaeConfig): Partial<Record<BufferName, number>> {
  const sh = shapesOf(cfg);
  const T = 1 + sh.numPatches;
  const wasm = layoutOf(cfg, 1).buffers;
  const sizes: Partial<Record<BufferName, number>> = {};
  for (const name of ['pixels', 'ids', 'patches', 'x', 'xln', 'qkv', 'att', 'hidden', 'latent', 'emb', 'pred'] as const) sizes[name] = wasm[name].length;
  // Attention scores for all heads at once: [heads, t, t].
  sizes.scores = Math.max(cfg.numAttentionHeads, cfg.decoderNumAttentionHeads) * T * T;
  return sizes;
}

export function gpuNeeds(cfg: MaeConfig): GpuNeeds {
  const weights = weightSizes(cfg, gpuTiling(cfg)).map(([, n]) => n);
  const acts = Object.values(gpuActivationSizes(cfg)) as number[];
  const sh = shapesOf(cfg);
  const T = 1 + sh.numPatches;
  const widest = Math.max(...linearShapes(cfg).map(([n]) => n), cfg.hiddenSize, cfg.decoderHiddenSize, sh.patchDim);
  return {
    maxBufferBytes: bufferBytes(Math.max(...weights, ...acts)),
    // GEMM with a separate residual, unshuffle: 5.
    storageBuffersPerStage: 5,
    workgroupInvocations: 64,
    workgroupSizeX: 64,
    workgroupSizeY: 4,
    // Element-wise kernels put rows on y (up to t), GEMMs column vectors / 16 on x, attention heads on y.
    workgroupsPerDimension: Math.max(T, Math.ceil(widest / 64), cfg.numAttentionHeads, cfg.decoderNumAttentionHeads),
  };
}
