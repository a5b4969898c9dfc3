/**
 * An independent, plain, scalar float64 backward of the official MAE forward (the one of
 * mae-reference.ts): the gradients of the masked MSE loss on the plain and on the per-patch
 * normalised target with respect to every trainable parameter, and one AdamW step. The oracle for
 * the generated backward kernels: one exported function per op, on batched token-major matrices
 * (x is [rows, dim] row-major, rows = N·T), so that each kernel can be checked against its op.
 *
 * The forward here is the reference forward re-done with a tape (the activations the backward
 * reads); it computes every value in the same order as mae-reference.ts, so its pred and losses are
 * bit-identical to `referenceForward` (asserted by test/reference-grads.test.ts). Written for
 * readability, not speed: one loop per formula.
 *
 * Use: `referenceGradients(cfg, paramsFromWeights(w), pixels, noise, n, maskRatio)` → both losses and
 * `grad` / `gradNormPix`; `hfTensors(cfg, grad)` keys them by the model.safetensors names (the
 * names of grads.safetensors' `grad/*`); `adamwStep(hfTensors(cfg, params), grads, lr)` is one
 * AdamW step, `paramsFromHf` turns its result back into params for the forward.
 */
import { lenKeep as lenKeepOf, shapesOf, type MaeConfig } from '../../src/config.js';
import { InputError } from '../../src/errors.js';
import type { BlockWeights, MaeWeights } from '../../src/weights.js';
import { argsortAscending, erf, gelu, patchify } from './mae-reference.js';

type Vec = ArrayLike<number>;

// ─── parameters and gradients in float64 ─────────────────────────────────────────────────────

/** One block's parameters (or their gradients), named as in BlockWeights. */
export type BlockParams = Record<keyof BlockWeights, Float64Array>;
type TopName = Exclude<keyof MaeWeights, 'naming' | 'encoder' | 'decoder'>;
/** The two fixed sin-cos tables: no gradient, not optimised. */
export type FrozenName = 'posEmbed' | 'decoderPosEmbed';
export type MaeParams = Record<TopName, Float64Array> & { encoder: BlockParams[]; decoder: BlockParams[] };
export type MaeGrads = Record<Exclude<TopName, FrozenName>, Float64Array> & { encoder: BlockParams[]; decoder: BlockParams[] };

const BLOCK_KEYS = ['ln1W', 'ln1B', 'qkvW', 'qkvB', 'projW', 'projB', 'ln2W', 'ln2B', 'fc1W', 'fc1B', 'fc2W', 'fc2B'] as const satisfies readonly (keyof BlockWeights)[];
const TOP_KEYS = [
  'clsToken', 'posEmbed', 'patchW', 'patchB', 'normW', 'normB', 'decoderEmbedW', 'decoderEmbedB', 'maskToken',
  'decoderPosEmbed', 'decoderNormW', 'decoderNormB', 'predW', 'predB',
] as const satisfies readonly TopName[];

const widenBlock = (b: Record<keyof BlockWeights, Vec>): BlockParams =>
  Object.fromEntries(BLOCK_KEYS.map((k) => [k, Float64Array.from(b[k])])) as BlockParams;

/** float32 weights (as loaded) widened to float64 copies. */
export function paramsFromWeights(w: MaeWeights | MaeParams): MaeParams {
  const top = Object.fromEntries(TOP_KEYS.map((k) => [k, Float64Array.from(w[k])])) as Record<TopName, Float64Array>;
  return { ...top, encoder: w.encoder.map(widenBlock), decoder: w.decoder.map(widenBlock) };
}

// ─── Linear: y = x·Wᵀ + b ───────────────────────────────────────────────────────────────────

/** x [rows, inDim], W [outDim, inDim], b [outDim] → y [rows, outDim]. */
export function linearForward(x: Vec, rows: number, inDim: number, W: Vec, b: Vec, outDim: number): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = b[o]!;
      for (let i = 0; i < inDim; i++) s += x[t * inDim + i]! * W[o * inDim + i]!;
      y[t * outDim + o] = s;
    }
  }
  return y;
}

/** dx [rows, inDim] = dy·W, with dy [rows, outDim] and W [outDim, inDim]. */
export function linearBackwardInput(dy: Vec, W: Vec, rows: number, inDim: number, outDim: number): Float64Array {
  const dx = new Float64Array(rows * inDim);
  for (let t = 0; t < rows; t++) {
    for (let i = 0; i < inDim; i++) {
      let s = 0;
      for (let o = 0; o < outDim; o++) s += dy[t * outDim + o]! * W[o * inDim + i]!;
      dx[t * inDim + i] = s;
    }
  }
  return dx;
}

/** dW [outDim, inDim] = Σ_rows dyᵀ·x and db [outDim] = Σ_rows dy: summed over every token of every image. */
export function linearBackwardParams(dy: Vec, x: Vec, rows: number, inDim: number, outDim: number): { dW: Float64Array; db: Float64Array } {
  const dW = new Float64Array(outDim * inDim);
  for (let o = 0; o < outDim; o++) {
    for (let i = 0; i < inDim; i++) {
      let s = 0;
      for (let t = 0; t < rows; t++) s += dy[t * outDim + o]! * x[t * inDim + i]!;
      dW[o * inDim + i] = s;
    }
  }
  const db = new Float64Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let s = 0;
    for (let t = 0; t < rows; t++) s += dy[t * outDim + o]!;
    db[o] = s;
  }
  return { dW, db };
}

