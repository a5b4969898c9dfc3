/**
 * Training as programs: the MAE forward as a list of ops over named tensors of the tape (from the
 * model description, as src/program.ts builds the inference forward), each op's forward kernel
 * steps, and the backward program walked from the same list in reverse, one backward rule per op.
 * The steps name their operands by the kernels' parameter names (src/kernel-params.ts) and run on
 * the same runner as inference (src/backend/program-runner.ts).
 *
 * Gradients of activations live in a few shared buffers (`gradOf`): the residual stream's in `g`,
 * so a residual connection's backward is the identity in place, and a LayerNorm whose input
 * already holds the skip path's gradient adds to it (its accumulating variant). The walker tracks
 * which tensors' gradients are live and picks write or accumulate from that.
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../shapes.js';
import { KernelError } from '../errors.js';
import { type GemmSpec, type KernelSpec, type LinearDxSpec, type Tiling, kernelName, linearDwSpec, linearDxSpec, linearSpec, panelCount, tileFor } from '../plan.js';
import type { Arg, KernelStep, Step } from '../program.js';
import { dxWeight, gradBuffer } from './layout.js';
import type { TrainingVariant } from './params.js';

const buf = (buffer: string, row = 0, width = 0): Arg => ({ buffer, row, width } as Arg);
const w = (weight: string): Arg => ({ weight });
const int = (n: number): Arg => ({ int: n });
const none: Arg = { none: true };

/** A Linear y[m, out] = x[m, in]·Wᵀ + b (+ res), W and b the canonical weights `${name}.w`, `${name}.b`. */
interface LinearOp { readonly kind: 'linear'; readonly name: string; readonly x: string; readonly y: string; readonly res?: string; readonly m: number; readonly inDim: number; readonly outDim: number }
/** y = LayerNorm(x)·w + b over rows, mean and rstd kept. */
interface LayerNormOp { readonly kind: 'layernorm'; readonly name: string; readonly x: string; readonly y: string; readonly mean: string; readonly rstd: string; readonly rows: number; readonly width: number }
/** out = attention(qkv) per image, P kept in `probs`. */
interface AttentionOp { readonly kind: 'attention'; readonly qkv: string; readonly probs: string; readonly out: string; readonly images: number; readonly t: number; readonly heads: number; readonly headDim: number }
/** h = GELU(u). */
interface GeluOp { readonly kind: 'gelu'; readonly u: string; readonly h: string; readonly rows: number; readonly width: number }
/**
 * The encoder's input per image: cls_token (+ its zero pos row) in front of the kept patches'
 * embeddings plus their pos rows. With `maskTokens` (Table 1c's encoder "w/ [M]") every patch is
 * embedded (keep = L, in order) and the removed ones (`patchMask`) replaced by the encoder's mask
 * token before the pos rows are added.
 */
interface EncoderInputOp { readonly kind: 'encoder_input'; readonly out: string; readonly images: number; readonly keep: number; readonly maskTokens: boolean }
/** The decoder's input per image: the embedded tokens and mask tokens unshuffled into patch order, plus the decoder's pos rows. */
interface UnshuffleOp { readonly kind: 'unshuffle'; readonly emb: string; readonly out: string; readonly images: number; readonly keep: number }

export type TrainingOp = LinearOp | LayerNormOp | AttentionOp | GeluOp | EncoderInputOp | UnshuffleOp;

/** The forward of one pre-norm block (timm Block) on the tape of `p`, from `${p}.x` to `next`. */
function blockOps(p: string, next: string, m: number, n: number, t: number, width: number, mlp: number, heads: number): TrainingOp[] {
  return [
    { kind: 'layernorm', name: `${p}.ln1`, x: `${p}.x`, y: `${p}.xln1`, mean: `${p}.mean1`, rstd: `${p}.rstd1`, rows: m, width },
    { kind: 'linear', name: `${p}.qkv`, x: `${p}.xln1`, y: `${p}.qkv`, m, inDim: width, outDim: 3 * width },
    { kind: 'attention', qkv: `${p}.qkv`, probs: `${p}.probs`, out: `${p}.att`, images: n, t, heads, headDim: width / heads },
    { kind: 'linear', name: `${p}.proj`, x: `${p}.att`, y: `${p}.xmid`, res: `${p}.x`, m, inDim: width, outDim: width },
    { kind: 'layernorm', name: `${p}.ln2`, x: `${p}.xmid`, y: `${p}.xln2`, mean: `${p}.mean2`, rstd: `${p}.rstd2`, rows: m, width },
    { kind: 'linear', name: `${p}.fc1`, x: `${p}.xln2`, y: `${p}.u`, m, inDim: width, outDim: mlp },
    { kind: 'gelu', u: `${p}.u`, h: `${p}.h`, rows: m, width: mlp },
    { kind: 'linear', name: `${p}.fc2`, x: `${p}.h`, y: next, res: `${p}.xmid`, m, inDim: mlp, outDim: width },
  ];
}

