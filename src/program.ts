/**
 * The encoder and decoder as programs: lists of kernel calls over a batch of images, each naming
 * its operands by the kernel's parameter names (src/kernel-params.ts), built from the kernel plan.
 * Data, not code paths: every backend runs the same list (the WASM backend binds names to
 * pointers, WebGPU to bindings), and the training programs are walked from the same steps.
 *
 * Activations are token-major over the batch: image i's t tokens are rows [i·t, (i+1)·t) of a
 * buffer, so every weight GEMM and LayerNorm runs once with m = N·t rows. Steps that are per
 * image (patch gather, position rows, attention, unshuffle) run once per image, each buffer
 * operand advanced by its per-image stride.
 */
import type { MaeConfig } from './config.js';
import { shapesOf } from './config.js';
import { type BufferName, type KernelPlan, type StackKernels, type Tiling, panelCount, tileFor } from './plan.js';
import { KernelError } from './errors.js';
import { kernelParams } from './kernel-params.js';
import type { KernelSpec } from './plan.js';

/** An operand: a buffer (optionally from a row of a given width on), a packed weight, an integer, or none (a null pointer). */
export type Arg =
  | { readonly buffer: BufferName; readonly row?: number; readonly width?: number }
  | { readonly weight: string }
  | { readonly int: number }
  | { readonly none: true };

/**
 * How a step's work divides between threads:
 * - 'range': the kernel's trailing range [0, parts) (weight panels, LayerNorm rows);
 * - 'rows': a weight GEMM's (or a Linear dx's) m rows (in row blocks), each thread running every panel;
 * - 'images': each thread runs its share of the step's images;
 * - 'pairs': (image, part) pairs, parts of the kernel's range (attention: images × heads).
 * Steps without one run on the first thread.
 */
export type Split = 'range' | 'rows' | 'images' | 'pairs';

/** A step run once per image: buffer operands advance by their stride (floats per image). */
export interface PerImage {
  readonly count: number;
  readonly strides: Readonly<Record<string, number>>;
}

export interface KernelStep {
  readonly kernel: string;
  /** Operands by the kernel's parameter names. */
  readonly args: Readonly<Record<string, Arg>>;
  /** The kernel's trailing range is [0, parts) (panels, heads or rows), when it takes one. */
  readonly parts?: number;
  readonly split?: Split;
  readonly images?: PerImage;
}

/** Copies a packed weight into a buffer (once per image, `stride` floats apart). */
export interface CopyStep {
  readonly copy: { readonly weight: string; readonly to: BufferName; readonly images?: { readonly count: number; readonly stride: number } };
}

export type Step = KernelStep | CopyStep;

/** The step's operands in the kernel's parameter order, checked: every parameter named, nothing else. */
export function orderedOperands(step: KernelStep, spec: KernelSpec): Array<[name: string, arg: Arg]> {
  const { operands } = kernelParams(spec);
  const names = new Set(operands.map(([n]) => n));
  for (const name of Object.keys(step.args)) if (!names.has(name)) throw new KernelError(`program step ${step.kernel}: the kernel has no parameter '${name}'`);
  return operands.map(([name]) => {
    const a = step.args[name];
    if (!a) throw new KernelError(`program step ${step.kernel}: no operand for parameter '${name}'`);
    return [name, a];
  });
}

const buf = (buffer: BufferName, row = 0, width = 0): Arg => ({ buffer, row, width });
const w = (weight: string): Arg => ({ weight });
const int = (n: number): Arg => ({ int: n });
const none: Arg = { none: true };

/** Row blocks below which a weight GEMM splits its panels rather than its rows. */
const ROW_SPLIT_MIN = 64;

/**
 * A Linear y[m, n] = x[m, k]·Wᵀ + b (+ res) over the whole batch: threads split its rows when
 * there are enough of them (each reads all of W, which is small, and only its share of x), else
 * its column panels.
 */
function linear(kernel: string, k: number, n: number, m: number, tiling: Tiling, io: { a: Arg; w: string; c: Arg; res?: Arg }): KernelStep {
  return {
    kernel,
    args: { a: io.a, b: w(`${io.w}.w`), bias: w(`${io.w}.b`), c: io.c, res: io.res ?? none, m: int(m) },
    parts: panelCount(n, tileFor(k, n, tiling).nr),
    split: m >= ROW_SPLIT_MIN ? 'rows' : 'range',
  };
}

/** LayerNorm over `rows` rows, split between threads so none waits through it at a barrier. */
function layerNorm(kernel: string, x: BufferName, p: string, out: BufferName, rows: number): KernelStep {
  return { kernel, args: { x: buf(x), w: w(`${p}.w`), b: w(`${p}.b`), out: buf(out), rows: int(rows) }, parts: rows, split: 'range' };
}

interface StackShape { readonly prefix: string; readonly layers: number; readonly t: number; readonly width: number; readonly mlp: number; readonly heads: number }