/** Both halves of the Linear backward. */
export function linearBackward(dy: Vec, x: Vec, rows: number, inDim: number, W: Vec, outDim: number): { dx: Float64Array; dW: Float64Array; db: Float64Array } {
  return { dx: linearBackwardInput(dy, W, rows, inDim, outDim), ...linearBackwardParams(dy, x, rows, inDim, outDim) };
}

// ─── LayerNorm (biased variance, torch nn.LayerNorm) ─────────────────────────────────────────

/** Forward output y [rows, dim] and what the backward saves: mean [rows] and rstd = 1/√(var + eps) [rows]. */
export interface LayerNormTape {
  readonly y: Float64Array;
  readonly mean: Float64Array;
  readonly rstd: Float64Array;
}

/** x [rows, dim], w, b [dim]. */
export function layerNormForward(x: Vec, rows: number, dim: number, w: Vec, b: Vec, eps: number): LayerNormTape {
  const y = new Float64Array(rows * dim);
  const meanOut = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let t = 0; t < rows; t++) {
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[t * dim + i]!;
    mean /= dim;
    let variance = 0;
    for (let i = 0; i < dim; i++) variance += (x[t * dim + i]! - mean) ** 2;
    variance /= dim;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = (x[t * dim + i]! - mean) * inv * w[i]! + b[i]!;
    meanOut[t] = mean;
    rstd[t] = inv;
  }
  return { y, mean: meanOut, rstd };
}

/**
 * dy, x [rows, dim], the saved mean and rstd [rows], w [dim] → dx [rows, dim], dw, db [dim] (summed
 * over rows). With x̂ = (x − μ)·rstd and ĝ = dy⊙w: dx = (ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂))·rstd,
 * dw = Σ dy⊙x̂, db = Σ dy.
 */
export function layerNormBackward(dy: Vec, x: Vec, mean: Vec, rstd: Vec, rows: number, dim: number, w: Vec): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(rows * dim);
  const dw = new Float64Array(dim);
  const db = new Float64Array(dim);
  const xhat = new Float64Array(dim);
  const g = new Float64Array(dim);
  for (let t = 0; t < rows; t++) {
    for (let i = 0; i < dim; i++) xhat[i] = (x[t * dim + i]! - mean[t]!) * rstd[t]!;
    for (let i = 0; i < dim; i++) g[i] = dy[t * dim + i]! * w[i]!;
    let meanG = 0;
    for (let i = 0; i < dim; i++) meanG += g[i]!;
    meanG /= dim;
    let meanGX = 0;
    for (let i = 0; i < dim; i++) meanGX += g[i]! * xhat[i]!;
    meanGX /= dim;
    for (let i = 0; i < dim; i++) dx[t * dim + i] = (g[i]! - meanG - xhat[i]! * meanGX) * rstd[t]!;
    for (let i = 0; i < dim; i++) dw[i] += dy[t * dim + i]! * xhat[i]!;
    for (let i = 0; i < dim; i++) db[i] += dy[t * dim + i]!;
  }
  return { dx, dw, db };
}

// ─── attention core: softmax((d^-½ q)·kᵀ)·v per image and head ───────────────────────────────

/**
 * qkv [n·T, 3·dim] (per token q | k | v; head h uses columns h·d..(h+1)·d − 1 of each, d = dim/heads)
 * → out [n·T, dim] (heads side by side, before the output projection) and the saved softmax
 * probs [n, heads, T, T] (row i = query token i).
 */
export function attentionForward(qkv: Vec, n: number, tokens: number, dim: number, heads: number): { out: Float64Array; probs: Float64Array } {
  const d = dim / heads;
  const scale = 1 / Math.sqrt(d);
  const out = new Float64Array(n * tokens * dim);
  const probs = new Float64Array(n * heads * tokens * tokens);
  const scores = new Float64Array(tokens);
  const row = (img: number, t: number) => (img * tokens + t) * 3 * dim;
  for (let img = 0; img < n; img++) {
    for (let head = 0; head < heads; head++) {
      const qOff = head * d;
      const kOff = dim + head * d;
      const vOff = 2 * dim + head * d;
      for (let i = 0; i < tokens; i++) {
        let max = -Infinity;
        for (let j = 0; j < tokens; j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += qkv[row(img, i) + qOff + c]! * qkv[row(img, j) + kOff + c]!;
          scores[j] = s * scale;
          max = Math.max(max, scores[j]!);
        }
        let total = 0;
        for (let j = 0; j < tokens; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          total += scores[j]!;
        }
        // Σ e·v / total, as mae-reference.ts (bit-identical output); the tape keeps e / total.
        for (let c = 0; c < d; c++) {
          let s = 0;
          for (let j = 0; j < tokens; j++) s += scores[j]! * qkv[row(img, j) + vOff + c]!;
          out[(img * tokens + i) * dim + head * d + c] = s / total;
        }
        const p = ((img * heads + head) * tokens + i) * tokens;
        for (let j = 0; j < tokens; j++) probs[p + j] = scores[j]! / total;
      }
    }
  }
  return { out, probs };
}

/**
 * dOut [n·T, dim], qkv [n·T, 3·dim] and probs A [n, heads, T, T] from the forward → dqkv [n·T, 3·dim].
 * Per image and head: dV = Aᵀ·dO, dA = dO·Vᵀ, dS = A ⊙ (dA − rowsum(dA ⊙ A)),
 * dQ = d^-½·dS·K, dK = d^-½·dSᵀ·Q.
 */
