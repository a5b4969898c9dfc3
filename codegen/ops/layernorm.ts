/** LayerNorm over rows of a fixed width (assembly/layernorm.ts, specialised by literal arguments). */
import { type LayerNormBackwardSpec, type LayerNormSpec, type LayerNormStatsSpec, kernelName } from '../../src/plan.js';
import { signatureOf } from '../../src/kernel-params.js';
import { type EmittedFunction, rowRangeBody } from './kernel-source.js';
import { type WgslKernel, WG, ceilDiv, f32Lit, u32Lit, wgslHeader } from './wgsl.js';

export function emitLayerNorm(s: LayerNormSpec): EmittedFunction {
  return {
    name: kernelName(s),
    // rows [r0, r1) of `rows`: threads split the rows between them (one thread: 0, rows).
    params: signatureOf(s),
    body: `const end = min<i32>(r1, rows);\nif (r0 < end) layerNormRows(x + <usize>r0 * ${s.width * 4}, w, b, out + <usize>r0 * ${s.width * 4}, end - r0, ${s.width}, <f32>${s.eps});`,
    doc: `out[rows,${s.width}] = LayerNorm(x) · w + b for rows [r0, r1), eps ${s.eps}, biased variance.`,
    exported: true,
  };
}

/**
 * WGSL: one invocation per row, the same two passes as assembly/layernorm.ts (mean, then centred
 * squares, each summed in four lanes and combined as (l0 + l1) + (l2 + l3), then the row's tail),
 * then (x − mean)·rstd·w + b. Width and eps are literals; rows and the offsets come from the uniform.
 */
export function emitLayerNormWgsl(s: LayerNormSpec): WgslKernel {
  const W = s.width;
  const vecEnd = W & ~3;
  // Step arguments (program.ts): [x, w, b, out, rows].
  const params = [
    { name: 'rows', from: { int: 4 } },
    { name: 'x0', from: { offsetOf: 0 } },
    { name: 'y0', from: { offsetOf: 3 } },
  ];
  const buffers = [
    { name: 'X', type: 'f32', write: false, arg: 0 },
    { name: 'GAMMA', type: 'f32', write: false, arg: 1 },
    { name: 'BETA', type: 'f32', write: false, arg: 2 },
    { name: 'Y', type: 'f32', write: true, arg: 3 },
  ];
  const code = `// ${kernelName(s)}: Y[rows,${W}] = LayerNorm(X) · w + b, eps ${s.eps}, biased variance; one row per invocation.
${wgslHeader(params, buffers)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= P.rows) { return; }
  let xr = P.x0 + r * ${u32Lit(W)};
  let yr = P.y0 + r * ${u32Lit(W)};
  var s4 = vec4<f32>(0.0);
  for (var i = 0u; i < ${u32Lit(vecEnd)}; i += 4u) {
    s4 = s4 + vec4<f32>(X[xr + i], X[xr + i + 1u], X[xr + i + 2u], X[xr + i + 3u]);
  }
  var sum = (s4.x + s4.y) + (s4.z + s4.w);
  for (var i = ${u32Lit(vecEnd)}; i < ${u32Lit(W)}; i++) { sum = sum + X[xr + i]; }
  let mean = sum * ${f32Lit(Math.fround(1 / W))};
  var q4 = vec4<f32>(0.0);
  for (var i = 0u; i < ${u32Lit(vecEnd)}; i += 4u) {
    let d = vec4<f32>(X[xr + i], X[xr + i + 1u], X[xr + i + 2u], X[xr + i + 3u]) - vec4<f32>(mean);
    q4 = q4 + d * d;
  }
  var sq = (q4.x + q4.y) + (q4.z + q4.w);
  for (var i = ${u32Lit(vecEnd)}; i < ${u32Lit(W)}; i++) { let d = X[xr + i] - mean; sq = sq + d * d; }
  let rstd = 1.0 / sqrt(sq * ${f32Lit(Math.fround(1 / W))} + ${f32Lit(Math.fround(s.eps))});
  for (var i = 0u; i < ${u32Lit(W)}; i++) {
    Y[yr + i] = (X[xr + i] - mean) * rstd * GAMMA[i] + BETA[i];
  }
}
`;
  return {
    name: kernelName(s),
    code,
    params,
    buffers: buffers.map((b) => ({ arg: b.arg, write: b.write })),
    workgroups: (p) => [ceilDiv(p.rows, WG), 1, 1],
  };
}

/** The forward that also saves mean [rows] and rstd [rows] for the backward (assembly/layernorm_backward.ts). */
export function emitLayerNormStats(s: LayerNormStatsSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: rowRangeBody((at, n) => `layerNormStatsRows(${at('x', s.width)}, w, b, ${at('out', s.width)}, ${at('mean', 1)}, ${at('rstd', 1)}, ${n}, ${s.width}, <f32>${s.eps})`),
    doc: `out[rows,${s.width}] = LayerNorm(x) · w + b as ${kernelName({ op: 'layernorm', width: s.width, eps: s.eps })}, and mean, rstd [rows] saved, for rows [r0, r1).`,
    exported: true,
  };
}

/**
 * LayerNorm backward for rows [r0, r1): dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)), ĝ = dy⊙w; dw += Σ dy⊙x̂,
 * db += Σ dy. Two threads on one row range each need their own dw/db (see the core's comment).
 */
export function emitLayerNormBackward(s: LayerNormBackwardSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: rowRangeBody((at, n) => `layerNormBackwardRows(${at('dy', s.width)}, ${at('x', s.width)}, ${at('mean', 1)}, ${at('rstd', 1)}, w, ${at('dx', s.width)}, dw, db, ${n}, ${s.width}, ${s.accumulate === true})`),
    doc: `dx[rows,${s.width}] ${s.accumulate ? '+=' : '='} the LayerNorm backward of dy, from the saved x, mean, rstd and w; dw, db [${s.width}] += their row sums; rows [r0, r1)${s.accumulate ? '' : '; dx may be dy'}.`,
    exported: true,
  };
}