/** Pre-norm transformer blocks on x [n·t, width] in place (timm Block: x + attn(LN1 x), x + mlp(LN2 x)). */
function blocks(k: StackKernels, s: StackShape, n: number, tiling: Tiling): Step[] {
  const attention = k.attention[s.t];
  if (!attention) throw new KernelError(`no ${s.prefix} attention kernel for sequence length ${s.t} in this module`);
  const m = n * s.t, D = s.width;
  const steps: Step[] = [];
  for (let i = 0; i < s.layers; i++) {
    const p = `${s.prefix}.${i}`;
    steps.push(
      layerNorm(k.layerNorm, 'x', `${p}.ln1`, 'xln', m),
      linear(k.qkv, D, 3 * D, m, tiling, { a: buf('xln'), w: `${p}.qkv`, c: buf('qkv') }),
      {
        kernel: attention,
        args: { qkv: buf('qkv'), out: buf('att'), scores: buf('scores'), kt: buf('kt') },
        parts: s.heads,
        split: 'pairs',
        images: { count: n, strides: { qkv: s.t * 3 * D, out: s.t * D } },
      },
      linear(k.proj, D, D, m, tiling, { a: buf('att'), w: `${p}.proj`, c: buf('x'), res: buf('x') }),
      layerNorm(k.layerNorm, 'x', `${p}.ln2`, 'xln', m),
      linear(k.fc1, D, s.mlp, m, tiling, { a: buf('xln'), w: `${p}.fc1`, c: buf('hidden') }),
      linear(k.fc2, s.mlp, D, m, tiling, { a: buf('hidden'), w: `${p}.fc2`, c: buf('x'), res: buf('x') }),
    );
  }
  return steps;
}

/**
 * Encoder on `keep` patches of each of n images in `pixels` [n, C, H, W], whose indices are in
 * `ids` [n, keep] (in the order the tokens take): per image, patch embedding of just those patches
 * plus their position rows, cls in front; then the blocks and the final norm over all n·(1 + keep)
 * tokens. Output: latent [n, 1 + keep, D].
 */
export function encoderProgram(cfg: MaeConfig, plan: KernelPlan, keep: number, n = 1): Step[] {
  const sh = shapesOf(cfg);
  const D = cfg.hiddenSize;
  const t = 1 + keep;
  const pixels = cfg.numChannels * cfg.imageSize * cfg.imageSize;
  const images = (strides: Record<string, number>): PerImage => ({ count: n, strides });
  return [
    { kernel: plan.patchGather, args: { pixels: buf('pixels'), ids: buf('ids'), count: int(keep), out: buf('patches') }, split: 'images', images: images({ pixels, ids: keep, out: keep * sh.patchDim }) },
    {
      kernel: plan.patchEmbed,
      args: { a: buf('patches'), b: w('patch.w'), bias: w('patch.b'), c: buf('x', 1, D), res: none, m: int(keep) },
      parts: panelCount(D, tileFor(sh.patchDim, D, plan.tiling).nr),
      split: 'images',
      images: images({ a: keep * sh.patchDim, c: t * D }),
    },
    { kernel: plan.addPos, args: { x: buf('x', 1, D), table: w('pos'), ids: buf('ids'), count: int(keep) }, split: 'images', images: images({ x: t * D, ids: keep }) },
    { copy: { weight: 'cls_pos', to: 'x', images: { count: n, stride: t * D } } },
    ...blocks(plan.encoder, { prefix: 'enc', layers: cfg.numHiddenLayers, t, width: D, mlp: cfg.intermediateSize, heads: cfg.numAttentionHeads }, n, plan.tiling),
    layerNorm(plan.encoder.layerNorm, 'x', 'norm', 'latent', n * t),
  ];
}

/**
 * The decoder from latent [n, 1 + keep, D] and ids_restore [n, L] (in `ids`): embed, mask tokens
 * and unshuffle with position rows per image, the blocks, norm, pixel prediction over all n·(1 + L)
 * tokens. Output: pred [n, 1 + L, p·p·C], each image's row 0 its cls token's.
 */
export function decoderProgram(cfg: MaeConfig, plan: KernelPlan, keep: number, n = 1): Step[] {
  const sh = shapesOf(cfg);
  const t = 1 + sh.numPatches;
  const Dd = cfg.decoderHiddenSize;
  return [
    linear(plan.decoderEmbed, cfg.hiddenSize, Dd, n * (1 + keep), plan.tiling, { a: buf('latent'), w: 'dec_embed', c: buf('emb') }),
    {
      kernel: plan.unshuffle,
      args: { emb: buf('emb'), mask: w('mask_token'), pos: w('dec_pos'), idsRestore: buf('ids'), keep: int(keep), out: buf('x') },
      split: 'images',
      images: { count: n, strides: { emb: (1 + keep) * Dd, idsRestore: sh.numPatches, out: t * Dd } },
    },
    ...blocks(plan.decoder, { prefix: 'dec', layers: cfg.decoderNumHiddenLayers, t, width: Dd, mlp: cfg.decoderIntermediateSize, heads: cfg.decoderNumAttentionHeads }, n, plan.tiling),
    layerNorm(plan.decoder.layerNorm, 'x', 'dec_norm', 'xln', n * t),
    linear(plan.pred, Dd, sh.patchDim, n * t, plan.tiling, { a: buf('xln'), w: 'pred', c: buf('pred') }),
  ];
}
