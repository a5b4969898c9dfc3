/**
 * Where training lives in linear memory, for `batch` images per call whose encoders keep `keep`
 * patches: the forward's packed weights, every Linear's second packing (W itself in panels, for
 * dx = dy·W), plain gradients of the trainable weights, the tape of saved activations (each
 * block's input, LayerNorm stats and outputs, qkv, attention P, the pre-activation and output of
 * the GELU, the residual stream between the two halves), and the backward's working buffers.
 * Sized at creation; memory never grows; a batch past wasm32's 4 GiB is refused with the numbers.
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../shapes.js';
import { ConfigError } from '../errors.js';
import { type LinearDxSpec, type MemoryLayout, type Region, type Tiling, ARENA_BASE, RegionPlacer, align, attentionScratch, dxPackedSize, linearDxSpec, weightSizes } from '../plan.js';
import { type TrainingVariant, canonicalLengths, trainableParams } from './params.js';

/** wasm32's page limit (4 GiB). */
const WASM32_PAGES = 65536;


/** A Linear's names in the layout and its dx kernel's spec. */
export interface LinearInfo {
  readonly name: string;
  readonly inDim: number;
  readonly outDim: number;
  readonly dx: LinearDxSpec;
}

/** Every Linear of the model by canonical weight prefix (patch embedding first). */
export function linearsOf(cfg: MaeConfig): LinearInfo[] {
  const sh = shapesOf(cfg);
  const out: LinearInfo[] = [];
  const add = (name: string, inDim: number, outDim: number): void => { out.push({ name, inDim, outDim, dx: linearDxSpec(inDim, outDim) }); };
  add('patch', sh.patchDim, cfg.hiddenSize);
  const block = (prefix: string, layers: number, w: number, f: number): void => {
    for (let i = 0; i < layers; i++) {
      add(`${prefix}.${i}.qkv`, w, 3 * w);
      add(`${prefix}.${i}.proj`, w, w);
      add(`${prefix}.${i}.fc1`, w, f);
      add(`${prefix}.${i}.fc2`, f, w);
    }
  };
  block('enc', cfg.numHiddenLayers, cfg.hiddenSize, cfg.intermediateSize);
  add('dec_embed', cfg.hiddenSize, cfg.decoderHiddenSize);
  block('dec', cfg.decoderNumHiddenLayers, cfg.decoderHiddenSize, cfg.decoderIntermediateSize);
  add('pred', cfg.decoderHiddenSize, sh.patchDim);
  return out;
}

/** A run of the parameter arena: floats [from, from + count) of each of its four copies. */
export interface ArenaRun { readonly from: number; readonly count: number }

export interface TrainingLayout extends MemoryLayout {
  /** Images per call and kept patches per image the tape is sized for. */
  readonly batch: number;
  readonly keep: number;
  /**
   * The parameter arena, four copies of one layout (plain parameters, gradients, AdamW's m and v),
   * each trainable canonical weight at the same offset in each; the weights with weight decay
   * first, so the optimizer is one kernel call per run. Byte offsets of each copy's start:
   */
  readonly arena: { readonly params: number; readonly grads: number; readonly m: number; readonly v: number; readonly floats: number; readonly decay: ArenaRun; readonly noDecay: ArenaRun };
  /** Plain parameter of each trainable canonical weight ([out, in] for Linears). */
  readonly params: Readonly<Record<string, Region>>;
  /** Plain gradient of each canonical weight (plus untrained ones a kernel still writes: a zero qkv bias). */
  readonly grads: Readonly<Record<string, Region>>;
  readonly pages: number;
}

/** Name of a Linear's second packing (for its dx kernel) among the layout's weights. */
export const dxWeight = (linear: string): string => `${linear}.w:dx`;
/** Name of a canonical weight's gradient among the layout's buffers. */
export const gradBuffer = (canonical: string): string => `grad:${canonical}`;