export function attentionBackward(dOut: Vec, qkv: Vec, probs: Vec, n: number, tokens: number, dim: number, heads: number): Float64Array {
  const d = dim / heads;
  const scale = 1 / Math.sqrt(d);
  const dqkv = new Float64Array(n * tokens * 3 * dim);
  const dA = new Float64Array(tokens * tokens);
  const dS = new Float64Array(tokens * tokens);
  const row = (img: number, t: number) => (img * tokens + t) * 3 * dim;
  const outRow = (img: number, t: number) => (img * tokens + t) * dim;
  for (let img = 0; img < n; img++) {
    for (let head = 0; head < heads; head++) {
      const qOff = head * d;
      const kOff = dim + head * d;
      const vOff = 2 * dim + head * d;
      const A = (i: number, j: number) => probs[((img * heads + head) * tokens + i) * tokens + j]!;
      // dV[j, c] = Σ_i A[i, j]·dO[i, c]
      for (let j = 0; j < tokens; j++) {
        for (let c = 0; c < d; c++) {
          let s = 0;
          for (let i = 0; i < tokens; i++) s += A(i, j) * dOut[outRow(img, i) + head * d + c]!;
          dqkv[row(img, j) + vOff + c] = s;
        }
      }
      // dA[i, j] = Σ_c dO[i, c]·V[j, c]
      for (let i = 0; i < tokens; i++) {
        for (let j = 0; j < tokens; j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += dOut[outRow(img, i) + head * d + c]! * qkv[row(img, j) + vOff + c]!;
          dA[i * tokens + j] = s;
        }
      }
      // dS = A ⊙ (dA − rowsum(dA ⊙ A))
      for (let i = 0; i < tokens; i++) {
        let rowsum = 0;
        for (let j = 0; j < tokens; j++) rowsum += dA[i * tokens + j]! * A(i, j);
        for (let j = 0; j < tokens; j++) dS[i * tokens + j] = A(i, j) * (dA[i * tokens + j]! - rowsum);
      }
      // dQ[i, c] = d^-½·Σ_j dS[i, j]·K[j, c]
      for (let i = 0; i < tokens; i++) {
        for (let c = 0; c < d; c++) {
          let s = 0;
          for (let j = 0; j < tokens; j++) s += dS[i * tokens + j]! * qkv[row(img, j) + kOff + c]!;
          dqkv[row(img, i) + qOff + c] = scale * s;
        }
      }
      // dK[j, c] = d^-½·Σ_i dS[i, j]·Q[i, c]
      for (let j = 0; j < tokens; j++) {
        for (let c = 0; c < d; c++) {
          let s = 0;
          for (let i = 0; i < tokens; i++) s += dS[i * tokens + j]! * qkv[row(img, i) + qOff + c]!;
          dqkv[row(img, j) + kOff + c] = scale * s;
        }
      }
    }
  }
  return dqkv;
}

// ─── GELU (exact erf form) ───────────────────────────────────────────────────────────────────

/** d/dx [x·Φ(x)] = Φ(x) + x·φ(x). */
export function geluDerivative(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

/** Elementwise on any shape: u is the pre-activation. */
export function geluForward(u: Float64Array): Float64Array {
  return u.map(gelu);
}

/** du = dy ⊙ GELU'(u), elementwise; u is the saved pre-activation (fc1's output). */
export function geluBackward(dy: Vec, u: Vec, derivative: (x: number) => number = geluDerivative): Float64Array {
  const du = new Float64Array(u.length);
  for (let i = 0; i < u.length; i++) du[i] = dy[i]! * derivative(u[i]!);
  return du;
}

// ─── the loss ────────────────────────────────────────────────────────────────────────────────

/** Per-patch normalised target: (t − mean)/√(var + 1e-6) per patch of target [rows, P], var unbiased (torch.var). */
export function normPixTarget(target: Vec, rows: number, P: number): Float64Array {
  const out = new Float64Array(rows * P);
  for (let l = 0; l < rows; l++) {
    let mean = 0;
    for (let k = 0; k < P; k++) mean += target[l * P + k]!;
    mean /= P;
    let variance = 0;
    for (let k = 0; k < P; k++) variance += (target[l * P + k]! - mean) ** 2;
    variance /= P - 1;
    for (let k = 0; k < P; k++) out[l * P + k] = (target[l * P + k]! - mean) / Math.sqrt(variance + 1e-6);
  }
  return out;
}

/**
 * Σ_patches weight·mean_k (pred − target)² / Σ weight, pooled over the batch. pred, target [rows, P],
 * weight [rows]: the mask (1 = removed, models_mae.py) or all ones (the loss on all patches).
 */
export function maskedMseLoss(pred: Vec, target: Vec, weight: Vec, rows: number, P: number): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < rows; i++) {
    let mse = 0;
    for (let k = 0; k < P; k++) mse += (pred[i * P + k]! - target[i * P + k]!) ** 2;
    num += (mse / P) * weight[i]!;
    den += weight[i]!;
  }
  return num / den;
}

/** d loss / d pred [rows, P] = 2·(pred − target)·weight[row] / (P·Σ weight); the target is a constant. */
export function lossBackward(pred: Vec, target: Vec, weight: Vec, rows: number, P: number): Float64Array {
  let den = 0;
  for (let i = 0; i < rows; i++) den += weight[i]!;
  const dPred = new Float64Array(rows * P);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < P; k++) dPred[i * P + k] = (2 * (pred[i * P + k]! - target[i * P + k]!) * weight[i]!) / (P * den);
  }
  return dPred;
}

// ─── patch embedding, masking, unshuffle, cls ────────────────────────────────────────────────