/**
 * models_mae.py's forward_encoder and forward_decoder for n images keeping `keep` patches each, as
 * ops over the tape. With `variant.encoderMaskTokens` the encoder runs on all patches (keep must
 * be L; ids_keep and ids_restore are then the identity and the mask only enters through
 * `patchMask` and the loss).
 */
export function forwardOps(cfg: MaeConfig, keep: number, n: number, variant: TrainingVariant = {}): TrainingOp[] {
  const sh = shapesOf(cfg);
  const maskTokens = variant.encoderMaskTokens === true;
  if (maskTokens && keep !== sh.numPatches) throw new KernelError(`encoder mask tokens: the encoder runs on all ${sh.numPatches} patches, got keep ${keep}`);
  const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize;
  const Te = 1 + keep, Td = 1 + sh.numPatches;
  const ops: TrainingOp[] = [{ kind: 'encoder_input', out: 'enc.0.x', images: n, keep, maskTokens }];
  for (let i = 0; i < cfg.numHiddenLayers; i++) ops.push(...blockOps(`enc.${i}`, `enc.${i + 1}.x`, n * Te, n, Te, D, cfg.intermediateSize, cfg.numAttentionHeads));
  const Le = cfg.numHiddenLayers, Ld = cfg.decoderNumHiddenLayers;
  ops.push(
    { kind: 'layernorm', name: 'norm', x: `enc.${Le}.x`, y: 'latent', mean: 'enc.norm.mean', rstd: 'enc.norm.rstd', rows: n * Te, width: D },
    { kind: 'linear', name: 'dec_embed', x: 'latent', y: 'emb', m: n * Te, inDim: D, outDim: Dd },
    { kind: 'unshuffle', emb: 'emb', out: 'dec.0.x', images: n, keep },
  );
  for (let i = 0; i < Ld; i++) ops.push(...blockOps(`dec.${i}`, `dec.${i + 1}.x`, n * Td, n, Td, Dd, cfg.decoderIntermediateSize, cfg.decoderNumAttentionHeads));
  ops.push(
    { kind: 'layernorm', name: 'dec_norm', x: `dec.${Ld}.x`, y: 'dec.xln', mean: 'dec.norm.mean', rstd: 'dec.norm.rstd', rows: n * Td, width: Dd },
    { kind: 'linear', name: 'pred', x: 'dec.xln', y: 'pred', m: n * Td, inDim: Dd, outDim: sh.patchDim },
  );
  return ops;
}

/**
 * The buffer holding a tensor's gradient: the residual stream (block inputs, mid streams, outputs)
 * shares `g`; each other kind of activation has one buffer that all layers reuse in turn.
 */
export function gradOf(tensor: string): string {
  if (/^(enc|dec)\.\d+\.(x|xmid)$/.test(tensor)) return 'g';
  if (/\.(xln1|xln2)$/.test(tensor) || tensor === 'dec.xln') return 'dxln';
  if (/\.qkv$/.test(tensor)) return 'dqkv';
  if (/\.att$/.test(tensor)) return 'datt';
  if (/\.(u|h)$/.test(tensor)) return 'dh';
  const fixed: Record<string, string> = { latent: 'dlat', emb: 'de', pred: 'dpred' };
  const g = fixed[tensor];
  if (!g) throw new KernelError(`training program: no gradient buffer for tensor '${tensor}'`);
  return g;
}

