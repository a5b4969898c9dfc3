/**
 * f32 GEMM with a register-tiled v128 microkernel: C[m,n] = epilogue(scale·A[m,k]·B[k,n]).
 * Epilogue, in torch's order: + bias[n], exact GELU, + residual[m,n]. K, N and every stride are
 * literals; each MR×NR tile keeps MR·NR/4 accumulators in registers, broadcasting one A value per
 * row and loading NR/4 vectors of B per k. Column remainders get a narrower tile whose last
 * vector stores only the lanes that exist; row remainders a shorter tile.
 */
import { type GemmSpec, kernelName } from '../../src/plan.js';
import type { EmittedFunction } from './kernel-source.js';

const GEMM_PARAMS = [['a', 'usize'], ['b', 'usize'], ['bias', 'usize'], ['c', 'usize'], ['res', 'usize'], ['m', 'i32']] as const;

/** One tile: `rows` rows × (`vectors` full vectors + a partial one of `tail` lanes) at column `col`. */
function tile(s: GemmSpec, rows: number, vectors: number, tail: number, col: string): string {
  const nv = vectors + (tail > 0 ? 1 : 0);
  const lda = s.lda * 4, ldb = s.ldb * 4, ldc = s.ldc * 4, ldr = s.ldr * 4;
  const acc = (r: number, v: number): string => `c${r}_${v}`;
  const L: string[] = [];
  L.push(`{`);
  L.push(`  const col = <usize>(${col}) << 2;`);
  for (let r = 0; r < rows; r++) for (let v = 0; v < nv; v++) L.push(`  let ${acc(r, v)} = f32x4.splat(0);`);
  L.push(`  let pa = ai;`);
  L.push(`  let pb = b + col;`);
  L.push(`  for (let k = 0; k < ${s.k}; k++) {`);
  for (let v = 0; v < nv; v++) L.push(`    const b${v} = v128.load(pb, ${16 * v});`);
  for (let r = 0; r < rows; r++) {
    L.push(`    const a${r} = v128.load32_splat(pa, ${r * lda});`);
    for (let v = 0; v < nv; v++) L.push(`    ${acc(r, v)} = f32x4.add(${acc(r, v)}, f32x4.mul(a${r}, b${v}));`);
  }
  L.push(`    pa += 4;`);
  L.push(`    pb += ${ldb};`);
  L.push(`  }`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < nv; v++) {
      const x = acc(r, v);
      if (s.scale !== 1) L.push(`  ${x} = f32x4.mul(${x}, f32x4.splat(<f32>${s.scale}));`);
      if (s.bias) L.push(`  ${x} = f32x4.add(${x}, v128.load(bias + col, ${16 * v}));`);
      if (s.gelu) L.push(`  ${x} = gelu4(${x});`);
      if (s.residual) L.push(`  ${x} = f32x4.add(${x}, v128.load(ri + col, ${r * ldr + 16 * v}));`);
      if (v < vectors) L.push(`  v128.store(ci + col, ${x}, ${r * ldc + 16 * v});`);
      else L.push(`  storeLanes(ci + col + ${r * ldc + 16 * v}, ${x}, ${tail});`);
    }
  }
  L.push(`}`);
  return L.join('\n');
}

/** All column tiles of a row block of `rows` rows. */
function rowBlock(s: GemmSpec, rows: number): string {
  const full = Math.floor(s.n / s.nr) * s.nr;
  const rest = s.n - full;
  const L: string[] = [];
  if (full > 0) {
    L.push(`for (let j = 0; j < ${full}; j += ${s.nr}) ${tile(s, rows, s.nr / 4, 0, 'j').replace(/\n/g, '\n')}`);
  }
  if (rest > 0) L.push(tile(s, rows, Math.floor(rest / 4), rest % 4, String(full)));
  return L.join('\n');
}

function rowPointers(i: string, s: GemmSpec): string {
  return [
    `const ai = a + <usize>(${i}) * ${s.lda * 4};`,
    `const ci = c + <usize>(${i}) * ${s.ldc * 4};`,
    `const ri = res + <usize>(${i}) * ${s.ldr * 4};`,
  ].join('\n');
}

export function emitGemm(s: GemmSpec): EmittedFunction {
  const name = kernelName(s);
  const L: string[] = [];
  if (s.m === null) {
    L.push(`let i = 0;`);
    L.push(`for (; i + ${s.mr} <= m; i += ${s.mr}) {`, rowPointers('i', s), rowBlock(s, s.mr), `}`);
    L.push(`for (; i < m; i++) {`, rowPointers('i', s), rowBlock(s, 1), `}`);
  } else {
    const full = Math.floor(s.m / s.mr) * s.mr;
    if (full > 0) L.push(`for (let i = 0; i < ${full}; i += ${s.mr}) {`, rowPointers('i', s), rowBlock(s, s.mr), `}`);
    if (s.m > full) L.push(`{`, rowPointers(String(full), s), rowBlock(s, s.m - full), `}`);
  }
  const epi = [s.scale !== 1 ? `·${s.scale.toPrecision(6)}` : '', s.bias ? ' + bias' : '', s.gelu ? ', GELU' : '', s.residual ? ' + residual' : ''].join('');
  return {
    name,
    params: GEMM_PARAMS,
    body: L.join('\n'),
    doc: `C[${s.m ?? 'm'},${s.n}] (ld ${s.ldc}) = A[${s.m ?? 'm'},${s.k}] (ld ${s.lda}) · B[${s.k},${s.n}] (ld ${s.ldb})${epi}; ${s.mr}x${s.nr} tiles.`,
    exported: s.m === null,
  };
}
