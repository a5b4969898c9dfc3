/** The op table: each kernel spec's AssemblyScript emitter and its WGSL emitter (one op, one file, both targets). */
import { type KernelSpec, attentionBackwardGemms, attentionGemms, kernelName } from '../../src/plan.js';
import type { EmittedFunction } from './kernel-source.js';
import type { WgslKernel, WgslVariant } from './wgsl.js';
import { KernelError } from '../../src/errors.js';
import { emitColumnSum, emitGemm, emitGemmWgsl, emitLinearDw, emitLinearDx, emitMatmulTn } from './gemm.js';
import { emitLayerNorm, emitLayerNormBackward, emitLayerNormStats, emitLayerNormWgsl } from './layernorm.js';
import { emitAttention, emitAttentionBackward, emitAttentionWgsl, emitSoftmaxBackward } from './attention.js';
import { emitGelu, emitGeluBackward } from './gelu.js';
import { emitAdamW } from './adamw.js';
import { emitMseLossBackward } from './loss.js';
import { emitMaskRows, emitMaskRowsBackward, emitAddRowsGathered, emitAddRowsGatheredWgsl, emitEncoderInputBackward, emitUnshuffleBackward, emitPatchGather, emitPatchGatherWgsl, emitUnshuffle, emitUnshuffleWgsl } from './tokens.js';

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
    case 'layernorm_stats': return emitLayerNormStats(s);
    case 'layernorm_backward': return emitLayerNormBackward(s);
    case 'gelu': return emitGelu(s);
    case 'adamw': return emitAdamW(s);
    case 'mask_rows': return emitMaskRows(s);
    case 'mask_rows_backward': return emitMaskRowsBackward(s);
    case 'gelu_backward': return emitGeluBackward(s);
    case 'softmax_backward': return emitSoftmaxBackward(s);
    case 'mse_loss_backward': return emitMseLossBackward(s);
    case 'column_sum': return emitColumnSum(s);
    case 'linear_dx': return emitLinearDx(s, opts.fma);
    case 'linear_dw': return emitLinearDw(s, opts.fma);
    case 'matmul_tn': return emitMatmulTn(s, opts.fma);
    case 'attention_backward': return emitAttentionBackward(s);
    case 'unshuffle_backward': return emitUnshuffleBackward(s);
    case 'encoder_input_backward': return emitEncoderInputBackward(s);
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
    // The backward kernels have no WGSL emitter yet (their math lives in one core function each).
    default: throw new KernelError(`no WGSL emitter for ${kernelName(s)} yet`);
  }
}

/** Kernels a kernel calls (emitted before it, not exported). */
export function dependenciesOf(s: KernelSpec): KernelSpec[] {
  if (s.op === 'attention') {
    const { scores, values } = attentionGemms(s);
    return [scores, values];
  }
  if (s.op === 'attention_backward') {
    const { dv, dp, dq, dk } = attentionBackwardGemms(s);
    return [dv, dp, dq, dk];
  }
  return [];
}