/** im2col of pixels [n, C, H, W]: patches [n·L, C·p·p], each in the conv weight's (c, p, q) order; patch l = row·grid + col. */
export function patchesCpq(cfg: MaeConfig, pixels: Float32Array, n: number): Float64Array {
  const { grid, numPatches: L } = shapesOf(cfg);
  const { numChannels: C, patchSize: p, imageSize: H } = cfg;
  const cpp = C * p * p;
  const out = new Float64Array(n * L * cpp);
  for (let img = 0; img < n; img++) {
    for (let row = 0; row < grid; row++) {
      for (let col = 0; col < grid; col++) {
        for (let c = 0; c < C; c++) {
          for (let py = 0; py < p; py++) {
            for (let px = 0; px < p; px++) {
              out[(img * L + row * grid + col) * cpp + (c * p + py) * p + px] = pixels[((img * C + c) * H + row * p + py) * H + col * p + px]!;
            }
          }
        }
      }
    }
  }
  return out;
}

/** The conv as a Linear on patchesCpq: dEmbeds [rows = n·L, D], patches [rows, C·p·p] → dW [D, C·p·p] ((c, p, q) order), db [D]. */
export function patchEmbedBackward(dEmbeds: Vec, patches: Vec, rows: number, cpp: number, D: number): { dW: Float64Array; db: Float64Array } {
  return linearBackwardParams(dEmbeds, patches, rows, cpp, D);
}

/**
 * Encoder input x0 [n·(1+keep), D]: row 0 of image i is cls + pos[0]; row 1+t is
 * embeds[i, idsKeep[i, t]] + pos[1 + idsKeep[i, t]] (position rows are added before the gather).
 * embeds [n·L, D], idsKeep [n, keep], posEmbed [(1+L), D].
 */
export function encoderInputForward(embeds: Vec, clsToken: Vec, posEmbed: Vec, idsKeep: Vec, n: number, L: number, keep: number, D: number): Float64Array {
  const x = new Float64Array(n * (1 + keep) * D);
  for (let img = 0; img < n; img++) {
    const base = img * (1 + keep) * D;
    for (let i = 0; i < D; i++) x[base + i] = clsToken[i]! + posEmbed[i]!;
    for (let t = 0; t < keep; t++) {
      const l = idsKeep[img * keep + t]!;
      for (let i = 0; i < D; i++) x[base + (1 + t) * D + i] = embeds[(img * L + l) * D + i]! + posEmbed[(1 + l) * D + i]!;
    }
  }
  return x;
}

/** dx0 [n·(1+keep), D] → dCls [D] (summed over images) and dEmbeds [n·L, D]: a scatter, exactly 0 at removed patches. */
export function encoderInputBackward(dx0: Vec, idsKeep: Vec, n: number, L: number, keep: number, D: number): { dCls: Float64Array; dEmbeds: Float64Array } {
  const dCls = new Float64Array(D);
  const dEmbeds = new Float64Array(n * L * D);
  for (let img = 0; img < n; img++) {
    const base = img * (1 + keep) * D;
    for (let i = 0; i < D; i++) dCls[i] += dx0[base + i]!;
    for (let t = 0; t < keep; t++) {
      const l = idsKeep[img * keep + t]!;
      for (let i = 0; i < D; i++) dEmbeds[(img * L + l) * D + i] = dx0[base + (1 + t) * D + i]!;
    }
  }
  return { dCls, dEmbeds };
}

/**
 * Decoder input y0 [n·(1+L), Dd] from decoder_embed's output e [n·(1+keep), Dd]: row 0 = e[i, 0] +
 * dpos[0]; row 1+l = (idsRestore[i, l] < keep ? e[i, 1 + idsRestore[i, l]] : maskToken) + dpos[1+l].
 */
export function unshuffleForward(e: Vec, maskToken: Vec, decoderPosEmbed: Vec, idsRestore: Vec, n: number, L: number, keep: number, Dd: number): Float64Array {
  const y = new Float64Array(n * (1 + L) * Dd);
  for (let img = 0; img < n; img++) {
    const src = img * (1 + keep) * Dd;
    const dst = img * (1 + L) * Dd;
    for (let i = 0; i < Dd; i++) y[dst + i] = e[src + i]! + decoderPosEmbed[i]!;
    for (let l = 0; l < L; l++) {
      const j = idsRestore[img * L + l]!;
      for (let i = 0; i < Dd; i++) y[dst + (1 + l) * Dd + i] = (j < keep ? e[src + (1 + j) * Dd + i]! : maskToken[i]!) + decoderPosEmbed[(1 + l) * Dd + i]!;
    }
  }
  return y;
}

/** dy0 [n·(1+L), Dd] → de [n·(1+keep), Dd] (a scatter; cls row included) and dMaskToken [Dd] (summed over every removed copy). */
export function unshuffleBackward(dy0: Vec, idsRestore: Vec, n: number, L: number, keep: number, Dd: number): { dEmbedded: Float64Array; dMaskToken: Float64Array } {
  const de = new Float64Array(n * (1 + keep) * Dd);
  const dMask = new Float64Array(Dd);
  for (let img = 0; img < n; img++) {
    const dst = img * (1 + keep) * Dd;
    const src = img * (1 + L) * Dd;
    for (let i = 0; i < Dd; i++) de[dst + i] = dy0[src + i]!;
    for (let l = 0; l < L; l++) {
      const j = idsRestore[img * L + l]!;
      for (let i = 0; i < Dd; i++) {
        if (j < keep) de[dst + (1 + j) * Dd + i] += dy0[src + (1 + l) * Dd + i]!;
        else dMask[i] += dy0[src + (1 + l) * Dd + i]!;
      }
    }
  }
  return { dEmbedded: de, dMaskToken: dMask };
}

