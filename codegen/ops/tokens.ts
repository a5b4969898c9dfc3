/** Token movement kernels (assembly/tokens.ts, specialised by literal arguments). */
import { type AddRowsGatheredSpec, type PatchGatherSpec, type UnshuffleSpec, kernelName } from '../../src/plan.js';
import type { EmittedFunction } from './kernel-source.js';

export function emitPatchGather(s: PatchGatherSpec): EmittedFunction {
  const dim = s.channels * s.patch * s.patch;
  return {
    name: kernelName(s),
    params: [['pixels', 'usize'], ['ids', 'usize'], ['count', 'i32'], ['out', 'usize']],
    body: `patchGather(pixels, ids, count, out, ${s.channels}, ${s.patch}, ${s.grid});`,
    doc: `out[count,${dim}] = the patches ids[0..count) of a [${s.channels},${s.patch * s.grid},${s.patch * s.grid}] image, each in (c, p, q) order.`,
    exported: true,
  };
}

export function emitAddRowsGathered(s: AddRowsGatheredSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: [['x', 'usize'], ['table', 'usize'], ['ids', 'usize'], ['count', 'i32']],
    body: `addRowsGathered(x, table, ids, count, ${s.width});`,
    doc: `x[r,${s.width}] += table[1 + ids[r]] for r < count (position embedding of the kept patches).`,
    exported: true,
  };
}

export function emitUnshuffle(s: UnshuffleSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: [['emb', 'usize'], ['mask', 'usize'], ['pos', 'usize'], ['idsRestore', 'usize'], ['keep', 'i32'], ['out', 'usize']],
    body: `unshuffle(emb, mask, pos, idsRestore, keep, out, ${s.width}, ${s.numPatches});`,
    doc: `out[${1 + s.numPatches},${s.width}] = [cls, kept tokens and mask tokens in patch order] + pos.`,
    exported: true,
  };
}
