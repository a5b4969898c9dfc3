/**
 * Multi-head self-attention at a fixed sequence length, reading the fused qkv buffer [t, 3·width]
 * (q, k, v blocks; head h owns columns h·d..(h+1)·d of each): per head, keys transposed, scores
 * S = (Q·Kᵀ)·d^-0.5 by a generated GEMM, row softmax, then P·V by a second GEMM into the head's
 * columns of out [t, width].
 */
import { type AttentionSpec, attentionGemms, kernelName } from '../../src/plan.js';
import type { EmittedFunction } from './kernel-source.js';

export function emitAttention(s: AttentionSpec): EmittedFunction {
  const width = s.heads * s.headDim;
  const { scores, values } = attentionGemms(s);
  const body = `
for (let h = h0; h < h1; h++) {
  const q = qkv + <usize>(h * ${s.headDim}) * 4;
  const k = qkv + <usize>(${width} + h * ${s.headDim}) * 4;
  const v = qkv + <usize>(${2 * width} + h * ${s.headDim}) * 4;
  transposeHead(k, ${3 * width}, kt, ${s.t}, ${s.headDim});
  ${kernelName(scores)}(q, kt, 0, scores, 0, ${s.t});
  softmaxRows(scores, ${s.t}, ${s.t}, ${s.t});
  ${kernelName(values)}(scores, v, 0, out + <usize>(h * ${s.headDim}) * 4, 0, ${s.t});
}`;
  return {
    name: kernelName(s),
    params: [['qkv', 'usize'], ['out', 'usize'], ['scores', 'usize'], ['kt', 'usize'], ['h0', 'i32'], ['h1', 'i32']],
    body: body.trim(),
    doc: `out[${s.t},${width}] = softmax(Q·Kᵀ/√${s.headDim})·V over heads [h0, h1) of ${s.heads}, width ${s.headDim}; scratch scores [${s.t},${s.t}], kt [${s.headDim},${s.t}].`,
    exported: true,
  };
}
