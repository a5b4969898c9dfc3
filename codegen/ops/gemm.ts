/**
 * f32 GEMM with a register-tiled v128 microkernel: C[m,n] = epilogue(scale·A[m,k]·B[k,n]).
 * Epilogue, in torch's order: + bias[n], exact GELU, + residual[m,n]. K, N and every stride are
 * literals; each MR×NR tile keeps MR·NR/4 accumulators in registers, broadcasting one A value per
 * row and loading NR/4 vectors of B per k.
 *
 * Two forms of B:
 * - packed (weights, `f32_gemm_*`): panels of NR columns, each [k][NR] contiguous, the last padded
 *   with zeros at load. Panels are the outer loop so one panel stays in cache while every row
 *   block streams past it; a partial last panel computes only the vectors it needs and stores
 *   only the columns that exist.
 * - row-major (activations, `f32_matmul_*`): stride ldb; column remainders get narrower tiles.
 * Row remainders get a shorter tile.
 */
import { type ColumnSumSpec, type GemmSpec, type LinearDwSpec, type LinearDxSpec, type MatmulTnSpec, kernelName } from '../../src/plan.js';
import { signatureOf } from '../../src/kernel-params.js';
import { type EmittedFunction, rowRangeBody } from './kernel-source.js';
import { type WgslKernel, type WgslVariant, ceilDiv, f32Lit, u32Lit, wgslExp, wgslGelu4, wgslHeader } from './wgsl.js';

/** K steps per loop iteration. */
const UNROLL = 1;


/**
 * Where A's values lie: bytes between its rows and between consecutive k, and the k count (a
 * literal, or a runtime expression such as dW's row count m). The forward: rows lda apart, k
 * contiguous, k steps.
 */
interface ALayout { readonly rowBytes: number; readonly kBytes: number; readonly steps: number | string }

/**
 * One tile: `rows` rows × (`vectors` full vectors + a partial one of `tail` lanes). `col` is the
 * byte offset of its first column in C/bias/residual, `bStart` its first B address, `bStep` the
 * bytes between consecutive k in B.
 */
