/** Token movement kernels (assembly/tokens.ts, specialised by literal arguments). */
import { type MaskRowsBackwardSpec, type MaskRowsSpec, type AddRowsGatheredSpec, type EncoderInputBackwardSpec, type PatchGatherSpec, type UnshuffleBackwardSpec, type UnshuffleSpec, kernelName } from '../../src/plan.js';
import { signatureOf } from '../../src/kernel-params.js';
import type { EmittedFunction } from './kernel-source.js';
import { type WgslKernel, WG, ceilDiv, u32Lit, wgslHeader } from './wgsl.js';

export function emitPatchGather(s: PatchGatherSpec): EmittedFunction {
  const dim = s.channels * s.patch * s.patch;
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: `patchGather(pixels, ids, count, out, ${s.channels}, ${s.patch}, ${s.grid});`,
    doc: `out[count,${dim}] = the patches ids[0..count) of a [${s.channels},${s.patch * s.grid},${s.patch * s.grid}] image, each in (c, p, q) order.`,
    exported: true,
  };
}

export function emitAddRowsGathered(s: AddRowsGatheredSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: `addRowsGathered(x, table, ids, count, ${s.width});`,
    doc: `x[r,${s.width}] += table[1 + ids[r]] for r < count (position embedding of the kept patches).`,
    exported: true,
  };
}

export function emitUnshuffle(s: UnshuffleSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: `unshuffle(emb, mask, pos, idsRestore, keep, out, ${s.width}, ${s.numPatches});`,
    doc: `out[${1 + s.numPatches},${s.width}] = [cls, kept tokens and mask tokens in patch order] + pos.`,
    exported: true,
  };
}

/*
 * WGSL: element-wise, one invocation per output element: x over a row's columns, y over rows.
 * Widths, patch geometry and the patch count are literals; counts and offsets come from the uniform.
 */

/** Step arguments (program.ts): [pixels, ids, count, out]. */
export function emitPatchGatherWgsl(s: PatchGatherSpec): WgslKernel {
  const dim = s.channels * s.patch * s.patch;
  const side = s.patch * s.grid;
  const pp = s.patch * s.patch;
  const params = [
    { name: 'count', from: { int: 2 } },
    { name: 'px0', from: { offsetOf: 0 } },
    { name: 'ids0', from: { offsetOf: 1 } },
    { name: 'out0', from: { offsetOf: 3 } },
  ];
  const buffers = [
    { name: 'PIX', type: 'f32', write: false, arg: 0 },
    { name: 'IDS', type: 'i32', write: false, arg: 1 },
    { name: 'OUT', type: 'f32', write: true, arg: 3 },
  ];
  const code = `// ${kernelName(s)}: OUT[count,${dim}] = patches IDS[0..count) of a [${s.channels},${side},${side}] image, each in (c, p, q) order.
${wgslHeader(params, buffers)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let r = gid.y;
  if (e >= ${u32Lit(dim)} || r >= P.count) { return; }
  let l = u32(IDS[P.ids0 + r]);
  let py = l / ${u32Lit(s.grid)};
  let px = l % ${u32Lit(s.grid)};
  let c = e / ${u32Lit(pp)};
  let y = (e % ${u32Lit(pp)}) / ${u32Lit(s.patch)};
  let x = e % ${u32Lit(s.patch)};
  OUT[P.out0 + r * ${u32Lit(dim)} + e] = PIX[P.px0 + (c * ${u32Lit(side)} + py * ${u32Lit(s.patch)} + y) * ${u32Lit(side)} + px * ${u32Lit(s.patch)} + x];
}
`;
  return { name: kernelName(s), code, params, buffers: buffers.map((b) => ({ arg: b.arg, write: b.write })), workgroups: (p) => [ceilDiv(dim, WG), p.count, 1] };
}

