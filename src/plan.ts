/**
 * The plan of a compiled model: which kernels a config needs (the one kernel list from which the
 * AssemblyScript source, the manifest and the host's dispatch all derive) and where every weight
 * and activation lives in linear memory. Pure data, no code generation: the host imports it at the
 * edge, the generator imports it to emit kernels.
 */
import type { MaeConfig } from './config.js';
import { lenKeep, shapesOf } from './shapes.js';

/** Register tile of the GEMM microkernels: MR rows × NR columns (NR a multiple of 4 lanes). */
export const GEMM_TILE = { mr: 4, nr: 8 } as const;

export interface GemmSpec {
  readonly op: 'gemm';
  /** Rows: a compile-time constant, or null when the caller passes m. */
  readonly m: number | null;
  readonly k: number;
  readonly n: number;
  /** Row strides in elements of A, B, C and the residual. */
  readonly lda: number;
  readonly ldb: number;
  readonly ldc: number;
  readonly ldr: number;
  /** Multiplies the product before the epilogue (attention's d^-0.5), 1 for none. */
  readonly scale: number;
  readonly bias: boolean;
  readonly gelu: boolean;
  readonly residual: boolean;
  readonly mr: number;
  readonly nr: number;
  /**
   * B is a weight packed once at load into panels of nr columns: ceil(n/nr) blocks of [k][nr]
   * (the last zero-padded), so the microkernel reads B contiguously. Otherwise B is a row-major
   * activation with stride ldb.
   */
  readonly packed: boolean;
  /**
   * Training only, with a GELU between two Linears (fc1 → GELU → fc2), in place of the residual
   * operand (named `dgelu`, [m, ldr]): 'save' (with gelu) also writes GELU'(pre-activation) there,
   * so the GELU's backward is a multiply; 'apply' multiplies the product by it (fc2's dx: dh ⊙ GELU'(u)).
   */
  readonly geluGrad?: 'save' | 'apply';
}
export interface LayerNormSpec { readonly op: 'layernorm'; readonly width: number; readonly eps: number }
export interface AttentionSpec {
  readonly op: 'attention';
  readonly t: number;
  readonly heads: number;
  readonly headDim: number;
  /** Training: each head's softmax P is written to a tape [heads, t, t] (the `probs` operand) instead of a scratch, for the backward. */
  readonly saveProbs?: boolean;
}
export interface PatchGatherSpec { readonly op: 'patch_gather'; readonly channels: number; readonly patch: number; readonly grid: number }
export interface AddRowsGatheredSpec { readonly op: 'add_rows_gathered'; readonly width: number }
export interface UnshuffleSpec { readonly op: 'unshuffle'; readonly width: number; readonly numPatches: number }
// Backward kernels (and the forward variant whose tape they read). Not in planKernels: the forward
// module carries none of them; backwardSpecs lists the ones a config's training needs.
/** LayerNorm forward that also saves the per-row mean and rstd = 1/√(var + eps) for its backward. */
export interface LayerNormStatsSpec { readonly op: 'layernorm_stats'; readonly width: number; readonly eps: number }
/** dx from dy, x, mean, rstd, w; dw and db accumulated; accumulate: dx += (a residual stream's gradient), else dx =. */
export interface LayerNormBackwardSpec { readonly op: 'layernorm_backward'; readonly width: number; readonly accumulate?: boolean }
/** The encoder's mask token in place of removed patches' embeddings (Table 1c's encoder "w/ [M]"), and its backward. */
export interface MaskRowsSpec { readonly op: 'mask_rows'; readonly width: number }
export interface MaskRowsBackwardSpec { readonly op: 'mask_rows_backward'; readonly width: number }
/** One AdamW step over a run of the flat parameter arena (p, g, m, v alike laid out): no shape, n at run time. */
export interface AdamWSpec { readonly op: 'adamw' }
/** out = GELU(x) (exact erf form, the fused epilogue's function) over rows of `width`: training keeps the pre-activation. */
export interface GeluSpec { readonly op: 'gelu'; readonly width: number }
/** dx = dy·GELU'(u) (exact erf GELU) over rows of `width`. */
export interface GeluBackwardSpec { readonly op: 'gelu_backward'; readonly width: number }
/** ds = p⊙(dp − rowsum(dp⊙p)) over rows of `cols` (contiguous). */
export interface SoftmaxBackwardSpec { readonly op: 'softmax_backward'; readonly cols: number }
/** d loss / d pred of the masked MSE on patches of patchDim values (normPix: target normalised in the kernel). */
export interface MseLossBackwardSpec { readonly op: 'mse_loss_backward'; readonly patchDim: number; readonly normPix: boolean; readonly allPatches: boolean }
/** acc += Σ_rows dy: a Linear's bias gradient. */
export interface ColumnSumSpec { readonly op: 'column_sum'; readonly width: number }
/**
 * A Linear's input gradient dx [m, inDim] (+)= dy [m, outDim] · W, W [outDim, inDim] read from its
 * second packing (packRowPanels: W itself in nr-column panels over inDim, [outDim][nr] each), so the
 * forward's packed microkernel runs it unchanged; accumulate adds into dx (a residual path's sum).
 */
