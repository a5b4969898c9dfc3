/**
 * The encoder and decoder as programs: lists of kernel calls over named buffers and weights, built
 * from the kernel plan. Data, not code paths: every backend runs the same list (the WASM backend
 * maps arguments to pointers, a GPU backend to bindings), and a backward pass can walk it in
 * reverse later.
 */
import type { MaeConfig } from './config.js';
import { shapesOf } from './config.js';
import { type BufferName, type KernelPlan, type StackKernels, type Tiling, panelCount, tileFor } from './plan.js';
import { KernelError } from './errors.js';

/** A kernel argument: a buffer (optionally a number of rows in), a packed weight, an integer, or none. */
export type Arg =
  | { readonly buffer: BufferName; readonly row?: number; readonly width?: number }
  | { readonly weight: string }
  | { readonly int: number }
  | { readonly none: true };

/**
 * How a step's work divides between threads: the kernel takes a trailing range [from, to) of
 * weight panels, attention heads or rows. Steps without it run on one thread.
 */
export interface Split {
  readonly over: 'panels' | 'heads' | 'rows';
  readonly parts: number;
}

export type Step =
  | { readonly kernel: string; readonly args: readonly Arg[]; readonly split?: Split }
  /** Copies a packed weight into the first elements of a buffer. */
  | { readonly copy: { readonly weight: string; readonly to: BufferName } };

const buf = (buffer: BufferName, row = 0, width = 0): Arg => ({ buffer, row, width });
const w = (weight: string): Arg => ({ weight });
const int = (n: number): Arg => ({ int: n });
const none: Arg = { none: true };

/** A weight GEMM [k → n] splits over its column panels. */
const linearSplit = (k: number, n: number, tiling: Tiling): Split => ({ over: 'panels', parts: panelCount(n, tileFor(k, n, tiling).nr) });
/** A row-wise step (LayerNorm) over t rows: split too, so no thread waits through it at a barrier. */
const rowSplit = (t: number): Split => ({ over: 'rows', parts: t });

/** Pre-norm transformer blocks on x [t, width] in place (timm Block: x + attn(LN1 x), x + mlp(LN2 x)). */
function blocks(k: StackKernels, prefix: string, layers: number, t: number, width: number, mlp: number, heads: number, tiling: Tiling): Step[] {
  const panels = (n: number, kk: number): Split => linearSplit(kk, n, tiling);
  const attention = k.attention[t];
  if (!attention) throw new KernelError(`no ${prefix} attention kernel for sequence length ${t} in this module`);
  const steps: Step[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.${i}`;
    steps.push(
      { kernel: k.layerNorm, args: [buf('x'), w(`${p}.ln1.w`), w(`${p}.ln1.b`), buf('xln'), int(t)], split: rowSplit(t) },
      { kernel: k.qkv, args: [buf('xln'), w(`${p}.qkv.w`), w(`${p}.qkv.b`), buf('qkv'), none, int(t)], split: panels(3 * width, width) },
      { kernel: attention, args: [buf('qkv'), buf('att'), buf('scores'), buf('kt')], split: { over: 'heads', parts: heads } },
      { kernel: k.proj, args: [buf('att'), w(`${p}.proj.w`), w(`${p}.proj.b`), buf('x'), buf('x'), int(t)], split: panels(width, width) },
      { kernel: k.layerNorm, args: [buf('x'), w(`${p}.ln2.w`), w(`${p}.ln2.b`), buf('xln'), int(t)], split: rowSplit(t) },
      { kernel: k.fc1, args: [buf('xln'), w(`${p}.fc1.w`), w(`${p}.fc1.b`), buf('hidden'), none, int(t)], split: panels(mlp, width) },
      { kernel: k.fc2, args: [buf('hidden'), w(`${p}.fc2.w`), w(`${p}.fc2.b`), buf('x'), buf('x'), int(t)], split: panels(width, mlp) },
    );
  }
  return steps;
}

/**
 * Encoder on `keep` patches of the image in `pixels`, whose indices are in `ids` (in the order the
 * tokens take): patch embedding of just those patches, + their position rows, cls in front, the
 * blocks, the final norm. Output: latent [1 + keep, D].
 */
export function encoderProgram(cfg: MaeConfig, plan: KernelPlan, keep: number): Step[] {
  const D = cfg.hiddenSize;
  const t = 1 + keep;
  return [
    { kernel: plan.patchGather, args: [buf('pixels'), buf('ids'), int(keep), buf('patches')] },
    { kernel: plan.patchEmbed, args: [buf('patches'), w('patch.w'), w('patch.b'), buf('x', 1, D), none, int(keep)], split: linearSplit(shapesOf(cfg).patchDim, D, plan.tiling) },
    { kernel: plan.addPos, args: [buf('x', 1, D), w('pos'), buf('ids'), int(keep)] },
    { copy: { weight: 'cls_pos', to: 'x' } },
    ...blocks(plan.encoder, 'enc', cfg.numHiddenLayers, t, D, cfg.intermediateSize, cfg.numAttentionHeads, plan.tiling),
    { kernel: plan.encoder.layerNorm, args: [buf('x'), w('norm.w'), w('norm.b'), buf('latent'), int(t)], split: rowSplit(t) },
  ];
}

/**
 * Decoder from latent [1 + keep, D] and ids_restore (in `ids`): embed, mask tokens and unshuffle
 * with position rows, the blocks, norm, pixel prediction. Output: pred [1 + L, p·p·C], row 0 = cls.
 */
export function decoderProgram(cfg: MaeConfig, plan: KernelPlan, keep: number): Step[] {
  const t = 1 + shapesOf(cfg).numPatches;
  return [
    { kernel: plan.decoderEmbed, args: [buf('latent'), w('dec_embed.w'), w('dec_embed.b'), buf('emb'), none, int(1 + keep)], split: linearSplit(cfg.hiddenSize, cfg.decoderHiddenSize, plan.tiling) },
    { kernel: plan.unshuffle, args: [buf('emb'), w('mask_token'), w('dec_pos'), buf('ids'), int(keep), buf('x')] },
    ...blocks(plan.decoder, 'dec', cfg.decoderNumHiddenLayers, t, cfg.decoderHiddenSize, cfg.decoderIntermediateSize, cfg.decoderNumAttentionHeads, plan.tiling),
    { kernel: plan.decoder.layerNorm, args: [buf('x'), w('dec_norm.w'), w('dec_norm.b'), buf('xln'), int(t)], split: rowSplit(t) },
    { kernel: plan.pred, args: [buf('xln'), w('pred.w'), w('pred.b'), buf('pred'), none, int(t)], split: linearSplit(cfg.decoderHiddenSize, shapesOf(cfg).patchDim, plan.tiling) },
  ];
}