function tile(s: GemmSpec, rows: number, vectors: number, tail: number, col: string, bStart: string, bStep: number, fma: boolean, a: ALayout = { rowBytes: s.lda * 4, kBytes: 4, steps: s.k }, colsum = false): string {
  const nv = vectors + (tail > 0 ? 1 : 0);
  const lda = a.rowBytes, ldc = s.ldc * 4, ldr = s.ldr * 4;
  const acc = (r: number, v: number): string => `c${r}_${v}`;
  const L: string[] = [];
  L.push(`{`);
  L.push(`  const col: usize = ${col};`);
  for (let r = 0; r < rows; r++) for (let v = 0; v < nv; v++) L.push(`  let ${acc(r, v)} = f32x4.splat(0);`);
  // dW's bias gradient on the way (colsum, A's rows 4 bytes apart: the tile's dy values of a token
  // are adjacent): one more vector sums them over the tokens, lane r for row r; added to db after.
  if (colsum && a.rowBytes !== 4) throw new Error('column sums ride along only where A\'s rows are adjacent floats (dW)');
  const sumLoad = ['', 'v128.load32_zero', 'v128.load64_zero', 'v128.load', 'v128.load'][rows];
  if (colsum) L.push(`  let sb = f32x4.splat(0);`);
  L.push(`  let pa = ai;`);
  L.push(`  let pb: usize = ${bStart};`);
  // K unrolled by UNROLL (fewer loop-control instructions per multiply-add), then the rest.
  const step = (u: number): void => {
    for (let v = 0; v < nv; v++) L.push(`    const b${v}_${u} = v128.load(pb, ${u * bStep + 16 * v});`);
    for (let r = 0; r < rows; r++) {
      L.push(`    const a${r}_${u} = v128.load32_splat(pa, ${r * lda + a.kBytes * u});`);
      for (let v = 0; v < nv; v++) {
        L.push(fma ? `    ${acc(r, v)} = f32x4.relaxed_madd(a${r}_${u}, b${v}_${u}, ${acc(r, v)});` : `    ${acc(r, v)} = f32x4.add(${acc(r, v)}, f32x4.mul(a${r}_${u}, b${v}_${u}));`);
      }
    }
    if (colsum) L.push(`    sb = f32x4.add(sb, ${sumLoad}(pa, ${a.kBytes * u}));`);
  };
  if (typeof a.steps === 'string') {
    L.push(`  for (let k = 0; k < ${a.steps}; k++) {`);
    step(0);
    L.push(`    pa += ${a.kBytes};`, `    pb += ${bStep};`, `  }`);
  }
  const unrolled = typeof a.steps === 'string' ? 0 : Math.floor(a.steps / UNROLL) * UNROLL;
  if (unrolled > 0) {
    L.push(`  for (let k = 0; k < ${unrolled}; k += ${UNROLL}) {`);
    for (let u = 0; u < UNROLL; u++) step(u);
    L.push(`    pa += ${a.kBytes * UNROLL};`, `    pb += ${UNROLL * bStep};`, `  }`);
  }
  if (typeof a.steps === 'number' && a.steps > unrolled) {
    L.push(`  for (let k = ${unrolled}; k < ${a.steps}; k++) {`);
    step(0);
    L.push(`    pa += ${a.kBytes};`, `    pb += ${bStep};`, `  }`);
  }
  if (colsum) for (let r = 0; r < rows; r++) L.push(`  store<f32>(dbi, load<f32>(dbi, ${4 * r}) + f32x4.extract_lane(sb, ${r}), ${4 * r});`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < nv; v++) {
      const x = acc(r, v);
      if (s.scale !== 1) L.push(`  ${x} = f32x4.mul(${x}, f32x4.splat(<f32>${s.scale}));`);
      if (s.bias) L.push(`  ${x} = f32x4.add(${x}, v128.load(bias + col, ${16 * v}));`);
      if (s.gelu && s.geluGrad === 'save') {
        // GELU and GELU' from one erf and one exp; GELU' to dgelu (the tape), GELU(x) as gelu4 gives it.
        const d = `geluDerivativeOf4(${x}, tp, e)`;
        L.push(`  {`, `    const e = halfSquareExp4(${x});`, `    const tp = twoPhiWith4(${x}, e);`);
        L.push(v < vectors ? `    v128.store(ri + col, ${d}, ${r * ldr + 16 * v});` : `    storeLanes(ri + col + ${r * ldr + 16 * v}, ${d}, ${tail});`);
        L.push(`    ${x} = geluOf4(${x}, tp);`, `  }`);
      } else if (s.gelu) L.push(`  ${x} = gelu4(${x});`);
      if (s.geluGrad === 'apply') L.push(`  ${x} = f32x4.mul(${x}, v128.load(ri + col, ${r * ldr + 16 * v}));`);
      if (s.residual) L.push(`  ${x} = f32x4.add(${x}, v128.load(ri + col, ${r * ldr + 16 * v}));`);
      if (v < vectors) L.push(`  v128.store(ci + col, ${x}, ${r * ldc + 16 * v});`);
      else L.push(`  storeLanes(ci + col + ${r * ldc + 16 * v}, ${x}, ${tail});`);
    }
  }
  L.push(`}`);
  return L.join('\n');
}

function rowPointers(i: string, s: GemmSpec): string {
  return [
    `const ai = a + <usize>(${i}) * ${s.lda * 4};`,
    `const ci = c + <usize>(${i}) * ${s.ldc * 4};`,
    `const ri = ${s.geluGrad ? 'dgelu' : 'res'} + <usize>(${i}) * ${s.ldr * 4};`,
  ].join('\n');
}

/** Row blocks of MR rows, then the remainder rows, each running `body(rows)`. */
function rowLoop(s: GemmSpec, body: (rows: number) => string): string {
  const L: string[] = [];
  if (s.m === null) {
    L.push(`let i = 0;`);
    L.push(`for (; i + ${s.mr} <= m; i += ${s.mr}) {`, rowPointers('i', s), body(s.mr), `}`);
    L.push(`for (; i < m; i++) {`, rowPointers('i', s), body(1), `}`);
  } else {
    const full = Math.floor(s.m / s.mr) * s.mr;
    if (full > 0) L.push(`for (let i = 0; i < ${full}; i += ${s.mr}) {`, rowPointers('i', s), body(s.mr), `}`);
    if (s.m > full) L.push(`{`, rowPointers(String(full), s), body(s.m - full), `}`);
  }
  return L.join('\n');
}

