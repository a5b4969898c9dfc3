/** The op table: each kernel spec's AssemblyScript emitter and its WGSL emitter (one op, one file, both targets). */
import { type KernelSpec, attentionGemms } from '../../src/plan.js';
import type { EmittedFunction } from './kernel-source.js';
import type { WgslKernel, WgslVariant } from './wgsl.js';
import { emitGemm, emitGemmWgsl } from './gemm.js';
import { emitLayerNorm, emitLayerNormWgsl } from './layernorm.js';
import { emitAttention, emitAttentionWgsl } from './attention.js';
import { emitAddRowsGathered, emitAddRowsGatheredWgsl, emitPatchGather, emitPatchGatherWgsl, emitUnshuffle, emitUnshuffleWgsl } from './tokens.js';

export type { WgslKernel, WgslVariant } from './wgsl.js';

/** Module-wide emission choices. */
export interface EmitOptions {
  /** Multiply-add as f32x4.relaxed_madd (FMA) instead of f32x4.mul + f32x4.add. */
  fma: boolean;
}

export function emitAssemblyScript(s: KernelSpec, opts: EmitOptions = { fma: false }): EmittedFunction {
  switch (s.op) {
    case 'gemm': return emitGemm(s, opts.fma);
    case 'layernorm': return emitLayerNorm(s);
    case 'attention': return emitAttention(s);
    case 'patch_gather': return emitPatchGather(s);
    case 'add_rows_gathered': return emitAddRowsGathered(s);
    case 'unshuffle': return emitUnshuffle(s);
  }
}

/** The kernel's WGSL compute module for WebGPU and how a program step binds and dispatches it. */
export function emitWgsl(s: KernelSpec, variant: WgslVariant = {}): WgslKernel {
  switch (s.op) {
    case 'gemm': return emitGemmWgsl(s, variant);
    case 'layernorm': return emitLayerNormWgsl(s);
    case 'attention': return emitAttentionWgsl(s);
    case 'patch_gather': return emitPatchGatherWgsl(s);
    case 'add_rows_gathered': return emitAddRowsGatheredWgsl(s);
    case 'unshuffle': return emitUnshuffleWgsl(s);
  }
}

/** Kernels a kernel calls (emitted before it, not exported). */
export function dependenciesOf(s: KernelSpec): KernelSpec[] {
  if (s.op === 'attention') {
    const { scores, values } = attentionGemms(s);
    return [scores, values];
  }
  return [];
}