export interface LinearDxSpec {
  readonly op: 'linear_dx'; readonly inDim: number; readonly outDim: number; readonly mr: number; readonly nr: number; readonly accumulate: boolean;
  /** dx ⊙ dgelu [m, inDim] (the GELU'(u) fc1's forward saved): dx of fc2 carried through the GELU to fc1's output. Not with accumulate. */
  readonly geluGrad?: boolean;
}
/**
 * A Linear's weight gradient dW [outDim, inDim] += dyᵀ · x over m rows (every token of every image),
 * dW plain row-major (the weights file's layout); mr rows of dW × nr columns per register tile.
 */
export interface LinearDwSpec {
  readonly op: 'linear_dw'; readonly inDim: number; readonly outDim: number; readonly mr: number; readonly nr: number;
  /** Tokens per pass (codegen/ops/gemm.ts dwChunk's choice when absent). */
  readonly chunk?: number;
  /** Also db [outDim] += Σ_rows dy (the bias gradient, operand db), summed on the way. */
  readonly bias?: boolean;
}
/** C[m,n] = scale·Aᵀ·B, A stored [k, m] (ld lda), B [k, n] (ld ldb), every size a constant: attention backward's Pᵀ·dO and dSᵀ·Q. */
export interface MatmulTnSpec { readonly op: 'matmul_tn'; readonly m: number; readonly k: number; readonly n: number; readonly lda: number; readonly ldb: number; readonly ldc: number; readonly scale: number; readonly mr: number; readonly nr: number }
/** One image's attention backward over a head range, from the saved qkv [t, 3·width] and softmax P [heads, t, t] → dqkv [t, 3·width]. */
export interface AttentionBackwardSpec { readonly op: 'attention_backward'; readonly t: number; readonly heads: number; readonly headDim: number }
/** The unshuffle's backward over an image range: kept rows scattered back to the encoder's order, dmask_token += the removed rows. */
export interface UnshuffleBackwardSpec { readonly op: 'unshuffle_backward'; readonly width: number; readonly numPatches: number }
/** The encoder input's backward over an image range: dcls += row 0, kept rows scattered to their patches (zeros elsewhere). */
export interface EncoderInputBackwardSpec { readonly op: 'encoder_input_backward'; readonly width: number; readonly numPatches: number }
export type BackwardKernelSpec = MaskRowsSpec | MaskRowsBackwardSpec | AdamWSpec | GeluSpec | UnshuffleBackwardSpec | EncoderInputBackwardSpec | LayerNormStatsSpec | LayerNormBackwardSpec | GeluBackwardSpec | SoftmaxBackwardSpec | MseLossBackwardSpec | ColumnSumSpec | LinearDxSpec | LinearDwSpec | MatmulTnSpec | AttentionBackwardSpec;
export type KernelSpec = GemmSpec | LayerNormSpec | AttentionSpec | PatchGatherSpec | AddRowsGatheredSpec | UnshuffleSpec | BackwardKernelSpec;