function packedBody(s: GemmSpec, fma: boolean): string {
  const panelBytes = s.k * s.nr * 4;
  const full = Math.floor(s.n / s.nr);
  const rest = s.n - full * s.nr;
  const L: string[] = [];
  if (full > 0) {
    L.push(`const pEnd = min<i32>(p1, ${full});`);
    L.push(`for (let p = p0; p < pEnd; p++) {`);
    L.push(rowLoop(s, (rows) => tile(s, rows, s.nr / 4, 0, `<usize>p * ${s.nr * 4}`, `b + <usize>p * ${panelBytes}`, s.nr * 4, fma)));
    L.push(`}`);
  }
  if (rest > 0) {
    L.push(`if (p1 > ${full}) {`);
    L.push(rowLoop(s, (rows) => tile(s, rows, Math.floor(rest / 4), rest % 4, String(full * s.nr * 4), `b + ${full * panelBytes}`, s.nr * 4, fma)));
    L.push(`}`);
  }
  return L.join('\n');
}

function rowMajorBody(s: GemmSpec, fma: boolean): string {
  const full = Math.floor(s.n / s.nr) * s.nr;
  const rest = s.n - full;
  return rowLoop(s, (rows) => {
    const L: string[] = [];
    if (full > 0) L.push(`for (let j = 0; j < ${full}; j += ${s.nr}) ${tile(s, rows, s.nr / 4, 0, '<usize>j << 2', 'b + (<usize>j << 2)', s.ldb * 4, fma)}`);
    if (rest > 0) L.push(tile(s, rows, Math.floor(rest / 4), rest % 4, String(full * 4), `b + ${full * 4}`, s.ldb * 4, fma));
    return L.join('\n');
  });
}

export function emitGemm(s: GemmSpec, fma = false): EmittedFunction {
  const epi = [s.scale !== 1 ? `·${s.scale.toPrecision(6)}` : '', s.bias ? ' + bias' : '', s.gelu ? ', GELU' : '', s.geluGrad === 'save' ? ' (GELU\' of the pre-activation to dgelu)' : '', s.geluGrad === 'apply' ? ' ⊙ dgelu' : '', s.residual ? ' + residual' : ''].join('');
  const bDesc = s.packed ? `B[${s.k},${s.n}] packed in ${s.nr}-column panels` : `B[${s.k},${s.n}] (ld ${s.ldb})`;
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: s.packed ? packedBody(s, fma) : rowMajorBody(s, fma),
    doc: `C[${s.m ?? 'm'},${s.n}] (ld ${s.ldc}) = A[${s.m ?? 'm'},${s.k}] (ld ${s.lda}) · ${bDesc}${epi}; ${s.mr}x${s.nr} tiles${fma ? ', relaxed-SIMD FMA' : ''}.`,
    exported: s.m === null,
  };
}

/*
 * WGSL: the same GEMM for WebGPU. Each invocation computes one register tile — MR rows × one vec4
 * of columns (MR vec4 accumulators, one scalar of A broadcast per row and one vec4 of B per k) —
 * with no workgroup memory and no barriers (what CPU Vulkan drivers run well). K, N, strides,
 * scale and epilogue are literals; m, and each activation's element offset, come from the uniform.
 * Packed B (weights) is read as vec4 panels of nr columns (nr a multiple of 4; WebGPU packs one
 * panel of nr = n rounded up to 4, i.e. Wᵀ with zero-padded columns), row-major B (activations)
 * as scalars with stride ldb. Rows past m load row m−1 and are not stored; columns past n are not
 * stored.
 */

/** Workgroup: WX column vectors × WY row tiles. */
const GEMM_WG = { x: 16, y: 4 } as const;