/** The tape of one transformer stack: per layer its block input, LayerNorm stats and outputs, qkv, P, attention output, mid stream, fc1's pre-activation and GELU output; the stack's output, final norm stats. */
function stackTape(prefix: string, layers: number, rows: number, width: number, mlp: number, probs: number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.${i}`;
    out.push(
      [`${p}.x`, rows * width], [`${p}.mean1`, rows], [`${p}.rstd1`, rows], [`${p}.xln1`, rows * width],
      [`${p}.qkv`, rows * 3 * width], [`${p}.probs`, probs], [`${p}.att`, rows * width], [`${p}.xmid`, rows * width],
      [`${p}.mean2`, rows], [`${p}.rstd2`, rows], [`${p}.xln2`, rows * width], [`${p}.u`, rows * mlp], [`${p}.h`, rows * mlp],
    );
  }
  out.push([`${prefix}.${layers}.x`, rows * width], [`${prefix}.norm.mean`, rows], [`${prefix}.norm.rstd`, rows]);
  return out;
}

export function trainingLayoutOf(cfg: MaeConfig, batch: number, keep: number, tiling: Tiling = {}, threads = 1, variant: TrainingVariant = {}): TrainingLayout {
  const sh = shapesOf(cfg);
  const B = batch, L = sh.numPatches, P = sh.patchDim;
  const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize;
  const Te = 1 + keep, Td = 1 + L;
  const me = B * Te, md = B * Td;
  const F = Math.max(cfg.intermediateSize, cfg.decoderIntermediateSize);
  const W = Math.max(D, Dd);
  const T = Math.max(Te, Td);
  const placer = new RegionPlacer();
  const place = (length: number): Region => placer.place(length);
  const weights: Record<string, Region> = {};
  for (const [name, n] of weightSizes(cfg, tiling)) weights[name] = place(n);
  if (variant.encoderMaskTokens) weights.enc_mask_token = place(D);
  // The patch embedding's dx is never needed (pixels take no gradient).
  for (const l of linearsOf(cfg).slice(1)) weights[dxWeight(l.name)] = place(dxPackedSize(l.dx));
  // The parameter arena: decayed weights first (one AdamW run each way), four copies.
  const trainable = trainableParams(cfg, variant);
  const lengths = canonicalLengths(cfg, variant);
  const decayOf = new Map(trainable.map((t) => [t.canonical, t.decay]));
  const order = [...lengths.keys()].sort((a, b) => Number(decayOf.get(b)) - Number(decayOf.get(a)));
  const inner = new Map<string, number>();
  let floats = 0;
  let decayEnd = 0;
  for (const name of order) {
    inner.set(name, floats);
    floats += align(lengths.get(name)! * 4) / 4;
    if (decayOf.get(name)) decayEnd = floats;
  }
  const copy = (): number => place(floats).offset;
  const arena = { params: copy(), grads: copy(), m: copy(), v: copy(), floats, decay: { from: 0, count: decayEnd }, noDecay: { from: decayEnd, count: floats - decayEnd } };
  const params: Record<string, Region> = {};
  const grads: Record<string, Region> = {};
  for (const name of order) {
    params[name] = { offset: arena.params + inner.get(name)! * 4, length: lengths.get(name)! };
    grads[name] = { offset: arena.grads + inner.get(name)! * 4, length: lengths.get(name)! };
  }
  // Every Linear's bias takes its column sums, trained or not (no qkv_bias: a zero bias, untrained, outside the arena).
  for (const l of linearsOf(cfg)) grads[`${l.name}.b`] ??= place(l.outDim);
  const buffers: Record<string, Region> = {};
  const sizes: Array<[string, number]> = [
    ['pixels', B * cfg.numChannels * cfg.imageSize * cfg.imageSize],
    // Which patches each image lost (1 = removed): the encoder mask token's rows.
    ['patchMask', B * L],
    ['idsKeep', B * keep], ['idsRestore', B * L],
    ['patches', B * keep * P],
    ...stackTape('enc', cfg.numHiddenLayers, me, D, cfg.intermediateSize, B * cfg.numAttentionHeads * Te * Te),
    ['latent', me * D], ['emb', B * Te * Dd],
    ...stackTape('dec', cfg.decoderNumHiddenLayers, md, Dd, cfg.decoderIntermediateSize, B * cfg.decoderNumAttentionHeads * Td * Td),
    ['dec.xln', md * Dd], ['pred', md * P], ['target', md * P], ['weight', md],
    // The backward's working buffers (gradients of activations), shared by the layers.
    ['g', B * T * W], ['dxln', B * T * W], ['dqkv', B * T * 3 * W], ['datt', B * T * W], ['dh', B * T * F],
    ['dpred', md * P], ['de', me * Dd], ['dlat', me * D],
    ['scores', threads * attentionScratch(cfg).scores], ['kt', threads * attentionScratch(cfg).kt],
  ];
  for (const [name, n] of sizes) buffers[name] = place(n);
  for (const [name, r] of Object.entries(grads)) buffers[gradBuffer(name)] = r;
  const pages = Math.ceil((ARENA_BASE + placer.at) / 65536);
  return { weights, buffers: buffers as MemoryLayout['buffers'], bytes: placer.at, batch, keep, arena, params, grads, pages };
}

/** The most images per call (at most `want`) whose training layout fits wasm32; 0 when none does. */
export function trainingBatchThatFits(cfg: MaeConfig, want: number, keep: number, tiling: Tiling = {}, threads = 1, variant: TrainingVariant = {}): number {
  const layout = (b: number): TrainingLayout => trainingLayoutOf(cfg, b, keep, tiling, threads, variant);
  if (layout(want).pages <= WASM32_PAGES) return want;
  const fixed = layout(1);
  if (fixed.pages > WASM32_PAGES) return 0;
  const perImage = layout(2).bytes - fixed.bytes;
  let b = Math.min(want, Math.floor((WASM32_PAGES * 65536 - ARENA_BASE - fixed.bytes) / perImage) + 1);
  while (b > 1 && layout(b).pages > WASM32_PAGES) b--;
  return b;
}

/** Throws ConfigError with the numbers when training `batch` images per call does not fit wasm32, naming the largest batch that does. */
export function checkTrainingFits(cfg: MaeConfig, batch: number, keep: number, tiling: Tiling = {}, threads = 1, variant: TrainingVariant = {}): TrainingLayout {
  const layout = trainingLayoutOf(cfg, batch, keep, tiling, threads, variant);
  if (layout.pages <= WASM32_PAGES) return layout;
  const fixed = trainingLayoutOf(cfg, 1, keep, tiling, threads, variant);
  const perImage = trainingLayoutOf(cfg, 2, keep, tiling, threads, variant).bytes - fixed.bytes;
  const fits = trainingBatchThatFits(cfg, batch, keep, tiling, threads, variant);
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  throw new ConfigError(`training ${batch} images per call needs ${mib(ARENA_BASE + layout.bytes)} of WebAssembly memory (weights, their second packing and gradients ${mib(fixed.bytes - perImage)}, tape and work ${mib(perImage)} per image), more than wasm32's 4 GiB; ${fits > 0 ? `at most ${fits} images per call fit` : 'not even one image fits'}`);
}