function epsTag(eps: number): string {
  return eps.toExponential().replace('e-', 'em').replace('e+', 'e').replace('.', 'p');
}

/** The kernel's name, from its shape parameters (in the spirit of XNNPACK's f32-gemm-4x8-minmax-wasmsimd). */
export function kernelName(s: KernelSpec): string {
  switch (s.op) {
    case 'gemm': {
      // gemm: packed weights (XNNPACK's sense); matmul: two row-major activations.
      const parts = [`f32_${s.packed ? 'gemm' : 'matmul'}_${s.mr}x${s.nr}`];
      if (s.m !== null) parts.push(`m${s.m}`);
      parts.push(`k${s.k}`, `n${s.n}`);
      if (s.lda !== s.k) parts.push(`lda${s.lda}`);
      if (!s.packed && s.ldb !== s.n) parts.push(`ldb${s.ldb}`);
      if (s.ldc !== s.n) parts.push(`ldc${s.ldc}`);
      if (s.residual && s.ldr !== s.ldc) parts.push(`ldr${s.ldr}`);
      if (s.scale !== 1) parts.push('scale');
      if (s.bias) parts.push('bias');
      if (s.gelu) parts.push('gelu');
      if (s.residual) parts.push('residual');
      if (s.geluGrad) parts.push(`dgelu${s.geluGrad}`);
      return parts.join('_');
    }
    case 'layernorm': return `f32_layernorm_d${s.width}_eps${epsTag(s.eps)}`;
    case 'attention': return `f32_attention_t${s.t}_h${s.heads}_d${s.headDim}${s.saveProbs ? '_saveprobs' : ''}`;
    case 'patch_gather': return `f32_patch_gather_c${s.channels}_p${s.patch}_g${s.grid}`;
    case 'add_rows_gathered': return `f32_add_rows_gathered_d${s.width}`;
    case 'unshuffle': return `f32_unshuffle_d${s.width}_l${s.numPatches}`;
    case 'layernorm_stats': return `f32_layernorm_stats_d${s.width}_eps${epsTag(s.eps)}`;
    case 'layernorm_backward': return `f32_layernorm_backward_d${s.width}${s.accumulate ? '_acc' : ''}`;
    case 'gelu': return `f32_gelu_d${s.width}`;
    case 'adamw': return 'f32_adamw';
    case 'mask_rows': return `f32_mask_rows_d${s.width}`;
    case 'mask_rows_backward': return `f32_mask_rows_backward_d${s.width}`;
    case 'gelu_backward': return `f32_gelu_backward_d${s.width}`;
    case 'softmax_backward': return `f32_softmax_backward_t${s.cols}`;
    case 'mse_loss_backward': return `f32_mse_loss_backward_p${s.patchDim}${s.normPix ? '_normpix' : ''}${s.allPatches ? '_all' : ''}`;
    case 'column_sum': return `f32_column_sum_d${s.width}`;
    case 'linear_dx': return `f32_gemm_dx_${s.mr}x${s.nr}_in${s.inDim}_out${s.outDim}${s.accumulate ? '_acc' : ''}${s.geluGrad ? '_dgelu' : ''}`;
    case 'linear_dw': return `f32_gemm_dw_${s.mr}x${s.nr}_in${s.inDim}_out${s.outDim}${s.chunk !== undefined ? `_c${s.chunk}` : ''}${s.bias ? '_db' : ''}`;
    case 'matmul_tn': {
      const parts = [`f32_matmul_tn_${s.mr}x${s.nr}`, `m${s.m}`, `k${s.k}`, `n${s.n}`];
      if (s.lda !== s.m) parts.push(`lda${s.lda}`);
      if (s.ldb !== s.n) parts.push(`ldb${s.ldb}`);
      if (s.ldc !== s.n) parts.push(`ldc${s.ldc}`);
      if (s.scale !== 1) parts.push('scale');
      return parts.join('_');
    }
    case 'attention_backward': return `f32_attention_backward_t${s.t}_h${s.heads}_d${s.headDim}`;
    case 'unshuffle_backward': return `f32_unshuffle_backward_d${s.width}_l${s.numPatches}`;
    case 'encoder_input_backward': return `f32_encoder_input_backward_d${s.width}_l${s.numPatches}`;
  }
}