export function emitGemmWgsl(s: GemmSpec, variant: WgslVariant = {}): WgslKernel {
  if (s.packed && s.nr % 4 !== 0) throw new Error(`${kernelName(s)}: WGSL needs panels of a multiple of 4 columns`);
  const inPlace = s.residual && variant.residualInPlace === true;
  if (inPlace && s.ldr !== s.ldc) throw new Error(`${kernelName(s)}: an in-place residual needs ldr = ldc`);
  const mr = s.mr;
  const nv = ceilDiv(s.n, 4);
  const tail = s.n % 4;
  // Step arguments (program.ts): [a, b, bias, c, res, m].
  const params: Array<{ name: string; from: { offsetOf: number } | { int: number } }> = [];
  if (s.m === null) params.push({ name: 'm', from: { int: 5 } });
  params.push({ name: 'a0', from: { offsetOf: 0 } });
  if (!s.packed) params.push({ name: 'b0', from: { offsetOf: 1 } });
  params.push({ name: 'c0', from: { offsetOf: 3 } });
  if (s.residual && !inPlace) params.push({ name: 'r0', from: { offsetOf: 4 } });
  const buffers: Array<{ name: string; type: string; write: boolean; arg: number }> = [
    { name: 'A', type: 'f32', write: false, arg: 0 },
    { name: 'B', type: s.packed ? 'vec4<f32>' : 'f32', write: false, arg: 1 },
  ];
  if (s.bias) buffers.push({ name: 'BIAS', type: 'vec4<f32>', write: false, arg: 2 });
  buffers.push({ name: 'C', type: 'f32', write: true, arg: 3 });
  if (s.residual && !inPlace) buffers.push({ name: 'R', type: 'f32', write: false, arg: 4 });

  const M = s.m === null ? 'P.m' : u32Lit(s.m);
  const L: string[] = [];
  L.push(`// ${kernelName(s)}${inPlace ? ' (residual in place)' : ''}: C[m,${s.n}] (ld ${s.ldc}) = A[m,${s.k}] (ld ${s.lda}) · B[${s.k},${s.n}]${s.packed ? ` (${s.nr}-column panels)` : ` (ld ${s.ldb})`}`);
  L.push(`//   ${[s.scale !== 1 ? `· ${s.scale}` : '', s.bias ? '+ bias' : '', s.gelu ? 'GELU' : '', s.residual ? '+ residual' : ''].filter(Boolean).join(', ') || 'no epilogue'}; ${mr}x4 register tile per invocation.`);
  L.push(wgslHeader(params, buffers));
  if (s.gelu) L.push(wgslExp('exp4', 'vec4<f32>'), wgslGelu4('exp4'));
  L.push(`@compute @workgroup_size(${GEMM_WG.x}, ${GEMM_WG.y})`);
  L.push(`fn main(@builtin(global_invocation_id) gid: vec3<u32>) {`);
  L.push(`  let jv = gid.x;`, `  let i0 = gid.y * ${u32Lit(mr)};`, `  let m = ${M};`);
  L.push(`  if (jv >= ${u32Lit(nv)} || i0 >= m) { return; }`);
  L.push(`  let col = jv * 4u;`);
  for (let r = 0; r < mr; r++) {
    L.push(`  let ar${r} = P.a0 + min(i0 + ${u32Lit(r)}, m - 1u) * ${u32Lit(s.lda)};`);
    L.push(`  var c${r} = vec4<f32>(0.0);`);
  }
  if (s.packed) {
    const vpp = s.nr / 4; // vectors per panel row
    L.push(`  let pb0 = (jv / ${u32Lit(vpp)}) * ${u32Lit(s.k * vpp)} + jv % ${u32Lit(vpp)};`);
  } else {
    L.push(`  let pb0 = P.b0 + col;`);
  }
  L.push(`  for (var k = 0u; k < ${u32Lit(s.k)}; k++) {`);
  if (s.packed) {
    L.push(`    let b = B[pb0 + k * ${u32Lit(s.nr / 4)}];`);
  } else {
    L.push(`    let bk = pb0 + k * ${u32Lit(s.ldb)};`);
    if (tail !== 0) {
      // Lanes past n re-read the last column (never stored).
      L.push(`    let lim = ${u32Lit(s.n - 1)} - col;`);
      L.push(`    let b = vec4<f32>(B[bk], B[bk + min(1u, lim)], B[bk + min(2u, lim)], B[bk + min(3u, lim)]);`);
    } else {
      L.push(`    let b = vec4<f32>(B[bk], B[bk + 1u], B[bk + 2u], B[bk + 3u]);`);
    }
  }
  for (let r = 0; r < mr; r++) L.push(`    c${r} = c${r} + A[ar${r} + k] * b;`);
  L.push(`  }`);
  const lanes = ['x', 'y', 'z', 'w'];
  for (let r = 0; r < mr; r++) {
    L.push(`  if (i0 + ${u32Lit(r)} < m) {`);
    L.push(`    var v = c${r};`);
    if (s.scale !== 1) L.push(`    v = v * ${f32Lit(Math.fround(s.scale))};`);
    if (s.bias) L.push(`    v = v + BIAS[jv];`);
    if (s.gelu) L.push(`    v = gelu4(v);`);
    L.push(`    let o = P.c0 + (i0 + ${u32Lit(r)}) * ${u32Lit(s.ldc)} + col;`);
    if (s.residual && !inPlace) L.push(`    let ro = P.r0 + (i0 + ${u32Lit(r)}) * ${u32Lit(s.ldr)} + col;`);
    for (let l = 0; l < 4; l++) {
      const guard = tail !== 0 && l > 0 ? `if (col + ${u32Lit(l)} < ${u32Lit(s.n)}) ` : '';
      const res = !s.residual ? '' : inPlace ? ` + C[o + ${u32Lit(l)}]` : ` + R[ro + ${u32Lit(l)}]`;
      L.push(`    ${guard}{ C[o + ${u32Lit(l)}] = v.${lanes[l]}${res}; }`);
    }
    L.push(`  }`);
  }
  L.push(`}`);
  const name = kernelName(s) + (inPlace ? '_inplace' : '');
  const nvConst = nv;
  const mConst = s.m;
  return {
    name,
    code: L.join('\n') + '\n',
    params,
    buffers: buffers.map((b) => ({ arg: b.arg, write: b.write })),
    workgroups: (p) => [ceilDiv(nvConst, GEMM_WG.x), ceilDiv(ceilDiv(mConst ?? p.m, mr), GEMM_WG.y), 1],
  };
}

