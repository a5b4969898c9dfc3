/**
 * Every kernel's parameters, by name and in order: the one list the emitters declare their
 * functions with (codegen/ops) and the backends bind program steps' named operands by
 * (src/backend/program-runner.ts, webgpu-program.ts). A kernel whose work divides between threads
 * ends with a range [from, to) of its parts (panels, heads, rows or images), named in `range`.
 */
import type { KernelSpec } from './plan.js';

export type ParamType = 'usize' | 'i32' | 'f32';
export type KernelParam = readonly [name: string, type: ParamType];

export interface KernelParams {
  /** Operands a program step names, in the kernel's order. */
  readonly operands: readonly KernelParam[];
  /** The trailing range's two parameters, when the kernel takes one. */
  readonly range?: readonly [from: string, to: string];
}

const ptr = (name: string): KernelParam => [name, 'usize'];
const i32 = (name: string): KernelParam => [name, 'i32'];
const f32 = (name: string): KernelParam => [name, 'f32'];

export function kernelParams(s: KernelSpec): KernelParams {
  switch (s.op) {
    case 'gemm': {
      const operands = [ptr('a'), ptr('b'), ptr('bias'), ptr('c'), ptr(s.geluGrad ? 'dgelu' : 'res'), i32('m')];
      // Packed GEMMs (weights) split their column panels between threads; row-major ones run whole.
      return s.packed ? { operands, range: ['p0', 'p1'] } : { operands };
    }
    case 'layernorm': return { operands: [ptr('x'), ptr('w'), ptr('b'), ptr('out'), i32('rows')], range: ['r0', 'r1'] };
    case 'attention': return { operands: [ptr('qkv'), ptr('out'), ptr(s.saveProbs ? 'probs' : 'scores'), ptr('kt')], range: ['h0', 'h1'] };
    case 'mask_rows': return { operands: [ptr('x'), ptr('token'), ptr('mask'), i32('count')] };
    case 'mask_rows_backward': return { operands: [ptr('dx'), ptr('mask'), ptr('dtoken'), i32('count')] };
    case 'adamw': return { operands: [ptr('p'), ptr('g'), ptr('m'), ptr('v'), i32('n'), ...['decay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'sqrtBc2', 'eps', 'stepSize'].map(f32)], range: ['i0', 'i1'] };
    case 'gelu': return { operands: [ptr('x'), ptr('out'), i32('rows')], range: ['r0', 'r1'] };
    case 'patch_gather': return { operands: [ptr('pixels'), ptr('ids'), i32('count'), ptr('out')] };
    case 'add_rows_gathered': return { operands: [ptr('x'), ptr('table'), ptr('ids'), i32('count')] };
    case 'unshuffle': return { operands: [ptr('emb'), ptr('mask'), ptr('pos'), ptr('idsRestore'), i32('keep'), ptr('out')] };
    case 'layernorm_stats': return { operands: [ptr('x'), ptr('w'), ptr('b'), ptr('out'), ptr('mean'), ptr('rstd'), i32('rows')], range: ['r0', 'r1'] };
    case 'layernorm_backward': return { operands: [ptr('dy'), ptr('x'), ptr('mean'), ptr('rstd'), ptr('w'), ptr('dx'), ptr('dw'), ptr('db'), i32('rows')], range: ['r0', 'r1'] };
    case 'gelu_backward': return { operands: [ptr('dy'), ptr('u'), ptr('dx'), i32('rows')], range: ['r0', 'r1'] };
    case 'softmax_backward': return { operands: [ptr('p'), ptr('dp'), ptr('ds'), i32('rows')], range: ['r0', 'r1'] };
    case 'mse_loss_backward': return { operands: [ptr('pred'), ptr('target'), ptr('mask'), ptr('dpred'), i32('rows')], range: ['r0', 'r1'] };
    case 'column_sum': return { operands: [ptr('dy'), ptr('acc'), i32('rows')], range: ['r0', 'r1'] };
    case 'linear_dx': return { operands: s.geluGrad ? [ptr('a'), ptr('b'), ptr('c'), ptr('dgelu'), i32('m')] : [ptr('a'), ptr('b'), ptr('c'), i32('m')], range: ['p0', 'p1'] };
    case 'linear_dw': return { operands: s.bias ? [ptr('dy'), ptr('x'), ptr('dw'), ptr('db'), i32('m')] : [ptr('dy'), ptr('x'), ptr('dw'), i32('m')], range: ['o0', 'o1'] };
    case 'matmul_tn': return { operands: [ptr('a'), ptr('b'), ptr('c')] };
    case 'attention_backward': return { operands: [ptr('qkv'), ptr('probs'), ptr('dout'), ptr('dqkv'), ptr('dp'), ptr('vt')], range: ['h0', 'h1'] };
    case 'unshuffle_backward': return { operands: [ptr('dy'), ptr('idsRestore'), i32('keep'), ptr('de'), ptr('dmask')], range: ['i0', 'i1'] };
    case 'encoder_input_backward': return { operands: [ptr('dx0'), ptr('idsKeep'), i32('keep'), ptr('dembeds'), ptr('dcls')], range: ['i0', 'i1'] };
  }
}

/** The function's whole parameter list: the operands, then the range's two i32s. */
export function signatureOf(s: KernelSpec): KernelParam[] {
  const p = kernelParams(s);
  return p.range ? [...p.operands, i32(p.range[0]), i32(p.range[1])] : [...p.operands];
}