/** x [n·(1+L), dim] → [n·L, dim] without each image's token 0 (cls), as `x[:, 1:]`. */
export function dropCls(x: Vec, n: number, L: number, dim: number): Float64Array {
  const out = new Float64Array(n * L * dim);
  for (let img = 0; img < n; img++) {
    for (let k = 0; k < L * dim; k++) out[img * L * dim + k] = x[(img * (1 + L) + 1) * dim + k]!;
  }
  return out;
}

/** Its backward: dy [n·L, dim] → [n·(1+L), dim] with zeros at the cls rows. */
export function dropClsBackward(dy: Vec, n: number, L: number, dim: number): Float64Array {
  const out = new Float64Array(n * (1 + L) * dim);
  for (let img = 0; img < n; img++) {
    for (let k = 0; k < L * dim; k++) out[(img * (1 + L) + 1) * dim + k] = dy[img * L * dim + k]!;
  }
  return out;
}

// ─── the timm Block ──────────────────────────────────────────────────────────────────────────

/** Everything a block's backward reads, for n images of T tokens each. */
export interface BlockTape {
  readonly x: Float64Array; // [n·T, dim] block input
  readonly ln1: LayerNormTape;
  readonly qkv: Float64Array; // [n·T, 3·dim]
  readonly probs: Float64Array; // [n, heads, T, T]
  readonly attnOut: Float64Array; // [n·T, dim] before proj
  readonly x1: Float64Array; // [n·T, dim] after the attention residual
  readonly ln2: LayerNormTape;
  readonly u: Float64Array; // [n·T, hidden] fc1 output (GELU pre-activation)
  readonly g: Float64Array; // [n·T, hidden] GELU output
  readonly y: Float64Array; // [n·T, dim] block output
}

/** The shape of one stack of blocks. */
interface StackShape {
  readonly n: number;
  readonly tokens: number;
  readonly dim: number;
  readonly heads: number;
  readonly hidden: number;
  readonly eps: number;
}

/** Pre-norm: x1 = x + proj(attn(LN1(x))), y = x1 + fc2(gelu(fc1(LN2(x1)))). */
export function blockForward(x: Float64Array, s: StackShape, blk: BlockParams): BlockTape {
  const rows = s.n * s.tokens;
  const ln1 = layerNormForward(x, rows, s.dim, blk.ln1W, blk.ln1B, s.eps);
  const qkv = linearForward(ln1.y, rows, s.dim, blk.qkvW, blk.qkvB, 3 * s.dim);
  const { out: attnOut, probs } = attentionForward(qkv, s.n, s.tokens, s.dim, s.heads);
  const a = linearForward(attnOut, rows, s.dim, blk.projW, blk.projB, s.dim);
  const x1 = x.map((v, i) => v + a[i]!);
  const ln2 = layerNormForward(x1, rows, s.dim, blk.ln2W, blk.ln2B, s.eps);
  const u = linearForward(ln2.y, rows, s.dim, blk.fc1W, blk.fc1B, s.hidden);
  const g = geluForward(u);
  const m = linearForward(g, rows, s.hidden, blk.fc2W, blk.fc2B, s.dim);
  const y = x1.map((v, i) => v + m[i]!);
  return { x, ln1, qkv, probs, attnOut, x1, ln2, u, g, y };
}

/** The op backwards the model backward uses; replaceable only to show that a wrong one is caught. */
export interface BackwardOps {
  readonly geluDerivative: (x: number) => number;
  readonly attentionBackward: typeof attentionBackward;
  readonly layerNormBackward: typeof layerNormBackward;
}
export const EXACT_OPS: BackwardOps = { geluDerivative, attentionBackward, layerNormBackward };

const add = (a: Float64Array, b: Vec): Float64Array => a.map((v, i) => v + b[i]!);

/** dy [n·T, dim] → dx [n·T, dim] and the block's parameter gradients. */
export function blockBackward(dy: Float64Array, tape: BlockTape, s: StackShape, blk: BlockParams, ops: BackwardOps = EXACT_OPS): { dx: Float64Array; grads: BlockParams } {
  const rows = s.n * s.tokens;
  // MLP branch: y = x1 + m.
  const fc2 = linearBackward(dy, tape.g, rows, s.hidden, blk.fc2W, s.dim);
  const du = geluBackward(fc2.dx, tape.u, ops.geluDerivative);
  const fc1 = linearBackward(du, tape.ln2.y, rows, s.dim, blk.fc1W, s.hidden);
  const ln2 = ops.layerNormBackward(fc1.dx, tape.x1, tape.ln2.mean, tape.ln2.rstd, rows, s.dim, blk.ln2W);
  const dx1 = add(dy, ln2.dx);
  // Attention branch: x1 = x + a.
  const proj = linearBackward(dx1, tape.attnOut, rows, s.dim, blk.projW, s.dim);
  const dqkv = ops.attentionBackward(proj.dx, tape.qkv, tape.probs, s.n, s.tokens, s.dim, s.heads);
  const qkv = linearBackward(dqkv, tape.ln1.y, rows, s.dim, blk.qkvW, 3 * s.dim);
  const ln1 = ops.layerNormBackward(qkv.dx, tape.x, tape.ln1.mean, tape.ln1.rstd, rows, s.dim, blk.ln1W);
  const dx = add(dx1, ln1.dx);
  return {
    dx,
    grads: {
      ln1W: ln1.dw, ln1B: ln1.db, qkvW: qkv.dW, qkvB: qkv.db, projW: proj.dW, projB: proj.db,
      ln2W: ln2.dw, ln2B: ln2.db, fc1W: fc1.dW, fc1B: fc1.db, fc2W: fc2.dW, fc2B: fc2.db,
    },
  };
}