/** A Linear's bias gradient, acc[width] += Σ_rows dy (assembly/colsum.ts), for rows [r0, r1). */
export function emitColumnSum(s: ColumnSumSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: rowRangeBody((at, n) => `addColumnSums(${at('dy', s.width)}, acc, ${n}, ${s.width})`),
    doc: `acc[${s.width}] += Σ over rows [r0, r1) of dy[rows,${s.width}] (db of a Linear; threads: one acc each).`,
    exported: true,
  };
}

/*
 * Linear backward. dx = dy·W is the forward's packed GEMM with B = W [outDim, inDim] itself, from a
 * second packing of W (packRowPanels: nr-column panels over inDim). Reading the forward's panels
 * the other way would save that copy, but there W's rows are nr floats apart: every dx column
 * becomes a dot product with a horizontal sum, or every 4×4 block a register transpose. The second
 * copy costs one more Linear-weight-sized region (training already holds weights, gradients and two
 * AdamW moments) and is repacked from the plain weights after each optimizer step, cheaply (row
 * chunks copied, no transpose); in exchange dx runs the forward microkernel, panels outermost.
 */

/** The forward GEMM that dx is: m rows, reduction outDim, inDim columns; accumulate = residual in place. */
export function linearDxGemm(s: LinearDxSpec): GemmSpec {
  return {
    op: 'gemm', m: null, k: s.outDim, n: s.inDim, lda: s.outDim, ldb: s.inDim, ldc: s.inDim, ldr: s.inDim,
    scale: 1, bias: false, gelu: false, residual: s.accumulate, mr: s.mr, nr: s.nr, packed: true,
    ...(s.geluGrad ? { geluGrad: 'apply' as const } : {}),
  };
}