/**
 * Register tile for a weight GEMM of this shape. 2×16 (eight accumulators, four B vectors per k)
 * measured fastest on the vit-mae-base shapes under V8 (larger tiles spill); 4×8 where a 16-wide
 * panel would be mostly padding.
 */
export function gemmTile(k: number, n: number): { mr: number; nr: number } {
  void k;
  return n >= 16 ? { mr: 2, nr: 16 } : GEMM_TILE;
}

/**
 * Tiles chosen by timing on a machine (`edge-mae build --tune`), by weight shape `${k}x${n}`;
 * shapes it leaves out take gemmTile's choice.
 */
export type Tiling = Readonly<Record<string, { readonly mr: number; readonly nr: number }>>;

export const tileKey = (k: number, n: number): string => `${k}x${n}`;

export function tileFor(k: number, n: number, tiling: Tiling = {}): { mr: number; nr: number } {
  return tiling[tileKey(k, n)] ?? gemmTile(k, n);
}

/** Panels of nr columns covering n. */
export const panelCount = (n: number, nr: number): number => Math.ceil(n / nr);

/** Elements of a [out=n, in=k] weight packed for a GEMM with nr-column panels. */
export const packedSize = (k: number, n: number, tiling: Tiling = {}): number => panelCount(n, tileFor(k, n, tiling).nr) * tileFor(k, n, tiling).nr * k;

/** A weight GEMM y[m,n] = x[m,k]·Wᵀ + b with m from the caller; W packed in nr-column panels of Wᵀ. */
export function linearSpec(k: number, n: number, epilogue: { gelu?: boolean; residual?: boolean } = {}, tiling: Tiling = {}): GemmSpec {
  return {
    op: 'gemm', m: null, k, n, lda: k, ldb: n, ldc: n, ldr: n, scale: 1, bias: true,
    gelu: epilogue.gelu ?? false, residual: epilogue.residual ?? false, ...tileFor(k, n, tiling), packed: true,
  };
}

/** dx of a Linear [outDim, inDim]: the forward GEMM's tile choice for the product's shape (reduction outDim, inDim columns). */
export function linearDxSpec(inDim: number, outDim: number, accumulate = false, geluGrad = false): LinearDxSpec {
  return { op: 'linear_dx', inDim, outDim, ...gemmTile(outDim, inDim), accumulate, ...(geluGrad ? { geluGrad } : {}) };
}

/** dW of a Linear [outDim, inDim]: 2 rows × 16 columns where inDim allows, as the forward (eight accumulators, no spills). */
export function linearDwSpec(inDim: number, outDim: number, bias = false): LinearDwSpec {
  return { op: 'linear_dw', inDim, outDim, ...gemmTile(outDim, inDim), ...(bias ? { bias } : {}) };
}

/** Elements of W [outDim, inDim] packed for its dx kernel: panels of nr columns over inDim, [outDim][nr] each. */
export const dxPackedSize = (s: LinearDxSpec): number => panelCount(s.inDim, s.nr) * s.nr * s.outDim;

/** The tile of every Linear shape of a config (recorded in the manifest). */
export function effectiveTiling(cfg: MaeConfig, tiling: Tiling = {}): Tiling {
  return Object.fromEntries(linearShapes(cfg).map(([n, k]) => [tileKey(k, n), tileFor(k, n, tiling)]));
}