/** Builds steps and records the specs they call (the program's kernel list). */
export class StepWriter {
  readonly steps: Step[] = [];
  readonly specs = new Map<string, KernelSpec>();
  /**
   * GELUs fused into the Linears around them, by pre-activation u and by output h: the Linear
   * producing u writes h and GELU'(u) (into u's tape) in its epilogue, the Linear reading h
   * multiplies its dx by that GELU'; the GELU op's own rules then emit nothing.
   */
  readonly geluByU = new Map<string, GeluOp>();
  readonly geluByH = new Map<string, GeluOp>();
  constructor(readonly cfg: MaeConfig, readonly tiling: Tiling, ops: readonly TrainingOp[] = []) {
    const made = new Set(ops.flatMap((o) => (o.kind === 'linear' ? [o.y] : [])));
    const read = new Set(ops.flatMap((o) => (o.kind === 'linear' ? [o.x] : [])));
    for (const o of ops) {
      // Fused only between two Linears (the MLP's fc1 and fc2), each reading or writing it alone.
      if (o.kind !== 'gelu' || !made.has(o.u) || !read.has(o.h)) continue;
      if (ops.filter((q) => q.kind === 'linear' && q.x === o.h).length !== 1 || ops.some((q) => q.kind === 'linear' && (q.x === o.u || q.res === o.u || q.res === o.h))) continue;
      this.geluByU.set(o.u, o);
      this.geluByH.set(o.h, o);
    }
  }

  call(spec: KernelSpec, args: Record<string, Arg>, more: Omit<KernelStep, 'kernel' | 'args'> = {}): void {
    const kernel = kernelName(spec);
    this.specs.set(kernel, spec);
    this.steps.push({ kernel, args, ...more });
  }
}

/** The forward kernels of one op. */
function forwardSteps(op: TrainingOp, s: StepWriter): void {
  const cfg = s.cfg;
  const sh = shapesOf(cfg);
  switch (op.kind) {
    case 'linear': {
      const more = { parts: panelCount(op.outDim, tileFor(op.inDim, op.outDim, s.tiling).nr), split: op.m >= 64 ? 'rows' as const : 'range' as const };
      const gelu = s.geluByU.get(op.y);
      if (gelu && op.res === undefined) {
        // fc1 with the GELU in its epilogue: h out, GELU'(u) kept in u's place on the tape.
        const spec: GemmSpec = { ...linearSpec(op.inDim, op.outDim, { gelu: true }, s.tiling), geluGrad: 'save' };
        s.call(spec, { a: buf(op.x), b: w(`${op.name}.w`), bias: w(`${op.name}.b`), c: buf(gelu.h), dgelu: buf(gelu.u), m: int(op.m) }, more);
        return;
      }
      const spec = linearSpec(op.inDim, op.outDim, { residual: op.res !== undefined }, s.tiling);
      s.call(spec, { a: buf(op.x), b: w(`${op.name}.w`), bias: w(`${op.name}.b`), c: buf(op.y), res: op.res ? buf(op.res) : none, m: int(op.m) }, more);
      return;
    }
    case 'layernorm':
      s.call({ op: 'layernorm_stats', width: op.width, eps: cfg.layerNormEps },
        { x: buf(op.x), w: w(`${op.name}.w`), b: w(`${op.name}.b`), out: buf(op.y), mean: buf(op.mean), rstd: buf(op.rstd), rows: int(op.rows) },
        { parts: op.rows, split: 'range' });
      return;
    case 'attention': {
      const width = op.heads * op.headDim;
      s.call({ op: 'attention', t: op.t, heads: op.heads, headDim: op.headDim, saveProbs: true },
        { qkv: buf(op.qkv), out: buf(op.out), probs: buf(op.probs), kt: buf('kt') },
        { parts: op.heads, split: 'pairs', images: { count: op.images, strides: { qkv: op.t * 3 * width, out: op.t * width, probs: op.heads * op.t * op.t } } });
      return;
    }
    case 'gelu':
      if (s.geluByU.has(op.u)) return; // in fc1's epilogue
      s.call({ op: 'gelu', width: op.width }, { x: buf(op.u), out: buf(op.h), rows: int(op.rows) }, { parts: op.rows, split: 'range' });
      return;
    case 'encoder_input': {
      const D = cfg.hiddenSize, t = 1 + op.keep, P = sh.patchDim;
      const images = (strides: Record<string, number>) => ({ count: op.images, strides });
      s.call({ op: 'patch_gather', channels: cfg.numChannels, patch: cfg.patchSize, grid: sh.grid },
        { pixels: buf('pixels'), ids: buf('idsKeep'), count: int(op.keep), out: buf('patches') },
        { split: 'images', images: images({ pixels: cfg.numChannels * cfg.imageSize ** 2, ids: op.keep, out: op.keep * P }) });
      s.call(linearSpec(P, D, {}, s.tiling),
        { a: buf('patches'), b: w('patch.w'), bias: w('patch.b'), c: buf(op.out, 1, D), res: none, m: int(op.keep) },
        { parts: panelCount(D, tileFor(P, D, s.tiling).nr), split: 'images', images: images({ a: op.keep * P, c: t * D }) });
      if (op.maskTokens) {
        s.call({ op: 'mask_rows', width: D }, { x: buf(op.out, 1, D), token: w('enc_mask_token'), mask: buf('patchMask'), count: int(op.keep) },
          { split: 'images', images: images({ x: t * D, mask: sh.numPatches }) });
      }
      s.call({ op: 'add_rows_gathered', width: D }, { x: buf(op.out, 1, D), table: w('pos'), ids: buf('idsKeep'), count: int(op.keep) },
        { split: 'images', images: images({ x: t * D, ids: op.keep }) });
      s.steps.push({ copy: { weight: 'cls_pos', to: op.out as never, images: { count: op.images, stride: t * D } } });
      return;
    }
    case 'unshuffle': {
      const Dd = cfg.decoderHiddenSize, L = sh.numPatches;
      s.call({ op: 'unshuffle', width: Dd, numPatches: L },
        { emb: buf(op.emb), mask: w('mask_token'), pos: w('dec_pos'), idsRestore: buf('idsRestore'), keep: int(op.keep), out: buf(op.out) },
        { split: 'images', images: { count: op.images, strides: { emb: (1 + op.keep) * Dd, idsRestore: L, out: (1 + L) * Dd } } });
      return;
    }
  }
}

