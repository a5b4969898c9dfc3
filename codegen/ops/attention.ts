/**
 * Multi-head self-attention at a fixed sequence length, reading the fused qkv buffer [t, 3·width]
 * (q, k, v blocks; head h owns columns h·d..(h+1)·d of each): per head, keys transposed, scores
 * S = (Q·Kᵀ)·d^-0.5 by a generated GEMM, row softmax, then P·V by a second GEMM into the head's
 * columns of out [t, width].
 */
import { type AttentionBackwardSpec, attentionBackwardGemms, type AttentionSpec, type SoftmaxBackwardSpec, attentionGemms, kernelName } from '../../src/plan.js';
import { signatureOf } from '../../src/kernel-params.js';
import { type EmittedFunction, rowRangeBody } from './kernel-source.js';
import { type WgslKernel, WG, ceilDiv, f32Lit, u32Lit, wgslExp, wgslHeader } from './wgsl.js';

export function emitAttention(s: AttentionSpec): EmittedFunction {
  const width = s.heads * s.headDim;
  const { scores, values } = attentionGemms(s);
  // Training keeps each head's P in the tape (probs [heads, t, t]) rather than one scratch.
  const scoresAt = s.saveProbs ? `const scores = probs + <usize>(h * ${s.t * s.t}) * 4;\n  ` : '';
  const body = `
for (let h = h0; h < h1; h++) {
  ${scoresAt}const q = qkv + <usize>(h * ${s.headDim}) * 4;
  const k = qkv + <usize>(${width} + h * ${s.headDim}) * 4;
  const v = qkv + <usize>(${2 * width} + h * ${s.headDim}) * 4;
  transposeHead(k, ${3 * width}, kt, ${s.t}, ${s.headDim});
  ${kernelName(scores)}(q, kt, 0, scores, 0, ${s.t});
  softmaxRows(scores, ${s.t}, ${s.t}, ${s.t});
  ${kernelName(values)}(scores, v, 0, out + <usize>(h * ${s.headDim}) * 4, 0, ${s.t});
}`;
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: body.trim(),
    doc: `out[${s.t},${width}] = softmax(Q·Kᵀ/√${s.headDim})·V over heads [h0, h1) of ${s.heads}, width ${s.headDim}; ${s.saveProbs ? `P kept in probs [${s.heads},${s.t},${s.t}]` : `scratch scores [${s.t},${s.t}]`}, kt [${s.headDim},${s.t}].`,
    exported: true,
  };
}

/**
 * WGSL: one invocation per (query row, head), fused — the same three stages as the AssemblyScript
 * kernel without a transpose: the row's scaled scores (Q_h·K_hᵀ)·d^-0.5 into its row of the scores
 * scratch [heads, t, t], the row softmax (max, exp as assembly/gelu.ts exp4, sum, divide), then
 * P·V_h into the head's columns of out [t, width]. No workgroup memory, no barriers.
 */