export function emitLinearDx(s: LinearDxSpec, fma = false): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    // The residual operand is dx itself: each vector is loaded before it is stored.
    body: `${s.geluGrad ? '' : 'const res = c;\n'}${packedBody(linearDxGemm(s), fma)}`,
    doc: `dx c[m,${s.inDim}] ${s.accumulate ? '+=' : '='} dy a[m,${s.outDim}] · W${s.geluGrad ? ' ⊙ dgelu[m,' + s.inDim + ']' : ''}, W [${s.outDim},${s.inDim}] at b packed by pack_row_panels in ${s.nr}-column panels; panels [p0, p1) of ${Math.ceil(s.inDim / s.nr)} (threads split dx's columns); ${s.mr}x${s.nr} tiles${fma ? ', relaxed-SIMD FMA' : ''}.`,
    exported: true,
  };
}

/**
 * Tokens per pass of dW: each pass adds its chunk's sums to dW, so x's chunk [chunk, K] (re-read by
 * every row block of dW) stays in cache instead of all of x streaming past each row block. 16 Ki
 * floats (64 KiB) of x per pass: on vit-mae-base's shapes at ~400 rows, 25–32 GFLOP/s against
 * 16–24 unchunked and 21–27 at 256 KiB (bench/backward-gemm.ts, simd128; 32 KiB–128 KiB within noise).
 */
const DW_CHUNK_FLOATS = 16384;
/**
 * At most 32 tokens per pass, however narrow x: on the bundled model's shapes (in 64–512, 3,328 and
 * 12,800 tokens) 32 measured fastest, 2–10% over 16384/K's 64–256 tokens (bench/train-gemm.ts
 * --only=dw --chunks=…): each tile's run of tokens is shorter, but x's chunk (≤ 32 KiB for
 * K ≤ 256) and dy's rows stay in L1.
 */
const DW_CHUNK_MAX_TOKENS = 32;
export function dwChunk(k: number): number {
  return Math.max(16, Math.min(DW_CHUNK_MAX_TOKENS, Math.floor(DW_CHUNK_FLOATS / k)));
}

/**
 * dW [outDim, inDim] += dyᵀ·x: an MR×NR tile of dW is MR rows o of W by NR columns i; per token t it
 * broadcasts dy[t, o..o+MR) (adjacent floats of dy's row t) and loads NR/4 vectors of x's row t,
 * so A = dyᵀ has rows 4 bytes apart and k steps of a dy row. The token loop (m = images × tokens)
 * is the runtime reduction, in chunks of tokens (dwChunk); each tile adds a chunk's sum to dW (the
 * residual epilogue in place). Threads take disjoint row ranges [o0, o1) of dW: no partial sums
 * to add, any thread count gives the same bits. With `bias`, the Linear's bias gradient rides along:
 * the first column tile of each row block also sums the dy values it broadcasts (db[o] += each
 * chunk's Σ dy[t, o]), so no column_sum pass reads dy again.
 */