/** The forward with its tape: every op's kernels in order. */
export function trainingForwardProgram(cfg: MaeConfig, keep: number, n: number, tiling: Tiling = {}, variant: TrainingVariant = {}): StepWriter {
  const ops = forwardOps(cfg, keep, n, variant);
  const s = new StepWriter(cfg, tiling, ops);
  for (const op of ops) forwardSteps(op, s);
  return s;
}

/** Which tensors' gradient buffers hold their (partial) gradient so far. */
class Live {
  private readonly live = new Set<string>();
  has(t: string): boolean { return this.live.has(t); }
  add(t: string): void { this.live.add(t); }
  need(t: string, what: string): void {
    if (!this.live.has(t)) throw new KernelError(`training program: ${what} reads the gradient of '${t}', which nothing has written`);
  }
}

/**
 * A Linear dx's work: in row blocks over every panel, as the forward (dy's block stays in cache
 * while each panel of W passes; one call over all rows streams dy once per panel), threads taking
 * whole row tiles; few rows: the panels split.
 */
function dxSplit(op: LinearOp, dx: LinearDxSpec): Omit<KernelStep, 'kernel' | 'args'> {
  return { parts: panelCount(op.inDim, dx.nr), split: op.m >= 64 ? 'rows' : 'range' };
}