export function emitAttentionWgsl(s: AttentionSpec): WgslKernel {
  const width = s.heads * s.headDim;
  const ld = 3 * width;
  const T = s.t;
  const d = s.headDim;
  const { scores } = attentionGemms(s);
  // Step arguments (program.ts): [qkv, out, scores, kt]; kt (the WASM kernel's transposed keys) is not used.
  const params = [
    { name: 'q0', from: { offsetOf: 0 } },
    { name: 'o0', from: { offsetOf: 1 } },
    { name: 's0', from: { offsetOf: 2 } },
  ];
  const buffers = [
    { name: 'QKV', type: 'f32', write: false, arg: 0 },
    { name: 'OUT', type: 'f32', write: true, arg: 1 },
    { name: 'S', type: 'f32', write: true, arg: 2 },
  ];
  const code = `// ${kernelName(s)}: out[${T},${width}] = softmax(Q·Kᵀ/√${d})·V for ${s.heads} heads of width ${d}; qkv [${T},${ld}]; scratch [${s.heads},${T},${T}].
${wgslHeader(params, buffers)}
${wgslExp('exp1', 'f32')}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let h = gid.y;
  if (i >= ${u32Lit(T)} || h >= ${u32Lit(s.heads)}) { return; }
  let q = P.q0 + i * ${u32Lit(ld)} + h * ${u32Lit(d)};
  let kb = P.q0 + ${u32Lit(width)} + h * ${u32Lit(d)};
  let vb = P.q0 + ${u32Lit(2 * width)} + h * ${u32Lit(d)};
  let srow = P.s0 + (h * ${u32Lit(T)} + i) * ${u32Lit(T)};
  var mx = 0.0;
  for (var j = 0u; j < ${u32Lit(T)}; j++) {
    let kj = kb + j * ${u32Lit(ld)};
    var acc = 0.0;
    for (var c = 0u; c < ${u32Lit(d)}; c++) { acc = acc + QKV[q + c] * QKV[kj + c]; }
    let sc = acc * ${f32Lit(Math.fround(scores.scale))};
    S[srow + j] = sc;
    mx = select(max(mx, sc), sc, j == 0u);
  }
  var sum = 0.0;
  for (var j = 0u; j < ${u32Lit(T)}; j++) {
    let e = exp1(S[srow + j] - mx);
    S[srow + j] = e;
    sum = sum + e;
  }
  for (var j = 0u; j < ${u32Lit(T)}; j++) { S[srow + j] = S[srow + j] / sum; }
  let o = P.o0 + i * ${u32Lit(width)} + h * ${u32Lit(d)};
  for (var c = 0u; c < ${u32Lit(d)}; c++) {
    var acc = 0.0;
    for (var j = 0u; j < ${u32Lit(T)}; j++) { acc = acc + S[srow + j] * QKV[vb + j * ${u32Lit(ld)} + c]; }
    OUT[o + c] = acc;
  }
}
`;
  return {
    name: kernelName(s),
    code,
    params,
    buffers: buffers.map((b) => ({ arg: b.arg, write: b.write })),
    workgroups: () => [ceilDiv(T, WG), s.heads, 1],
  };
}

/**
 * The backward of the attention's row softmax (assembly/softmax.ts softmaxBackwardRows): from the
 * saved probabilities P and dP = dO·Vᵀ, dS = P⊙(dP − rowsum(dP⊙P)), in place (ds = dp) or not.
 */
export function emitSoftmaxBackward(s: SoftmaxBackwardSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: rowRangeBody((at, n) => `softmaxBackwardRows(${at('p', s.cols)}, ${at('dp', s.cols)}, ${at('ds', s.cols)}, ${n}, ${s.cols}, ${s.cols})`),
    doc: `ds[rows,${s.cols}] = p⊙(dp − rowsum(dp⊙p)) for rows [r0, r1); ds may be dp.`,
    exported: true,
  };
}

/**
 * One image's attention backward over heads [h0, h1), from the saved qkv and softmax P (saved by
 * the forward, not recomputed: one GEMM and a softmax per head fewer, for heads·t² floats of tape
 * per layer and image). Per head: V_h transposed into vt (as the forward transposes K_h), then
 * dV = Pᵀ·dO, dP = dO·V_hᵀ, dS = softmax backward of P in place over dP, dQ = d^-½·dS·K,
 * dK = d^-½·dSᵀ·Q (attentionBackwardGemms), each GEMM writing the head's columns of dqkv.
 */
export function emitAttentionBackward(s: AttentionBackwardSpec): EmittedFunction {
  const width = s.heads * s.headDim, d = s.headDim, t = s.t;
  const { dv, dp, dq, dk } = attentionBackwardGemms(s);
  const body = `
for (let h = h0; h < h1; h++) {
  const col = <usize>(h * ${d}) * 4;
  const p = probs + <usize>(h * ${t * t}) * 4;
  const go = dout + col;
  transposeHead(qkv + ${2 * width * 4} + col, ${3 * width}, vt, ${t}, ${d});
  ${kernelName(dv)}(p, go, dqkv + ${2 * width * 4} + col);
  ${kernelName(dp)}(go, vt, 0, dp, 0, ${t});
  softmaxBackwardRows(p, dp, dp, ${t}, ${t}, ${t});
  ${kernelName(dq)}(dp, qkv + ${width * 4} + col, 0, dqkv + col, 0, ${t});
  ${kernelName(dk)}(dp, qkv + col, dqkv + ${width * 4} + col);
}`;
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: body.trim(),
    doc: `dqkv[${t},${3 * width}] of attention over heads [h0, h1) of ${s.heads} (width ${d}) from qkv, the saved P [${s.heads},${t},${t}] and dout [${t},${width}]; scratch dp [${t},${t}], vt [${d},${t}] per thread.`,
    exported: true,
  };
}