export function emitLinearDw(s: LinearDwSpec, fma = false): EmittedFunction {
  const K = s.inDim, N = s.outDim;
  const g: GemmSpec = { op: 'gemm', m: null, k: 0, n: K, lda: 1, ldb: K, ldc: K, ldr: K, scale: 1, bias: false, gelu: false, residual: true, mr: s.mr, nr: s.nr, packed: false };
  const a: ALayout = { rowBytes: 4, kBytes: N * 4, steps: 'tn' };
  const chunk = s.chunk ?? dwChunk(K);
  const full = Math.floor(K / s.nr) * s.nr;
  const rest = K - full;
  const bias = s.bias === true;
  const columns = (rows: number): string => {
    const L: string[] = [];
    // With bias, the first column tile also sums its dy values (db); the rest loop from the second.
    if (full > 0 && bias) L.push(tile(g, rows, s.nr / 4, 0, '0', 'xc', K * 4, fma, a, true));
    const from = bias ? s.nr : 0;
    if (full > from) L.push(`for (let j = ${from}; j < ${full}; j += ${s.nr}) ${tile(g, rows, s.nr / 4, 0, '<usize>j << 2', 'xc + (<usize>j << 2)', K * 4, fma, a)}`);
    if (rest > 0) L.push(tile(g, rows, Math.floor(rest / 4), rest % 4, String(full * 4), `xc + ${full * 4}`, K * 4, fma, a, bias && full === 0));
    return L.join('\n');
  };
  const pointers = `const ai = dyc + (<usize>o << 2);\nconst ci = dw + <usize>o * ${K * 4};\nconst ri = ci;${bias ? '\nconst dbi = db + (<usize>o << 2);' : ''}`;
  const body = [
    `const end = min<i32>(o1, ${N});`,
    `for (let t0 = 0; t0 < m; t0 += ${chunk}) {`,
    `const tn = min<i32>(${chunk}, m - t0);`,
    `const dyc = dy + <usize>t0 * ${N * 4};`,
    `const xc = x + <usize>t0 * ${K * 4};`,
    `let o = o0;`,
    `for (; o + ${s.mr} <= end; o += ${s.mr}) {`, pointers, columns(s.mr), `}`,
    `for (; o < end; o++) {`, pointers, columns(1), `}`,
    `}`,
  ].join('\n');
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body,
    doc: `dW[${N},${K}] += dy[m,${N}]ᵀ · x[m,${K}]${bias ? ` and db[${N}] += Σ_rows dy` : ''} over rows o0..o1 of dW (threads split them); ${s.mr}x${s.nr} tiles${fma ? ', relaxed-SIMD FMA' : ''}.`,
    exported: true,
  };
}

/**
 * C[m,n] = scale·Aᵀ·B with A stored [k, m]: the same tiles with A's rows 4 bytes apart and its k
 * steps lda apart (one row of the stored A per k), so no transpose is written. Attention backward's
 * Pᵀ·dO and dSᵀ·Q, all sizes literals.
 */
export function emitMatmulTn(s: MatmulTnSpec, fma = false): EmittedFunction {
  const g: GemmSpec = { op: 'gemm', m: s.m, k: s.k, n: s.n, lda: 1, ldb: s.ldb, ldc: s.ldc, ldr: s.ldc, scale: s.scale, bias: false, gelu: false, residual: false, mr: s.mr, nr: s.nr, packed: false };
  const a: ALayout = { rowBytes: 4, kBytes: s.lda * 4, steps: s.k };
  const full = Math.floor(s.n / s.nr) * s.nr;
  const rest = s.n - full;
  const columns = (rows: number): string => {
    const L: string[] = [];
    if (full > 0) L.push(`for (let j = 0; j < ${full}; j += ${s.nr}) ${tile(g, rows, s.nr / 4, 0, '<usize>j << 2', 'b + (<usize>j << 2)', s.ldb * 4, fma, a)}`);
    if (rest > 0) L.push(tile(g, rows, Math.floor(rest / 4), rest % 4, String(full * 4), `b + ${full * 4}`, s.ldb * 4, fma, a));
    return L.join('\n');
  };
  const pointers = (i: string): string => `const ai = a + (<usize>(${i}) << 2);\nconst ci = c + <usize>(${i}) * ${s.ldc * 4};`;
  const fullRows = Math.floor(s.m / s.mr) * s.mr;
  const L: string[] = [];
  if (fullRows > 0) L.push(`for (let i = 0; i < ${fullRows}; i += ${s.mr}) {`, pointers('i'), columns(s.mr), `}`);
  if (s.m > fullRows) L.push(`{`, pointers(String(fullRows)), columns(s.m - fullRows), `}`);
  return {
    name: kernelName(s),
    params: signatureOf(s),
    body: L.join('\n'),
    doc: `C[${s.m},${s.n}] (ld ${s.ldc}) = ${s.scale !== 1 ? `${s.scale.toPrecision(6)}·` : ''}Aᵀ·B, A stored [${s.k},${s.m}] (ld ${s.lda}), B [${s.k},${s.n}] (ld ${s.ldb}); ${s.mr}x${s.nr} tiles${fma ? ', relaxed-SIMD FMA' : ''}.`,
    exported: false,
  };
}
