/**
 * The exact (erf) GELU's backward. The forward GELU is the epilogue of a GEMM (codegen/ops/gemm.ts,
 * assembly/gelu.ts gelu4); its backward is a row-wise op of its own, dx = dy·(Φ(u) + u·φ(u)) from
 * the saved pre-activation u (assembly/gelu_backward.ts, the forward's erf and exp).
 */
import { type GeluBackwardSpec, type GeluSpec, kernelName } from '../../src/plan.js';
import { signatureOf } from '../../src/kernel-params.js';
import { type EmittedFunction, rowRangeBody } from './kernel-source.js';

export function emitGeluBackward(s: GeluBackwardSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    // Rows are contiguous: the range is one run of (r1 − r0)·width values.
    body: rowRangeBody((at, n) => `geluBackward(${at('dy', s.width)}, ${at('u', s.width)}, ${at('dx', s.width)}, (${n}) * ${s.width})`),
    doc: `dx[rows,${s.width}] = dy ⊙ GELU'(u) (exact erf GELU) for rows [r0, r1); dx may be dy.`,
    exported: true,
  };
}

/** Training's GELU on its own (fc1 runs without the fused epilogue so the pre-activation is kept): the epilogue's gelu4, so h is bit-identical to the fused forward's. */
export function emitGelu(s: GeluSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: rowRangeBody((at, n) => `geluRows(${at('x', s.width)}, ${at('out', s.width)}, (${n}) * ${s.width})`),
    doc: `out[rows,${s.width}] = GELU(x) (exact erf GELU) for rows [r0, r1); out may be x.`,
    exported: true,
  };
}
