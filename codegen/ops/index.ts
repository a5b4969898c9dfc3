/** The op table: each kernel spec's AssemblyScript emitter (WGSL emitters join here later). */
import { type KernelSpec, attentionGemms } from '../../src/plan.js';
import type { EmittedFunction } from './kernel-source.js';
import { emitGemm } from './gemm.js';
import { emitLayerNorm } from './layernorm.js';
import { emitAttention } from './attention.js';
import { emitAddRowsGathered, emitPatchGather, emitUnshuffle } from './tokens.js';

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

/** Kernels a kernel calls (emitted before it, not exported). */
export function dependenciesOf(s: KernelSpec): KernelSpec[] {
  if (s.op === 'attention') {
    const { scores, values } = attentionGemms(s);
    return [scores, values];
  }
  return [];
}