/** Step arguments (program.ts): [x, table, ids, count]. */
export function emitAddRowsGatheredWgsl(s: AddRowsGatheredSpec): WgslKernel {
  const W = s.width;
  const params = [
    { name: 'count', from: { int: 3 } },
    { name: 'x0', from: { offsetOf: 0 } },
    { name: 'ids0', from: { offsetOf: 2 } },
  ];
  const buffers = [
    { name: 'X', type: 'f32', write: true, arg: 0 },
    { name: 'TABLE', type: 'f32', write: false, arg: 1 },
    { name: 'IDS', type: 'i32', write: false, arg: 2 },
  ];
  const code = `// ${kernelName(s)}: X[r,${W}] += TABLE[1 + IDS[r]] for r < count.
${wgslHeader(params, buffers)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let r = gid.y;
  if (e >= ${u32Lit(W)} || r >= P.count) { return; }
  let o = P.x0 + r * ${u32Lit(W)} + e;
  X[o] = X[o] + TABLE[(1u + u32(IDS[P.ids0 + r])) * ${u32Lit(W)} + e];
}
`;
  return { name: kernelName(s), code, params, buffers: buffers.map((b) => ({ arg: b.arg, write: b.write })), workgroups: (p) => [ceilDiv(W, WG), p.count, 1] };
}

/** Step arguments (program.ts): [emb, mask, pos, idsRestore, keep, out]. */
export function emitUnshuffleWgsl(s: UnshuffleSpec): WgslKernel {
  const W = s.width;
  const rows = 1 + s.numPatches;
  const params = [
    { name: 'keep', from: { int: 4 } },
    { name: 'emb0', from: { offsetOf: 0 } },
    { name: 'ids0', from: { offsetOf: 3 } },
    { name: 'out0', from: { offsetOf: 5 } },
  ];
  const buffers = [
    { name: 'EMB', type: 'f32', write: false, arg: 0 },
    { name: 'MASK', type: 'f32', write: false, arg: 1 },
    { name: 'POS', type: 'f32', write: false, arg: 2 },
    { name: 'IDS', type: 'i32', write: false, arg: 3 },
    { name: 'OUT', type: 'f32', write: true, arg: 5 },
  ];
  const code = `// ${kernelName(s)}: OUT[${rows},${W}] = [cls, kept tokens and mask tokens in patch order] + pos.
${wgslHeader(params, buffers)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let r = gid.y;
  if (e >= ${u32Lit(W)} || r >= ${u32Lit(rows)}) { return; }
  var src = EMB[P.emb0 + e];
  if (r > 0u) {
    let j = u32(IDS[P.ids0 + r - 1u]);
    src = select(MASK[e], EMB[P.emb0 + (1u + min(j, P.keep - 1u)) * ${u32Lit(W)} + e], j < P.keep);
  }
  OUT[P.out0 + r * ${u32Lit(W)} + e] = src + POS[r * ${u32Lit(W)} + e];
}
`;
  return { name: kernelName(s), code, params, buffers: buffers.map((b) => ({ arg: b.arg, write: b.write })), workgroups: () => [ceilDiv(W, WG), rows, 1] };
}

/*
 * Backward (assembly/tokens_backward.ts), over images [i0, i1) of a batch. The position adds are
 * the identity for the gradient and the tables are frozen: no kernel.
 */

export function emitUnshuffleBackward(s: UnshuffleBackwardSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: `unshuffleBackward(dy, idsRestore, keep, de, dmask, ${s.width}, ${s.numPatches}, i0, i1);`,
    doc: `Per image: de[1+keep,${s.width}] = dy[${1 + s.numPatches},${s.width}]'s cls and kept rows in ids_keep order; dmask[${s.width}] += its removed rows (threads: one dmask each).`,
    exported: true,
  };
}

export function emitEncoderInputBackward(s: EncoderInputBackwardSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: `encoderInputBackward(dx0, idsKeep, keep, dembeds, dcls, ${s.width}, ${s.numPatches}, i0, i1);`,
    doc: `Per image: dcls[${s.width}] += dx0[0]; dembeds[${s.numPatches},${s.width}] = dx0[1 + t] at row ids_keep[t], 0 elsewhere (threads: one dcls each).`,
    exported: true,
  };
}

export function emitMaskRows(s: MaskRowsSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: `maskRows(x, token, mask, count, ${s.width});`,
    doc: `x[l,${s.width}] = token where mask[l] ≠ 0, l < count (the encoder's mask token for removed patches).`,
    exported: true,
  };
}

export function emitMaskRowsBackward(s: MaskRowsBackwardSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: `maskRowsBackward(dx, mask, dtoken, count, ${s.width});`,
    doc: `dtoken[${s.width}] += dx[l] where mask[l] ≠ 0, l < count, and those rows of dx zeroed (threads: one dtoken each).`,
    exported: true,
  };
}