/** The two GEMMs inside attention for one head at sequence length t (constants throughout). */
export function attentionGemms(a: AttentionSpec): { scores: GemmSpec; values: GemmSpec } {
  const width = a.heads * a.headDim;
  return {
    // S[t,t] = (Q_h · K_hᵀ)·d^-0.5: Q_h rows inside the fused qkv buffer, K_h transposed to kt [d,t].
    scores: { op: 'gemm', m: a.t, k: a.headDim, n: a.t, lda: 3 * width, ldb: a.t, ldc: a.t, ldr: a.t, scale: 1 / Math.sqrt(a.headDim), bias: false, gelu: false, residual: false, ...GEMM_TILE, packed: false },
    // O_h[t,d] = P · V_h, written into the head's columns of the [t, width] output.
    values: { op: 'gemm', m: a.t, k: a.t, n: a.headDim, lda: a.t, ldb: 3 * width, ldc: width, ldr: width, scale: 1, bias: false, gelu: false, residual: false, ...GEMM_TILE, packed: false },
  };
}

/**
 * The four GEMMs of one head's attention backward at sequence length t (constants throughout), P
 * and dS [t,t] row-major, dO_h the head's columns of dout [t, width], V_h transposed to vt [d, t]:
 * dV = Pᵀ·dO_h, dP = dO_h·V_hᵀ, dQ = d^-½·dS·K_h, dK = d^-½·dSᵀ·Q_h, written into the head's
 * columns of the V, Q and K thirds of dqkv [t, 3·width].
 */
export function attentionBackwardGemms(a: AttentionBackwardSpec): { dv: MatmulTnSpec; dp: GemmSpec; dq: GemmSpec; dk: MatmulTnSpec } {
  const width = a.heads * a.headDim, t = a.t, d = a.headDim;
  const scale = 1 / Math.sqrt(d);
  const plain = { op: 'gemm', bias: false, gelu: false, residual: false, ...GEMM_TILE, packed: false } as const;
  return {
    dv: { op: 'matmul_tn', m: t, k: t, n: d, lda: t, ldb: width, ldc: 3 * width, scale: 1, ...GEMM_TILE },
    dp: { ...plain, m: t, k: d, n: t, lda: width, ldb: t, ldc: t, ldr: t, scale: 1 },
    dq: { ...plain, m: t, k: t, n: d, lda: t, ldb: 3 * width, ldc: 3 * width, ldr: 3 * width, scale },
    dk: { op: 'matmul_tn', m: t, k: t, n: d, lda: t, ldb: 3 * width, ldc: 3 * width, scale, ...GEMM_TILE },
  };
}

/** Kernels of one transformer stack (encoder or decoder). */
export interface StackKernels {
  readonly layerNorm: string;
  readonly qkv: string;
  readonly proj: string;
  readonly fc1: string;
  readonly fc2: string;
  /** Attention kernel by sequence length. */
  readonly attention: Readonly<Record<number, string>>;
}

export interface KernelPlan {
  readonly specs: readonly KernelSpec[];
  readonly patchGather: string;
  readonly patchEmbed: string;
  readonly addPos: string;
  readonly encoder: StackKernels;
  readonly decoderEmbed: string;
  readonly unshuffle: string;
  readonly decoder: StackKernels;
  readonly pred: string;
  /** Encoder sequence lengths (1 + kept patches) the module has attention kernels for. */
  readonly encoderLengths: readonly number[];
  readonly tiling: Tiling;
}

/** Encoder lengths every module carries: the config's mask ratio and all patches (encode). */
export function defaultEncoderLengths(cfg: MaeConfig): number[] {
  const L = shapesOf(cfg).numPatches;
  return [1 + lenKeep(L, cfg.maskRatio), 1 + L];
}