// ─── the whole model ─────────────────────────────────────────────────────────────────────────

/** The forward's results and everything the backward reads. */
export interface ForwardTape {
  readonly n: number;
  readonly lenKeep: number;
  readonly idsKeep: Int32Array; // [n, keep]
  readonly idsRestore: Int32Array; // [n, L]
  readonly mask: Float64Array; // [n, L]: 1 = removed
  readonly patches: Float64Array; // [n·L, C·p·p] (c, p, q)
  readonly encoder: BlockTape[];
  readonly encoderNormIn: Float64Array; // [n·(1+keep), D]
  readonly encoderNorm: LayerNormTape; // y = latent
  readonly embedded: Float64Array; // [n·(1+keep), Dd] decoder_embed output
  readonly decoder: BlockTape[];
  readonly decoderNormIn: Float64Array; // [n·(1+L), Dd]
  readonly decoderNorm: LayerNormTape;
  readonly predIn: Float64Array; // [n·L, Dd] decoder_norm output without cls
  readonly pred: Float64Array; // [n·L, P]
  readonly target: Float64Array; // [n·L, P] patchify
  readonly targetNormPix: Float64Array;
}

const encoderShape = (cfg: MaeConfig, n: number, keep: number): StackShape => ({
  n, tokens: 1 + keep, dim: cfg.hiddenSize, heads: cfg.numAttentionHeads, hidden: cfg.intermediateSize, eps: cfg.layerNormEps,
});
const decoderShape = (cfg: MaeConfig, n: number): StackShape => ({
  n, tokens: 1 + shapesOf(cfg).numPatches, dim: cfg.decoderHiddenSize, heads: cfg.decoderNumAttentionHeads, hidden: cfg.decoderIntermediateSize, eps: cfg.layerNormEps,
});

/** The MAE forward (models_mae.py) on n images, masking driven by noise [n, L], keeping the tape. */
export function forwardWithTape(cfg: MaeConfig, p: MaeParams, pixels: Float32Array, noise: Vec, n: number, maskRatio: number): ForwardTape {
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const { hiddenSize: D, decoderHiddenSize: Dd, numChannels: C, patchSize: ps } = cfg;
  if (pixels.length !== n * C * cfg.imageSize ** 2) throw new InputError(`reference backward: pixels has ${pixels.length} values, expected ${n}×${C * cfg.imageSize ** 2}`);
  if (noise.length !== n * L) throw new InputError(`reference backward: noise has ${noise.length} values, expected ${n}×${L}`);
  const keep = lenKeepOf(L, maskRatio);

  const idsKeep = new Int32Array(n * keep);
  const idsRestore = new Int32Array(n * L);
  const mask = new Float64Array(n * L);
  const target = new Float64Array(n * L * P);
  for (let img = 0; img < n; img++) {
    const shuffle = argsortAscending(Array.from({ length: L }, (_, l) => noise[img * L + l]!));
    shuffle.forEach((l, j) => (idsRestore[img * L + l] = j));
    idsKeep.set(shuffle.slice(0, keep), img * keep);
    for (let l = 0; l < L; l++) mask[img * L + l] = idsRestore[img * L + l]! < keep ? 0 : 1;
    target.set(patchify(cfg, pixels, img), img * L * P);
  }

  const patches = patchesCpq(cfg, pixels, n);
  const embeds = linearForward(patches, n * L, C * ps * ps, p.patchW, p.patchB, D);
  let x = encoderInputForward(embeds, p.clsToken, p.posEmbed, idsKeep, n, L, keep, D);
  const encoder: BlockTape[] = [];
  for (const blk of p.encoder) {
    encoder.push(blockForward(x, encoderShape(cfg, n, keep), blk));
    x = encoder.at(-1)!.y;
  }
  const encoderNormIn = x;
  const encoderNorm = layerNormForward(x, n * (1 + keep), D, p.normW, p.normB, cfg.layerNormEps);

  const embedded = linearForward(encoderNorm.y, n * (1 + keep), D, p.decoderEmbedW, p.decoderEmbedB, Dd);
  let y = unshuffleForward(embedded, p.maskToken, p.decoderPosEmbed, idsRestore, n, L, keep, Dd);
  const decoder: BlockTape[] = [];
  for (const blk of p.decoder) {
    decoder.push(blockForward(y, decoderShape(cfg, n), blk));
    y = decoder.at(-1)!.y;
  }
  const decoderNormIn = y;
  const decoderNorm = layerNormForward(y, n * (1 + L), Dd, p.decoderNormW, p.decoderNormB, cfg.layerNormEps);
  const predIn = dropCls(decoderNorm.y, n, L, Dd);
  const pred = linearForward(predIn, n * L, Dd, p.predW, p.predB, P);

  return {
    n, lenKeep: keep, idsKeep, idsRestore, mask, patches, encoder, encoderNormIn, encoderNorm, embedded,
    decoder, decoderNormIn, decoderNorm, predIn, pred, target, targetNormPix: normPixTarget(target, n * L, P),
  };
}

