/**
 * Weights → the kernels' layout, once at load: each Linear's W [out,in] packed as the GEMM's B
 * operand Wᵀ [in,out] in panels of NR columns (each panel [in][NR] contiguous), the
 * cls token pre-added to its position row, everything else copied as is.
 */
import type { MaeConfig } from './config.js';
import type { BlockWeights, MaeWeights } from './weights.js';
import { type Tiling, tileFor, weightSizes } from './plan.js';
import { WeightsError } from './errors.js';

/**
 * A Linear weight W [n=out, k=in] → the GEMM's B = Wᵀ [k, n] in panels of nr columns:
 * out[(p·k + i)·nr + j] = W[p·nr + j, i], zero where p·nr + j ≥ n (the padded last panel).
 */
export type PanelPacker = (out: Float32Array, w: Float32Array, n: number, k: number, nr: number) => void;

export function packPanelsInto(out: Float32Array, w: Float32Array, n: number, k: number, nr: number): void {
  // Row by row of W: reads run contiguously; each write lands in the panel's column j (measured
  // faster in V8 than walking the panel in write order).
  for (let o = 0; o < n; o++) {
    const p = Math.floor(o / nr);
    const base = p * k * nr + (o - p * nr);
    const src = o * k;
    for (let i = 0; i < k; i++) out[base + i * nr] = w[src + i];
  }
  // Zero the padding columns of a partial last panel.
  const last = Math.floor(n / nr);
  if (n % nr !== 0) {
    for (let i = 0; i < k; i++) out.fill(0, last * k * nr + i * nr + (n % nr), last * k * nr + (i + 1) * nr);
  }
}

/**
 * W [n, k] → itself in panels of nr columns over k (the B operand of a Linear's dx = dy·W, see
 * codegen/ops/gemm.ts): out[(p·n + o)·nr + j] = W[o, p·nr + j], zero where p·nr + j ≥ k. The
 * reference of assembly/pack.ts packRowPanels.
 */
export function packRowPanelsInto(out: Float32Array, w: Float32Array, n: number, k: number, nr: number): void {
  const panels = Math.ceil(k / nr);
  for (let p = 0; p < panels; p++) {
    const cols = Math.min(nr, k - p * nr);
    for (let o = 0; o < n; o++) {
      const dst = (p * n + o) * nr;
      out.set(w.subarray(o * k + p * nr, o * k + p * nr + cols), dst);
      out.fill(0, dst + cols, dst + nr);
    }
  }
}

type Writer = (target: Float32Array) => void;

/*
 * Each weight is read inside its writer, once, and used at once: with lazily read weights a field
 * access reads the file and may return a view that the next access overwrites.
 */
const copy = (read: () => Float32Array): Writer => (t) => t.set(read());

function blockWriters(prefix: string, b: BlockWeights, width: number, mlp: number, linear: LinearWriter): Array<[string, Writer]> {
  return [
    [`${prefix}.ln1.w`, copy(() => b.ln1W)], [`${prefix}.ln1.b`, copy(() => b.ln1B)],
    [`${prefix}.qkv.w`, linear(() => b.qkvW, 3 * width, width)], [`${prefix}.qkv.b`, copy(() => b.qkvB)],
    [`${prefix}.proj.w`, linear(() => b.projW, width, width)], [`${prefix}.proj.b`, copy(() => b.projB)],
    [`${prefix}.ln2.w`, copy(() => b.ln2W)], [`${prefix}.ln2.b`, copy(() => b.ln2B)],
    [`${prefix}.fc1.w`, linear(() => b.fc1W, mlp, width)], [`${prefix}.fc1.b`, copy(() => b.fc1B)],
    [`${prefix}.fc2.w`, linear(() => b.fc2W, width, mlp)], [`${prefix}.fc2.b`, copy(() => b.fc2B)],
  ];
}

/**
 * Writes every packed weight through `target(name, length)`, which returns the Float32Array to
 * fill (a view into the backend's memory, so nothing is copied twice). `packer` lays out the
 * Linear weights (the WASM backend passes its pack_panels kernel; this file's JS version is the
 * reference).
 */
type LinearWriter = (read: () => Float32Array, out: number, inp: number) => Writer;

/** One packed weight: its name in the memory layout, its length in floats, and how to fill it. */
export interface PackTask {
  readonly name: string;
  readonly length: number;
  readonly write: (target: Float32Array) => void;
}

export function packWeights(cfg: MaeConfig, w: MaeWeights, target: (name: string, length: number) => Float32Array, packer: PanelPacker = packPanelsInto, tiling: Tiling = {}): void {
  for (const t of packTasks(cfg, w, packer, tiling)) t.write(target(t.name, t.length));
}

/** packWeights as a list of tasks in layout order, for a caller that runs them one at a time (see WasmBackend.create). */
export function packTasks(cfg: MaeConfig, w: MaeWeights, packer: PanelPacker = packPanelsInto, tiling: Tiling = {}): PackTask[] {
  const linear: LinearWriter = (read, out, inp) => (t) => packer(t, read(), out, inp, tileFor(inp, out, tiling).nr);
  const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize;
  const patchDim = cfg.patchSize * cfg.patchSize * cfg.numChannels;
  const writers = new Map<string, Writer>([
    ['patch.w', linear(() => w.patchW, D, patchDim)],
    ['patch.b', copy(() => w.patchB)],
    ['cls_pos', (t) => {
      t.set(w.clsToken);
      const pos = w.posEmbed;
      for (let i = 0; i < D; i++) t[i] += pos[i];
    }],
    ['pos', copy(() => w.posEmbed)],
    ...w.encoder.flatMap((b, i) => blockWriters(`enc.${i}`, b, D, cfg.intermediateSize, linear)),
    ['norm.w', copy(() => w.normW)], ['norm.b', copy(() => w.normB)],
    ['dec_embed.w', linear(() => w.decoderEmbedW, Dd, D)], ['dec_embed.b', copy(() => w.decoderEmbedB)],
    ['mask_token', copy(() => w.maskToken)], ['dec_pos', copy(() => w.decoderPosEmbed)],
    ...w.decoder.flatMap((b, i) => blockWriters(`dec.${i}`, b, Dd, cfg.decoderIntermediateSize, linear)),
    ['dec_norm.w', copy(() => w.decoderNormW)], ['dec_norm.b', copy(() => w.decoderNormB)],
    ['pred.w', linear(() => w.predW, patchDim, Dd)], ['pred.b', copy(() => w.predB)],
  ]);
  return weightSizes(cfg, tiling).map(([name, length]) => {
    const write = writers.get(name);
    if (!write) throw new WeightsError(`no packed weight '${name}' for this config (layer count mismatch?)`);
    return { name, length, write };
  });
}