export function planKernels(cfg: MaeConfig, encoderLengths: readonly number[] = defaultEncoderLengths(cfg), tiling: Tiling = {}): KernelPlan {
  const sh = shapesOf(cfg);
  const specs = new Map<string, KernelSpec>();
  const use = (s: KernelSpec): string => {
    const name = kernelName(s);
    if (!specs.has(name)) specs.set(name, s);
    return name;
  };
  const lengths = [...new Set(encoderLengths)].sort((a, b) => a - b);
  const stack = (width: number, mlp: number, heads: number, headDim: number, ts: readonly number[]): StackKernels => ({
    layerNorm: use({ op: 'layernorm', width, eps: cfg.layerNormEps }),
    qkv: use(linearSpec(width, 3 * width, {}, tiling)),
    proj: use(linearSpec(width, width, { residual: true }, tiling)),
    fc1: use(linearSpec(width, mlp, { gelu: true }, tiling)),
    fc2: use(linearSpec(mlp, width, { residual: true }, tiling)),
    attention: Object.fromEntries(ts.map((t) => [t, use({ op: 'attention', t, heads, headDim })])),
  });
  const D = cfg.hiddenSize;
  const Dd = cfg.decoderHiddenSize;
  return {
    patchGather: use({ op: 'patch_gather', channels: cfg.numChannels, patch: cfg.patchSize, grid: sh.grid }),
    patchEmbed: use(linearSpec(sh.patchDim, D, {}, tiling)),
    addPos: use({ op: 'add_rows_gathered', width: D }),
    encoder: stack(D, cfg.intermediateSize, cfg.numAttentionHeads, sh.headDim, lengths),
    decoderEmbed: use(linearSpec(D, Dd, {}, tiling)),
    unshuffle: use({ op: 'unshuffle', width: Dd, numPatches: sh.numPatches }),
    decoder: stack(Dd, cfg.decoderIntermediateSize, cfg.decoderNumAttentionHeads, sh.decoderHeadDim, [1 + sh.numPatches]),
    pred: use(linearSpec(Dd, sh.patchDim, {}, tiling)),
    encoderLengths: lengths,
    tiling,
    get specs() { return [...specs.values()]; },
  };
}

/**
 * The backward kernels a config's training uses (each once): LayerNorm with saved stats and its
 * backward per stack width, GELU' per MLP width, the softmax backward and the attention backward
 * per sequence length, the unshuffle and encoder-input backward, the four loss gradients (plain /
 * norm-pix target × masked / all patches), and per Linear the bias-gradient column sums, dx and dW.
 */
export function backwardSpecs(cfg: MaeConfig, encoderLengths: readonly number[] = defaultEncoderLengths(cfg)): BackwardKernelSpec[] {
  const sh = shapesOf(cfg);
  const specs = new Map<string, BackwardKernelSpec>();
  const use = (s: BackwardKernelSpec): void => { if (!specs.has(kernelName(s))) specs.set(kernelName(s), s); };
  for (const width of [cfg.hiddenSize, cfg.decoderHiddenSize]) {
    use({ op: 'layernorm_stats', width, eps: cfg.layerNormEps });
    use({ op: 'layernorm_backward', width });
    use({ op: 'layernorm_backward', width, accumulate: true });
  }
  for (const width of [cfg.intermediateSize, cfg.decoderIntermediateSize]) {
    use({ op: 'gelu', width });
    use({ op: 'gelu_backward', width });
  }
  for (const cols of [...new Set([...encoderLengths, 1 + sh.numPatches])].sort((a, b) => a - b)) use({ op: 'softmax_backward', cols });
  for (const t of [...new Set(encoderLengths)].sort((a, b) => a - b)) use({ op: 'attention_backward', t, heads: cfg.numAttentionHeads, headDim: sh.headDim });
  use({ op: 'attention_backward', t: 1 + sh.numPatches, heads: cfg.decoderNumAttentionHeads, headDim: sh.decoderHeadDim });
  use({ op: 'unshuffle_backward', width: cfg.decoderHiddenSize, numPatches: sh.numPatches });
  use({ op: 'encoder_input_backward', width: cfg.hiddenSize, numPatches: sh.numPatches });
  for (const normPix of [false, true]) for (const allPatches of [false, true]) use({ op: 'mse_loss_backward', patchDim: sh.patchDim, normPix, allPatches });
  for (const [n] of linearShapes(cfg)) use({ op: 'column_sum', width: n });
  // dx of every Linear but the patch embedding (linearShapes' first; pixels need no gradient), in
  // both forms: whether it adds into a residual stream's gradient is the backward program's choice.
  for (const [n, k] of linearShapes(cfg).slice(1)) for (const accumulate of [false, true]) use(linearDxSpec(k, n, accumulate));
  for (const [n, k] of linearShapes(cfg)) for (const bias of [false, true]) use(linearDwSpec(k, n, bias));
  return [...specs.values()];
}