/** Gradients of every trainable parameter from d loss / d pred [n·L, P] and the forward's tape. */
export function backwardFromPred(cfg: MaeConfig, p: MaeParams, tape: ForwardTape, dPred: Float64Array, ops: BackwardOps = EXACT_OPS): MaeGrads {
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const { hiddenSize: D, decoderHiddenSize: Dd, numChannels: C, patchSize: ps } = cfg;
  const { n, lenKeep: keep } = tape;

  const pred = linearBackward(dPred, tape.predIn, n * L, Dd, p.predW, P);
  const decNorm = ops.layerNormBackward(dropClsBackward(pred.dx, n, L, Dd), tape.decoderNormIn, tape.decoderNorm.mean, tape.decoderNorm.rstd, n * (1 + L), Dd, p.decoderNormW);
  let dy = decNorm.dx;
  const decoder: BlockParams[] = new Array(p.decoder.length);
  for (let i = p.decoder.length - 1; i >= 0; i--) {
    const b = blockBackward(dy, tape.decoder[i]!, decoderShape(cfg, n), p.decoder[i]!, ops);
    decoder[i] = b.grads;
    dy = b.dx;
  }
  const unshuffle = unshuffleBackward(dy, tape.idsRestore, n, L, keep, Dd);
  const embed = linearBackward(unshuffle.dEmbedded, tape.encoderNorm.y, n * (1 + keep), D, p.decoderEmbedW, Dd);

  const encNorm = ops.layerNormBackward(embed.dx, tape.encoderNormIn, tape.encoderNorm.mean, tape.encoderNorm.rstd, n * (1 + keep), D, p.normW);
  let dx = encNorm.dx;
  const encoder: BlockParams[] = new Array(p.encoder.length);
  for (let i = p.encoder.length - 1; i >= 0; i--) {
    const b = blockBackward(dx, tape.encoder[i]!, encoderShape(cfg, n, keep), p.encoder[i]!, ops);
    encoder[i] = b.grads;
    dx = b.dx;
  }
  const input = encoderInputBackward(dx, tape.idsKeep, n, L, keep, D);
  const patch = patchEmbedBackward(input.dEmbeds, tape.patches, n * L, C * ps * ps, D);

  return {
    clsToken: input.dCls, patchW: patch.dW, patchB: patch.db, encoder, normW: encNorm.dw, normB: encNorm.db,
    decoderEmbedW: embed.dW, decoderEmbedB: embed.db, maskToken: unshuffle.dMaskToken, decoder,
    decoderNormW: decNorm.dw, decoderNormB: decNorm.db, predW: pred.dW, predB: pred.db,
  };
}

export interface GradientOptions {
  /** The ablation: the loss on every patch (weights all ones) instead of the removed ones. */
  readonly allPatches?: boolean;
  /** Only for showing that a wrong op backward is caught. */
  readonly ops?: BackwardOps;
}

export interface ReferenceGradients {
  readonly tape: ForwardTape;
  readonly loss: number;
  readonly lossNormPix: number;
  /** d loss / d parameter. */
  readonly grad: MaeGrads;
  /** d loss_norm_pix / d parameter (no backward through the target's statistics). */
  readonly gradNormPix: MaeGrads;
}

/** Both losses and their gradients from one forward. */
export function referenceGradients(cfg: MaeConfig, p: MaeParams, pixels: Float32Array, noise: Vec, n: number, maskRatio: number, opts: GradientOptions = {}): ReferenceGradients {
  const tape = forwardWithTape(cfg, p, pixels, noise, n, maskRatio);
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const weight = opts.allPatches ? new Float64Array(n * L).fill(1) : tape.mask;
  const grads = (target: Float64Array) => backwardFromPred(cfg, p, tape, lossBackward(tape.pred, target, weight, n * L, P), opts.ops);
  return {
    tape,
    loss: maskedMseLoss(tape.pred, tape.target, weight, n * L, P),
    lossNormPix: maskedMseLoss(tape.pred, tape.targetNormPix, weight, n * L, P),
    grad: grads(tape.target),
    gradNormPix: grads(tape.targetNormPix),
  };
}

/** Both losses of the forward alone (finite differences, loss after a step). */
export function referenceLosses(cfg: MaeConfig, p: MaeParams, pixels: Float32Array, noise: Vec, n: number, maskRatio: number, allPatches = false): { loss: number; lossNormPix: number } {
  const tape = forwardWithTape(cfg, p, pixels, noise, n, maskRatio);
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const weight = allPatches ? new Float64Array(n * L).fill(1) : tape.mask;
  return { loss: maskedMseLoss(tape.pred, tape.target, weight, n * L, P), lossNormPix: maskedMseLoss(tape.pred, tape.targetNormPix, weight, n * L, P) };
}

// ─── Hugging Face names ──────────────────────────────────────────────────────────────────────