/** The backward kernels of one op: parameter gradients accumulated, the input's gradient written or added. */
function backwardSteps(op: TrainingOp, s: StepWriter, live: Live): void {
  const cfg = s.cfg;
  const sh = shapesOf(cfg);
  switch (op.kind) {
    case 'linear': {
      live.need(op.y, op.name);
      const dy = buf(gradOf(op.y));
      // dW and, summed on the way, the bias gradient (threads split dW's rows and so db's entries).
      s.call(linearDwSpec(op.inDim, op.outDim, true), { dy, x: buf(op.x), dw: buf(gradBuffer(`${op.name}.w`)), db: buf(gradBuffer(`${op.name}.b`)), m: int(op.m) }, { parts: op.outDim, split: 'range' });
      const gelu = s.geluByH.get(op.x);
      if (gelu && !live.has(op.x) && !live.has(gelu.u)) {
        // fc2's dx carried through the GELU: d u = (dy·W) ⊙ GELU'(u), GELU'(u) from fc1's epilogue.
        const dx = linearDxSpec(op.inDim, op.outDim, false, true);
        if (gradOf(gelu.u) === gradOf(op.y)) throw new KernelError(`training program: ${op.name}'s dx would overwrite its dy`);
        s.call(dx, { a: dy, b: w(dxWeight(op.name)), c: buf(gradOf(gelu.u)), dgelu: buf(gelu.u), m: int(op.m) }, dxSplit(op, dx));
        live.add(op.x);
        live.add(gelu.u);
      } else {
        const dx = linearDxSpec(op.inDim, op.outDim, live.has(op.x));
        if (gradOf(op.x) === gradOf(op.y)) throw new KernelError(`training program: ${op.name}'s dx would overwrite its dy`);
        s.call(dx, { a: dy, b: w(dxWeight(op.name)), c: buf(gradOf(op.x)), m: int(op.m) }, dxSplit(op, dx));
        live.add(op.x);
      }
      if (op.res !== undefined) {
        // d res += d y: the identity where both live in the residual stream's buffer.
        if (gradOf(op.res) !== gradOf(op.y) || live.has(op.res)) throw new KernelError(`training program: ${op.name}'s residual '${op.res}' is not on the stream of '${op.y}'`);
        live.add(op.res);
      }
      return;
    }
    case 'layernorm': {
      live.need(op.y, op.name);
      s.call({ op: 'layernorm_backward', width: op.width, accumulate: live.has(op.x) },
        { dy: buf(gradOf(op.y)), x: buf(op.x), mean: buf(op.mean), rstd: buf(op.rstd), w: w(`${op.name}.w`), dx: buf(gradOf(op.x)), dw: buf(gradBuffer(`${op.name}.w`)), db: buf(gradBuffer(`${op.name}.b`)), rows: int(op.rows) },
        { parts: op.rows });
      live.add(op.x);
      return;
    }
    case 'attention': {
      live.need(op.out, 'attention');
      const width = op.heads * op.headDim;
      s.call({ op: 'attention_backward', t: op.t, heads: op.heads, headDim: op.headDim },
        { qkv: buf(op.qkv), probs: buf(op.probs), dout: buf(gradOf(op.out)), dqkv: buf(gradOf(op.qkv)), dp: buf('scores'), vt: buf('kt') },
        { parts: op.heads, split: 'pairs', images: { count: op.images, strides: { qkv: op.t * 3 * width, probs: op.heads * op.t * op.t, dout: op.t * width, dqkv: op.t * 3 * width } } });
      live.add(op.qkv);
      return;
    }
    case 'gelu':
      live.need(op.h, 'gelu');
      if (s.geluByH.has(op.h)) return; // in fc2's dx epilogue (u's gradient is live)
      s.call({ op: 'gelu_backward', width: op.width }, { dy: buf(gradOf(op.h)), u: buf(op.u), dx: buf(gradOf(op.u)), rows: int(op.rows) }, { parts: op.rows, split: 'range' });
      live.add(op.u);
      return;
    case 'unshuffle': {
      live.need(op.out, 'unshuffle');
      s.call({ op: 'unshuffle_backward', width: cfg.decoderHiddenSize, numPatches: sh.numPatches },
        { dy: buf(gradOf(op.out)), idsRestore: buf('idsRestore'), keep: int(op.keep), de: buf(gradOf(op.emb)), dmask: buf(gradBuffer('mask_token')) },
        { parts: op.images });
      live.add(op.emb);
      return;
    }
    case 'encoder_input': {
      live.need(op.out, 'encoder input');
      const D = cfg.hiddenSize, t = 1 + op.keep, P = sh.patchDim;
      const g = gradOf(op.out);
      // Removed rows fed the mask token, not the patch projection: their gradient goes to the token and is zeroed.
      if (op.maskTokens) {
        s.call({ op: 'mask_rows_backward', width: D }, { dx: buf(g, 1, D), mask: buf('patchMask'), dtoken: buf(gradBuffer('enc_mask_token')), count: int(op.keep) },
          { images: { count: op.images, strides: { dx: t * D, mask: sh.numPatches } } });
      }
      // The patches take no gradient (pixels); the position rows are frozen. The gather's backward
      // is a scatter into zeros, so the patch embedding's gradients sum over the kept rows alone.
      s.call({ op: 'column_sum', width: D }, { dy: buf(g), acc: buf(gradBuffer('cls_pos')), rows: int(1) }, { parts: 1, images: { count: op.images, strides: { dy: t * D } } });
      s.call(linearDwSpec(P, D, true), { dy: buf(g, 1, D), x: buf('patches'), dw: buf(gradBuffer('patch.w')), db: buf(gradBuffer('patch.b')), m: int(op.keep) },
        { parts: D, images: { count: op.images, strides: { dy: t * D, x: op.keep * P } } });
      return;
    }
  }
}