/** A region of linear memory: byte offset from the arena base and length in f32/i32 elements. */
export interface Region { readonly offset: number; readonly length: number }

export interface MemoryLayout {
  /** Packed weights by canonical name (see weightNames). */
  readonly weights: Readonly<Record<string, Region>>;
  /** Per-image activations and scratch. */
  readonly buffers: Readonly<Record<BufferName, Region>>;
  /** Bytes from the arena base to the end of the last region. */
  readonly bytes: number;
}

export type BufferName = 'pixels' | 'ids' | 'patches' | 'x' | 'xln' | 'qkv' | 'att' | 'hidden' | 'scores' | 'kt' | 'latent' | 'emb' | 'pred' | 'staging';

/** Byte offset where the arena starts; the module's own static data must end below it. */
export const ARENA_BASE = 65536;

/** Packed weight names and element counts, in the order they are laid out. */
export function weightSizes(cfg: MaeConfig, tiling: Tiling = {}): Array<[string, number]> {
  const sh = shapesOf(cfg);
  const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize, L = sh.numPatches;
  const block = (prefix: string, w: number, f: number): Array<[string, number]> => [
    [`${prefix}.ln1.w`, w], [`${prefix}.ln1.b`, w],
    [`${prefix}.qkv.w`, packedSize(w, 3 * w, tiling)], [`${prefix}.qkv.b`, 3 * w],
    [`${prefix}.proj.w`, packedSize(w, w, tiling)], [`${prefix}.proj.b`, w],
    [`${prefix}.ln2.w`, w], [`${prefix}.ln2.b`, w],
    [`${prefix}.fc1.w`, packedSize(w, f, tiling)], [`${prefix}.fc1.b`, f],
    [`${prefix}.fc2.w`, packedSize(f, w, tiling)], [`${prefix}.fc2.b`, w],
  ];
  const out: Array<[string, number]> = [
    ['patch.w', packedSize(sh.patchDim, D, tiling)], ['patch.b', D], ['cls_pos', D], ['pos', (1 + L) * D],
  ];
  for (let i = 0; i < cfg.numHiddenLayers; i++) out.push(...block(`enc.${i}`, D, cfg.intermediateSize));
  out.push(['norm.w', D], ['norm.b', D], ['dec_embed.w', packedSize(D, Dd, tiling)], ['dec_embed.b', Dd], ['mask_token', Dd], ['dec_pos', (1 + L) * Dd]);
  for (let i = 0; i < cfg.decoderNumHiddenLayers; i++) out.push(...block(`dec.${i}`, Dd, cfg.decoderIntermediateSize));
  out.push(['dec_norm.w', Dd], ['dec_norm.b', Dd], ['pred.w', packedSize(Dd, sh.patchDim, tiling)], ['pred.b', sh.patchDim]);
  return out;
}

/** [out, in] of every Linear weight. */
export function linearShapes(cfg: MaeConfig): Array<[number, number]> {
  const sh = shapesOf(cfg);
  const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize;
  const block = (w: number, f: number): Array<[number, number]> => [[3 * w, w], [w, w], [f, w], [w, f]];
  return [[D, sh.patchDim], ...block(D, cfg.intermediateSize), [Dd, D], ...block(Dd, cfg.decoderIntermediateSize), [sh.patchDim, Dd]];
}

/** Regions are 64-byte aligned with at least 64 bytes of slack after each: partial-vector tail loads stay inside. */
export const align = (bytes: number): number => Math.ceil(bytes / 64) * 64 + 64;

/** Lays regions out one after another in an arena, each aligned (align); `at` is where the next starts. */
export class RegionPlacer {
  at = 0;
  place(length: number): Region {
    const r = { offset: this.at, length };
    this.at += align(length * 4);
    return r;
  }
}