/** A named float64 tensor; `data` may be a view into a MaeParams / MaeGrads array. */
export interface Tensor64 {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

/**
 * The tensors of params or grads under the `model.safetensors` (ViTMAEForPreTraining) names, as
 * views (query/key/value are row blocks of qkv; no q/k/v bias without qkv_bias). The position
 * tables appear only when `t` has them (params, not grads).
 */
export function hfTensors(cfg: MaeConfig, t: MaeGrads & Partial<Pick<MaeParams, FrozenName>>): Record<string, Tensor64> {
  const { numPatches: L, patchDim } = shapesOf(cfg);
  const { hiddenSize: D, decoderHiddenSize: Dd, numChannels: C, patchSize: p } = cfg;
  const out: Record<string, Tensor64> = {};
  const put = (name: string, shape: number[], data: Float64Array) => {
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new InputError(`${name}: ${data.length} values, expected shape [${shape}]`);
    out[name] = { shape, data };
  };
  put('vit.embeddings.cls_token', [1, 1, D], t.clsToken);
  if (t.posEmbed) put('vit.embeddings.position_embeddings', [1, 1 + L, D], t.posEmbed);
  put('vit.embeddings.patch_embeddings.projection.weight', [D, C, p, p], t.patchW);
  put('vit.embeddings.patch_embeddings.projection.bias', [D], t.patchB);
  const block = (prefix: string, b: BlockParams, dim: number, hidden: number) => {
    put(`${prefix}.layernorm_before.weight`, [dim], b.ln1W);
    put(`${prefix}.layernorm_before.bias`, [dim], b.ln1B);
    (['query', 'key', 'value'] as const).forEach((part, j) => {
      put(`${prefix}.attention.attention.${part}.weight`, [dim, dim], b.qkvW.subarray(j * dim * dim, (j + 1) * dim * dim));
      if (cfg.qkvBias) put(`${prefix}.attention.attention.${part}.bias`, [dim], b.qkvB.subarray(j * dim, (j + 1) * dim));
    });
    put(`${prefix}.attention.output.dense.weight`, [dim, dim], b.projW);
    put(`${prefix}.attention.output.dense.bias`, [dim], b.projB);
    put(`${prefix}.layernorm_after.weight`, [dim], b.ln2W);
    put(`${prefix}.layernorm_after.bias`, [dim], b.ln2B);
    put(`${prefix}.intermediate.dense.weight`, [hidden, dim], b.fc1W);
    put(`${prefix}.intermediate.dense.bias`, [hidden], b.fc1B);
    put(`${prefix}.output.dense.weight`, [dim, hidden], b.fc2W);
    put(`${prefix}.output.dense.bias`, [dim], b.fc2B);
  };
  t.encoder.forEach((b, i) => block(`vit.encoder.layer.${i}`, b, D, cfg.intermediateSize));
  put('vit.layernorm.weight', [D], t.normW);
  put('vit.layernorm.bias', [D], t.normB);
  put('decoder.decoder_embed.weight', [Dd, D], t.decoderEmbedW);
  put('decoder.decoder_embed.bias', [Dd], t.decoderEmbedB);
  put('decoder.mask_token', [1, 1, Dd], t.maskToken);
  if (t.decoderPosEmbed) put('decoder.decoder_pos_embed', [1, 1 + L, Dd], t.decoderPosEmbed);
  t.decoder.forEach((b, i) => block(`decoder.decoder_layers.${i}`, b, Dd, cfg.decoderIntermediateSize));
  put('decoder.decoder_norm.weight', [Dd], t.decoderNormW);
  put('decoder.decoder_norm.bias', [Dd], t.decoderNormB);
  put('decoder.decoder_pred.weight', [patchDim, Dd], t.predW);
  put('decoder.decoder_pred.bias', [patchDim], t.predB);
  return out;
}

/** Params with the values of `named` (HF names; every trainable tensor and both tables required). */
export function paramsFromHf(cfg: MaeConfig, like: MaeParams, named: Record<string, Tensor64>): MaeParams {
  const p = paramsFromWeights(like);
  for (const [name, view] of Object.entries(hfTensors(cfg, p))) {
    const src = named[name];
    if (!src) throw new InputError(`paramsFromHf: no tensor '${name}'`);
    if (src.data.length !== view.data.length) throw new InputError(`paramsFromHf: '${name}' has ${src.data.length} values, expected ${view.data.length}`);
    view.data.set(src.data);
  }
  return p;
}

// ─── AdamW ───────────────────────────────────────────────────────────────────────────────────

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

/**
 * timm 0.3.2 `add_weight_decay` as MAE's main_pretrain.py calls it: no decay for 1-D tensors or
 * names ending in `.bias` (biases, LayerNorm); decay for everything else, cls_token and mask_token
 * ([1,1,D]) included.
 */
export function decays(name: string, shape: readonly number[]): boolean {
  return !(shape.length === 1 || name.endsWith('.bias'));
}

/**
 * One torch 1.13 AdamW step from fresh state (t = 1, m = v = 0), in float64:
 * p ← p·(1 − lr·wd), m = (1−β1)·g, v = (1−β2)·g², p ← p − lr/(1−β1) · m / (√v/√(1−β2) + eps).
 * Parameters without a gradient (the frozen position tables) come back unchanged.
 */
export function adamwStep(params: Record<string, Tensor64>, grads: Record<string, Vec>, lr: number, opts: AdamWOptions = {}): Record<string, Tensor64> {
  const { beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weightDecay = 0.05 } = opts;
  for (const name of Object.keys(grads)) if (!(name in params)) throw new InputError(`adamwStep: gradient '${name}' has no parameter`);
  const out: Record<string, Tensor64> = {};
  for (const [name, { shape, data }] of Object.entries(params)) {
    const g = grads[name];
    if (!g) {
      out[name] = { shape, data: data.slice() };
      continue;
    }
    if (g.length !== data.length) throw new InputError(`adamwStep: gradient '${name}' has ${g.length} values, parameter ${data.length}`);
    const wd = decays(name, shape) ? weightDecay : 0;
    const bias1 = 1 - beta1; // 1 − β1^t at t = 1
    const bias2 = 1 - beta2;
    const next = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const m = (1 - beta1) * g[i]!;
      const v = (1 - beta2) * g[i]! * g[i]!;
      const decayed = data[i]! * (1 - lr * wd);
      next[i] = decayed - (lr / bias1) * (m / (Math.sqrt(v) / Math.sqrt(bias2) + eps));
    }
    out[name] = { shape, data: next };
  }
  return out;
}