/**
 * d loss / d pred from the masked MSE (the loss weight per pred row: 0 for each image's cls row,
 * the mask or 1 for its patches), then the backward of every op in reverse. Parameter gradients
 * accumulate: the caller zeroes them first.
 */
export function trainingBackwardProgram(cfg: MaeConfig, keep: number, n: number, normPix: boolean, tiling: Tiling = {}, variant: TrainingVariant = {}): StepWriter {
  const ops = forwardOps(cfg, keep, n, variant);
  const s = new StepWriter(cfg, tiling, ops);
  const sh = shapesOf(cfg);
  const rows = n * (1 + sh.numPatches);
  s.call({ op: 'mse_loss_backward', patchDim: sh.patchDim, normPix, allPatches: false },
    { pred: buf('pred'), target: buf('target'), mask: buf('weight'), dpred: buf(gradOf('pred')), rows: int(rows) }, { parts: rows, split: 'range' });
  const live = new Live();
  live.add('pred');
  for (const op of ops.reverse()) backwardSteps(op, s, live);
  return s;
}

/**
 * Fine-tuning's encoder (models_vit.py's forward_features): every patch in order (ids_keep the
 * identity), the blocks, the final norm into `latent`; no decoder.
 */
export function encoderOps(cfg: MaeConfig, n: number): TrainingOp[] {
  const ops = forwardOps(cfg, shapesOf(cfg).numPatches, n);
  return ops.slice(0, ops.findIndex((o) => o.kind === 'layernorm' && o.name === 'norm') + 1);
}

export function finetuneForwardProgram(cfg: MaeConfig, n: number, tiling: Tiling = {}): StepWriter {
  const ops = encoderOps(cfg, n);
  const s = new StepWriter(cfg, tiling, ops);
  for (const op of ops) forwardSteps(op, s);
  return s;
}

/**
 * Partial fine-tuning's backward from d latent (written by the host, from the head): the final
 * norm and the last `openBlocks` blocks, walked in reverse; the frozen blocks below get no
 * backward at all (nor does the patch embedding unless every block is open).
 */
export function finetuneBackwardProgram(cfg: MaeConfig, n: number, openBlocks: number, tiling: Tiling = {}): StepWriter {
  const layers = cfg.numHiddenLayers;
  if (!(Number.isInteger(openBlocks) && openBlocks >= 1 && openBlocks <= layers)) throw new KernelError(`open blocks must be 1 to ${layers}, got ${openBlocks}`);
  const ops = encoderOps(cfg, n);
  const s = new StepWriter(cfg, tiling, ops);
  const live = new Live();
  live.add('latent');
  const open = (op: TrainingOp): boolean => {
    if (op.kind === 'encoder_input') return openBlocks === layers;
    const name = op.kind === 'linear' || op.kind === 'layernorm' ? op.name : op.kind === 'attention' ? op.qkv : op.kind === 'gelu' ? op.u : '';
    const block = /^enc\.(\d+)\./.exec(name);
    return !block || Number(block[1]) >= layers - openBlocks;
  };
  for (const op of [...ops].reverse()) if (open(op)) backwardSteps(op, s, live);
  return s;
}