/** Per-thread attention scratch (floats): each thread works on its own heads. */
export function attentionScratch(cfg: MaeConfig): { scores: number; kt: number } {
  const sh = shapesOf(cfg);
  const T = 1 + sh.numPatches;
  return { scores: T * T, kt: Math.max(sh.headDim, sh.decoderHeadDim) * T };
}

/**
 * Where everything lives for `batch` images per program call: the packed weights once, the
 * activations token-major for the whole batch (image i's rows after image i−1's), the attention
 * scratch once per thread. Sized at load; memory never grows.
 */
export function layoutOf(cfg: MaeConfig, threads = 1, tiling: Tiling = {}, batch = 1): MemoryLayout {
  const sh = shapesOf(cfg);
  const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize, L = sh.numPatches;
  const T = 1 + L;
  const W = Math.max(D, Dd);
  const B = batch;
  const arena = new RegionPlacer();
  const place = (length: number): Region => arena.place(length);
  const weights: Record<string, Region> = {};
  for (const [name, n] of weightSizes(cfg, tiling)) weights[name] = place(n);
  const activations = arena.at;
  const buffers: Record<BufferName, Region> = {
    pixels: place(B * cfg.numChannels * cfg.imageSize * cfg.imageSize),
    ids: place(B * L),
    patches: place(B * L * sh.patchDim),
    x: place(B * T * W),
    xln: place(B * T * W),
    qkv: place(B * T * 3 * W),
    att: place(B * T * W),
    hidden: place(B * T * Math.max(cfg.intermediateSize, cfg.decoderIntermediateSize)),
    scores: place(threads * attentionScratch(cfg).scores),
    kt: place(threads * attentionScratch(cfg).kt),
    latent: place(B * T * D),
    emb: place(B * T * Dd),
    pred: place(B * T * sh.patchDim),
    // A Linear weight as read from the file, before pack_panels moves it into its panels. Used
    // only while the weights are packed, before any inference: it overlays the activations.
    staging: { offset: activations, length: Math.max(...linearShapes(cfg).map(([n, k]) => n * k)) },
  };
  return { weights, buffers, bytes: Math.max(arena.at, activations + align(buffers.staging.length * 4)) };
}

/** WebAssembly pages (64 KiB) to hold the static data, the arena and nothing more: memory never grows. */
export function memoryPages(layout: MemoryLayout): number {
  return Math.ceil((ARENA_BASE + layout.bytes) / 65536);
}

/** Bytes of the activations (everything after the weights) of a layout. */
export const activationBytes = (layout: MemoryLayout): number => layout.bytes - layout.buffers.pixels.offset;

/** The largest b in [1, max] for which fits(b) holds (fits monotone, decreasing in b), or 0. */
function largestWhere(max: number, fits: (b: number) => boolean): number {
  if (!fits(1)) return 0;
  let lo = 1, hi = max;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Activation memory a default batch may take: a few hundred images of a small model, a handful of a base one. */
export const DEFAULT_BATCH_BYTES = 64 * 2 ** 20;
/** The default batch's ceiling: past it a tiny model's GEMMs gain nothing more. */
export const DEFAULT_BATCH_MAX = 64;

/** Images per program call when the caller names none: as many as DEFAULT_BATCH_BYTES of activations hold, 1 to DEFAULT_BATCH_MAX. */
export function defaultBatch(cfg: MaeConfig, threads = 1, tiling: Tiling = {}): number {
  return Math.max(1, largestWhere(DEFAULT_BATCH_MAX, (b) => activationBytes(layoutOf(cfg, threads, tiling, b)) <= DEFAULT_BATCH_BYTES));
}

/** The largest batch whose layout fits `pages` pages (0 when not even one image does). */
export function largestBatch(cfg: MaeConfig, pages: number, threads = 1, tiling: Tiling = {}): number {
  return largestWhere(1 << 20, (b) => memoryPages(layoutOf(cfg, threads, tiling, b)) <= pages);
}
