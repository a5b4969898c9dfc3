/**
 * An independent, plain, scalar float64 implementation of the official MAE forward
 * (facebookresearch/mae models_mae.py on timm blocks), used by tests as the oracle for the
 * optimised engine on arbitrary configs. Written for readability, not speed: one loop per formula.
 *
 * Also here, for tests that need weights for a random config: `randomWeights`, and `toHfTensors` /
 * `toOriginalTensors`, which lay MaeWeights out under either naming for writing safetensors files.
 */
import { lenKeep as lenKeepOf, shapesOf, type MaeConfig } from '../../src/config.js';
import { sincos2dPositionEmbedding } from '../../src/pos-embed.js';
import type { TensorToWrite } from '../../src/safetensors.js';
import type { BlockWeights, MaeWeights } from '../../src/weights.js';
import { uniform } from '../../src/random.js';

type Weights = ArrayLike<number>;

// ─── scalar math ─────────────────────────────────────────────────────────────────────────────

/**
 * erf in float64, to ~1e-15 relative. Uses the all-positive series
 * erf(x) = 2/√π · e^(−x²) · Σ_n 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), which has no cancellation;
 * beyond |x| = 6, erf is ±1 to double precision (erfc(6) ≈ 2e-17).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  let term = ax;
  let sum = ax;
  for (let n = 0; n < 1000; n++) {
    term *= (2 * ax * ax) / (2 * n + 3);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  const value = (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
  return x < 0 ? -value : value;
}

/** Exact (erf) GELU, torch `nn.GELU()`. */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

// ─── layers on token matrices: x is [T, dim] row-major ───────────────────────────────────────

/** y = x·Wᵀ + b with W [out, in]. */
function linear(x: Float64Array, tokens: number, inDim: number, W: Weights, b: Weights, outDim: number): Float64Array {
  const y = new Float64Array(tokens * outDim);
  for (let t = 0; t < tokens; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = b[o]!;
      for (let i = 0; i < inDim; i++) s += x[t * inDim + i]! * W[o * inDim + i]!;
      y[t * outDim + o] = s;
    }
  }
  return y;
}

/** LayerNorm over the last dim, biased variance. */
function layerNorm(x: Float64Array, tokens: number, dim: number, w: Weights, b: Weights, eps: number): Float64Array {
  const y = new Float64Array(tokens * dim);
  for (let t = 0; t < tokens; t++) {
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[t * dim + i]!;
    mean /= dim;
    let variance = 0;
    for (let i = 0; i < dim; i++) variance += (x[t * dim + i]! - mean) ** 2;
    variance /= dim;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = (x[t * dim + i]! - mean) * inv * w[i]! + b[i]!;
  }
  return y;
}

/** Multi-head self-attention on LN1's output: qkv, per-head softmax(q·kᵀ/√d)·v, proj. */
function attention(h: Float64Array, tokens: number, dim: number, heads: number, blk: BlockWeights): Float64Array {
  const qkv = linear(h, tokens, dim, blk.qkvW, blk.qkvB, 3 * dim); // per token: q | k | v
  const d = dim / heads;
  const scale = 1 / Math.sqrt(d);
  const out = new Float64Array(tokens * dim);
  const scores = new Float64Array(tokens);
  for (let head = 0; head < heads; head++) {
    const qOff = head * d;
    const kOff = dim + head * d;
    const vOff = 2 * dim + head * d;
    for (let i = 0; i < tokens; i++) {
      let max = -Infinity;
      for (let j = 0; j < tokens; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += qkv[i * 3 * dim + qOff + c]! * qkv[j * 3 * dim + kOff + c]!;
        scores[j] = s * scale;
        max = Math.max(max, scores[j]!);
      }
      let total = 0;
      for (let j = 0; j < tokens; j++) {
        scores[j] = Math.exp(scores[j]! - max);
        total += scores[j]!;
      }
      for (let c = 0; c < d; c++) {
        let s = 0;
        for (let j = 0; j < tokens; j++) s += scores[j]! * qkv[j * 3 * dim + vOff + c]!;
        out[i * dim + head * d + c] = s / total;
      }
    }
  }
  return linear(out, tokens, dim, blk.projW, blk.projB, dim);
}

/** timm Block, pre-norm: x + attn(LN1(x)), then x + fc2(gelu(fc1(LN2(x)))). */
function block(x: Float64Array, tokens: number, dim: number, heads: number, hidden: number, blk: BlockWeights, eps: number): Float64Array {
  const a = attention(layerNorm(x, tokens, dim, blk.ln1W, blk.ln1B, eps), tokens, dim, heads, blk);
  const x1 = x.map((v, i) => v + a[i]!);
  const h = linear(layerNorm(x1, tokens, dim, blk.ln2W, blk.ln2B, eps), tokens, dim, blk.fc1W, blk.fc1B, hidden).map(gelu);
  const m = linear(h, tokens, hidden, blk.fc2W, blk.fc2B, dim);
  return x1.map((v, i) => v + m[i]!);
}

// ─── image ↔ patches ─────────────────────────────────────────────────────────────────────────

/** Conv2d(kernel = stride = p) of image `img`: [L, D]; the weight is [D, C, p, p], patch l = row·grid + col. */
function patchEmbed(cfg: MaeConfig, w: MaeWeights, pixels: Float32Array, img: number): Float64Array {
  const { grid, numPatches } = shapesOf(cfg);
  const { numChannels: C, patchSize: p, imageSize: H, hiddenSize: D } = cfg;
  const out = new Float64Array(numPatches * D);
  for (let row = 0; row < grid; row++) {
    for (let col = 0; col < grid; col++) {
      const l = row * grid + col;
      for (let d = 0; d < D; d++) {
        let s = w.patchB[d]!;
        for (let c = 0; c < C; c++) {
          for (let py = 0; py < p; py++) {
            for (let px = 0; px < p; px++) {
              const pixel = pixels[((img * C + c) * H + row * p + py) * H + col * p + px]!;
              s += w.patchW[((d * C + c) * p + py) * p + px]! * pixel;
            }
          }
        }
        out[l * D + d] = s;
      }
    }
  }
  return out;
}

/** models_mae.py `patchify`: [L, p·p·C] with each patch in (p, q, c) order, c fastest. */
export function patchify(cfg: MaeConfig, pixels: Float32Array, img: number): Float64Array {
  const { grid, numPatches, patchDim } = shapesOf(cfg);
  const { numChannels: C, patchSize: p, imageSize: H } = cfg;
  const out = new Float64Array(numPatches * patchDim);
  for (let row = 0; row < grid; row++) {
    for (let col = 0; col < grid; col++) {
      for (let py = 0; py < p; py++) {
        for (let px = 0; px < p; px++) {
          for (let c = 0; c < C; c++) {
            out[(row * grid + col) * patchDim + (py * p + px) * C + c] = pixels[((img * C + c) * H + row * p + py) * H + col * p + px]!;
          }
        }
      }
    }
  }
  return out;
}

// ─── encoder / decoder of one image ─────────────────────────────────────────────────────────

/** Encoder on the patches `keep` (in that order), after cls: [1 + keep.length, D] after the final norm. */
function encodeImage(cfg: MaeConfig, w: MaeWeights, embeds: Float64Array, keep: ArrayLike<number>): Float64Array {
  const D = cfg.hiddenSize;
  const tokens = 1 + keep.length;
  let x: Float64Array = new Float64Array(tokens * D);
  for (let i = 0; i < D; i++) x[i] = w.clsToken[i]! + w.posEmbed[i]!;
  for (let t = 0; t < keep.length; t++) {
    const l = keep[t]!;
    // Position rows are added before masking: patch l uses row l + 1.
    for (let i = 0; i < D; i++) x[(1 + t) * D + i] = embeds[l * D + i]! + w.posEmbed[(1 + l) * D + i]!;
  }
  for (const blk of w.encoder) x = block(x, tokens, D, cfg.numAttentionHeads, cfg.intermediateSize, blk, cfg.layerNormEps);
  return layerNorm(x, tokens, D, w.normW, w.normB, cfg.layerNormEps);
}

/** Decoder on one image's latent [1 + keep, D]: returns pred [L, p·p·C] in original patch order. */
function decodeImage(cfg: MaeConfig, w: MaeWeights, latent: Float64Array, idsRestore: ArrayLike<number>, keep: number): Float64Array {
  const { numPatches: L, patchDim } = shapesOf(cfg);
  const D = cfg.hiddenSize;
  const Dd = cfg.decoderHiddenSize;
  const embedded = linear(latent, 1 + keep, D, w.decoderEmbedW, w.decoderEmbedB, Dd); // cls included
  // Shuffled sequence (cls excluded): visible tokens, then L − keep mask tokens; unshuffle with ids_restore.
  const shuffledToken = (j: number, i: number) => (j < keep ? embedded[(1 + j) * Dd + i]! : w.maskToken[i]!);
  let x: Float64Array = new Float64Array((1 + L) * Dd);
  for (let i = 0; i < Dd; i++) x[i] = embedded[i]! + w.decoderPosEmbed[i]!;
  for (let l = 0; l < L; l++) {
    for (let i = 0; i < Dd; i++) x[(1 + l) * Dd + i] = shuffledToken(idsRestore[l]!, i) + w.decoderPosEmbed[(1 + l) * Dd + i]!;
  }
  for (const blk of w.decoder) x = block(x, 1 + L, Dd, cfg.decoderNumAttentionHeads, cfg.decoderIntermediateSize, blk, cfg.layerNormEps);
  x = layerNorm(x, 1 + L, Dd, w.decoderNormW, w.decoderNormB, cfg.layerNormEps);
  return linear(x.subarray(Dd), L, Dd, w.predW, w.predB, patchDim); // token 0 (cls) dropped
}

/** Ascending argsort of one noise row, ties by index (stable): smallest noise is kept first. */
export function argsortAscending(values: ArrayLike<number>): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]! || a - b);
}

// ─── public entry points ─────────────────────────────────────────────────────────────────────

export interface ReferenceResult {
  readonly lenKeep: number;
  /** [N, L, D]: conv output before the position embedding. */
  readonly patchEmbeds: Float64Array;
  /** [N, 1 + keep, D]: encoder output after the final norm; token 0 is cls. */
  readonly latent: Float64Array;
  /** [N, L, p·p·C], original patch order. */
  readonly pred: Float64Array;
  /** [N, L]: 0 kept, 1 removed. */
  readonly mask: Float64Array;
  readonly idsShuffle: Int32Array; // [N, L]
  readonly idsRestore: Int32Array; // [N, L]
  readonly idsKeep: Int32Array; // [N, keep]
  readonly targetPatches: Float64Array; // [N, L, p·p·C]
  readonly targetPatchesNormPix: Float64Array;
  /** Mean over removed patches of the per-patch MSE; NaN when nothing is removed (0/0, as torch). */
  readonly loss: number;
  readonly lossNormPix: number;
}

function checkInputs(cfg: MaeConfig, pixels: Float32Array, n: number, noise?: Float32Array): void {
  const { numPatches } = shapesOf(cfg);
  const perImage = cfg.numChannels * cfg.imageSize * cfg.imageSize;
  if (pixels.length !== n * perImage) throw new Error(`reference: pixels has ${pixels.length} values, expected ${n}×${perImage}`);
  if (noise && noise.length !== n * numPatches) throw new Error(`reference: noise has ${noise.length} values, expected ${n}×${numPatches}`);
}

/** The full MAE forward (models_mae.py `forward`), masking driven by the given noise [N, L]. */
export function referenceForward(cfg: MaeConfig, w: MaeWeights, pixels: Float32Array, noise: Float32Array, n: number, maskRatio: number): ReferenceResult {
  checkInputs(cfg, pixels, n, noise);
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const D = cfg.hiddenSize;
  const keep = lenKeepOf(L, maskRatio);
  const patchEmbeds = new Float64Array(n * L * D);
  const latent = new Float64Array(n * (1 + keep) * D);
  const pred = new Float64Array(n * L * P);
  const mask = new Float64Array(n * L);
  const idsShuffle = new Int32Array(n * L);
  const idsRestore = new Int32Array(n * L);
  const idsKeep = new Int32Array(n * keep);
  const targetPatches = new Float64Array(n * L * P);
  const targetPatchesNormPix = new Float64Array(n * L * P);

  for (let img = 0; img < n; img++) {
    const shuffle = argsortAscending(noise.subarray(img * L, (img + 1) * L));
    const restore = new Int32Array(L);
    shuffle.forEach((l, j) => (restore[l] = j)); // argsort of the argsort
    idsShuffle.set(shuffle, img * L);
    idsRestore.set(restore, img * L);
    idsKeep.set(shuffle.slice(0, keep), img * keep);
    for (let l = 0; l < L; l++) mask[img * L + l] = restore[l]! < keep ? 0 : 1;

    const embeds = patchEmbed(cfg, w, pixels, img);
    patchEmbeds.set(embeds, img * L * D);
    const lat = encodeImage(cfg, w, embeds, shuffle.slice(0, keep));
    latent.set(lat, img * (1 + keep) * D);
    pred.set(decodeImage(cfg, w, lat, restore, keep), img * L * P);

    const target = patchify(cfg, pixels, img);
    targetPatches.set(target, img * L * P);
    for (let l = 0; l < L; l++) {
      let mean = 0;
      for (let k = 0; k < P; k++) mean += target[l * P + k]!;
      mean /= P;
      let variance = 0;
      for (let k = 0; k < P; k++) variance += (target[l * P + k]! - mean) ** 2;
      variance /= P - 1; // torch.var default: unbiased
      for (let k = 0; k < P; k++) targetPatchesNormPix[(img * L + l) * P + k] = (target[l * P + k]! - mean) / Math.sqrt(variance + 1e-6);
    }
  }

  /** sum over patches of mask·mean_k (pred − target)², divided by sum(mask), pooled over the batch. */
  const maskedLoss = (target: Float64Array): number => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < n * L; i++) {
      let mse = 0;
      for (let k = 0; k < P; k++) mse += (pred[i * P + k]! - target[i * P + k]!) ** 2;
      num += (mse / P) * mask[i]!;
      den += mask[i]!;
    }
    return num / den;
  };

  return {
    lenKeep: keep, patchEmbeds, latent, pred, mask, idsShuffle, idsRestore, idsKeep, targetPatches, targetPatchesNormPix,
    loss: maskedLoss(targetPatches),
    lossNormPix: maskedLoss(targetPatchesNormPix),
  };
}

/** The encoder on every patch in original order (mask ratio 0, identity order): latentAll [N, 1 + L, D]. */
export function referenceEncodeAll(cfg: MaeConfig, w: MaeWeights, pixels: Float32Array, n: number): Float64Array {
  checkInputs(cfg, pixels, n);
  const { numPatches: L } = shapesOf(cfg);
  const D = cfg.hiddenSize;
  const identity = Array.from({ length: L }, (_, l) => l);
  const out = new Float64Array(n * (1 + L) * D);
  for (let img = 0; img < n; img++) out.set(encodeImage(cfg, w, patchEmbed(cfg, w, pixels, img), identity), img * (1 + L) * D);
  return out;
}

/**
 * The decoder alone: latent [N, 1 + keep, D] and idsRestore [N, L] → pred [N, L, p·p·C].
 * With keep = L and identity idsRestore this gives `pred_all` from `latent_all`.
 */
export function referenceDecode(cfg: MaeConfig, w: MaeWeights, latent: ArrayLike<number>, idsRestore: ArrayLike<number>, n: number, keep: number): Float64Array {
  const { numPatches: L, patchDim: P } = shapesOf(cfg);
  const D = cfg.hiddenSize;
  if (latent.length !== n * (1 + keep) * D) throw new Error(`reference: latent has ${latent.length} values, expected ${n}×${1 + keep}×${D}`);
  if (idsRestore.length !== n * L) throw new Error(`reference: idsRestore has ${idsRestore.length} values, expected ${n}×${L}`);
  const out = new Float64Array(n * L * P);
  for (let img = 0; img < n; img++) {
    const lat = Float64Array.from({ length: (1 + keep) * D }, (_, i) => latent[img * (1 + keep) * D + i]!);
    const restore = Array.from({ length: L }, (_, l) => idsRestore[img * L + l]!);
    out.set(decodeImage(cfg, w, lat, restore, keep), img * L * P);
  }
  return out;
}

// ─── random weights ──────────────────────────────────────────────────────────────────────────

/** mulberry32 (src/random.ts), uniform in [0, 1). */
export const mulberry32 = uniform;

/**
 * Random weights for any config, from a seeded PRNG: Linear/conv weights ~ N(0, 1/fan_in) so
 * activations stay O(1), biases and LayerNorm biases ~ N(0, 0.1²), LayerNorm weights ~ 1 + N(0, 0.1²),
 * cls/mask tokens ~ N(0, 0.1²); no value is exactly 0 or 1. Position tables are the fixed sin-cos ones.
 * qkvB is zeros when the config has no qkv bias.
 */
export function randomWeights(cfg: MaeConfig, seed: number): MaeWeights {
  const uniform = mulberry32(seed);
  const gauss = (): number => {
    const u = 1 - uniform(); // (0, 1]: log is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  const normal = (count: number, std: number, mean = 0) => Float32Array.from({ length: count }, () => mean + std * gauss());
  const weight = (out: number, inDim: number) => normal(out * inDim, 1 / Math.sqrt(inDim));
  const bias = (count: number) => normal(count, 0.1);

  const randomBlock = (dim: number, hidden: number): BlockWeights => ({
    ln1W: normal(dim, 0.1, 1),
    ln1B: bias(dim),
    qkvW: weight(3 * dim, dim),
    qkvB: cfg.qkvBias ? bias(3 * dim) : new Float32Array(3 * dim),
    projW: weight(dim, dim),
    projB: bias(dim),
    ln2W: normal(dim, 0.1, 1),
    ln2B: bias(dim),
    fc1W: weight(hidden, dim),
    fc1B: bias(hidden),
    fc2W: weight(dim, hidden),
    fc2B: bias(dim),
  });

  const { grid, patchDim } = shapesOf(cfg);
  const D = cfg.hiddenSize;
  const Dd = cfg.decoderHiddenSize;
  return {
    naming: 'huggingface',
    clsToken: normal(D, 0.1),
    posEmbed: sincos2dPositionEmbedding(D, grid),
    patchW: weight(D, patchDim),
    patchB: bias(D),
    encoder: Array.from({ length: cfg.numHiddenLayers }, () => randomBlock(D, cfg.intermediateSize)),
    normW: normal(D, 0.1, 1),
    normB: bias(D),
    decoderEmbedW: weight(Dd, D),
    decoderEmbedB: bias(Dd),
    maskToken: normal(Dd, 0.1),
    decoderPosEmbed: sincos2dPositionEmbedding(Dd, grid),
    decoder: Array.from({ length: cfg.decoderNumHiddenLayers }, () => randomBlock(Dd, cfg.decoderIntermediateSize)),
    decoderNormW: normal(Dd, 0.1, 1),
    decoderNormB: bias(Dd),
    predW: weight(patchDim, Dd),
    predB: bias(patchDim),
  };
}

// ─── MaeWeights → named tensors ──────────────────────────────────────────────────────────────

const f32 = (shape: readonly number[], data: Float32Array): TensorToWrite => ({ dtype: 'F32', shape, data: data.slice() });

/** Tensors shared by both namings, keyed by their role. */
function commonTensors(cfg: MaeConfig, w: MaeWeights) {
  const { numPatches: L, patchDim } = shapesOf(cfg);
  const { hiddenSize: D, decoderHiddenSize: Dd, numChannels: C, patchSize: p } = cfg;
  return {
    clsToken: f32([1, 1, D], w.clsToken),
    posEmbed: f32([1, 1 + L, D], w.posEmbed),
    patchW: f32([D, C, p, p], w.patchW),
    patchB: f32([D], w.patchB),
    normW: f32([D], w.normW),
    normB: f32([D], w.normB),
    decoderEmbedW: f32([Dd, D], w.decoderEmbedW),
    decoderEmbedB: f32([Dd], w.decoderEmbedB),
    maskToken: f32([1, 1, Dd], w.maskToken),
    decoderPosEmbed: f32([1, 1 + L, Dd], w.decoderPosEmbed),
    decoderNormW: f32([Dd], w.decoderNormW),
    decoderNormB: f32([Dd], w.decoderNormB),
    predW: f32([patchDim, Dd], w.predW),
    predB: f32([patchDim], w.predB),
  };
}

/** Hugging Face `ViTMAEForPreTraining` names (separate query/key/value; no q/k/v bias without qkv_bias). */
export function toHfTensors(cfg: MaeConfig, w: MaeWeights): Record<string, TensorToWrite> {
  const c = commonTensors(cfg, w);
  const out: Record<string, TensorToWrite> = {
    'vit.embeddings.cls_token': c.clsToken,
    'vit.embeddings.position_embeddings': c.posEmbed,
    'vit.embeddings.patch_embeddings.projection.weight': c.patchW,
    'vit.embeddings.patch_embeddings.projection.bias': c.patchB,
    'vit.layernorm.weight': c.normW,
    'vit.layernorm.bias': c.normB,
    'decoder.decoder_embed.weight': c.decoderEmbedW,
    'decoder.decoder_embed.bias': c.decoderEmbedB,
    'decoder.mask_token': c.maskToken,
    'decoder.decoder_pos_embed': c.decoderPosEmbed,
    'decoder.decoder_norm.weight': c.decoderNormW,
    'decoder.decoder_norm.bias': c.decoderNormB,
    'decoder.decoder_pred.weight': c.predW,
    'decoder.decoder_pred.bias': c.predB,
  };
  const addBlock = (prefix: string, blk: BlockWeights, dim: number, hidden: number) => {
    (['query', 'key', 'value'] as const).forEach((part, j) => {
      out[`${prefix}.attention.attention.${part}.weight`] = f32([dim, dim], blk.qkvW.subarray(j * dim * dim, (j + 1) * dim * dim));
      if (cfg.qkvBias) out[`${prefix}.attention.attention.${part}.bias`] = f32([dim], blk.qkvB.subarray(j * dim, (j + 1) * dim));
    });
    out[`${prefix}.layernorm_before.weight`] = f32([dim], blk.ln1W);
    out[`${prefix}.layernorm_before.bias`] = f32([dim], blk.ln1B);
    out[`${prefix}.attention.output.dense.weight`] = f32([dim, dim], blk.projW);
    out[`${prefix}.attention.output.dense.bias`] = f32([dim], blk.projB);
    out[`${prefix}.layernorm_after.weight`] = f32([dim], blk.ln2W);
    out[`${prefix}.layernorm_after.bias`] = f32([dim], blk.ln2B);
    out[`${prefix}.intermediate.dense.weight`] = f32([hidden, dim], blk.fc1W);
    out[`${prefix}.intermediate.dense.bias`] = f32([hidden], blk.fc1B);
    out[`${prefix}.output.dense.weight`] = f32([dim, hidden], blk.fc2W);
    out[`${prefix}.output.dense.bias`] = f32([dim], blk.fc2B);
  };
  w.encoder.forEach((blk, i) => addBlock(`vit.encoder.layer.${i}`, blk, cfg.hiddenSize, cfg.intermediateSize));
  w.decoder.forEach((blk, i) => addBlock(`decoder.decoder_layers.${i}`, blk, cfg.decoderHiddenSize, cfg.decoderIntermediateSize));
  return out;
}

/** Original MAE `MaskedAutoencoderViT.state_dict()` names (fused qkv; no qkv.bias without qkv_bias). */
export function toOriginalTensors(cfg: MaeConfig, w: MaeWeights): Record<string, TensorToWrite> {
  const c = commonTensors(cfg, w);
  const out: Record<string, TensorToWrite> = {
    cls_token: c.clsToken,
    pos_embed: c.posEmbed,
    'patch_embed.proj.weight': c.patchW,
    'patch_embed.proj.bias': c.patchB,
    'norm.weight': c.normW,
    'norm.bias': c.normB,
    'decoder_embed.weight': c.decoderEmbedW,
    'decoder_embed.bias': c.decoderEmbedB,
    mask_token: c.maskToken,
    decoder_pos_embed: c.decoderPosEmbed,
    'decoder_norm.weight': c.decoderNormW,
    'decoder_norm.bias': c.decoderNormB,
    'decoder_pred.weight': c.predW,
    'decoder_pred.bias': c.predB,
  };
  const addBlock = (prefix: string, blk: BlockWeights, dim: number, hidden: number) => {
    out[`${prefix}.norm1.weight`] = f32([dim], blk.ln1W);
    out[`${prefix}.norm1.bias`] = f32([dim], blk.ln1B);
    out[`${prefix}.attn.qkv.weight`] = f32([3 * dim, dim], blk.qkvW);
    if (cfg.qkvBias) out[`${prefix}.attn.qkv.bias`] = f32([3 * dim], blk.qkvB);
    out[`${prefix}.attn.proj.weight`] = f32([dim, dim], blk.projW);
    out[`${prefix}.attn.proj.bias`] = f32([dim], blk.projB);
    out[`${prefix}.norm2.weight`] = f32([dim], blk.ln2W);
    out[`${prefix}.norm2.bias`] = f32([dim], blk.ln2B);
    out[`${prefix}.mlp.fc1.weight`] = f32([hidden, dim], blk.fc1W);
    out[`${prefix}.mlp.fc1.bias`] = f32([hidden], blk.fc1B);
    out[`${prefix}.mlp.fc2.weight`] = f32([dim, hidden], blk.fc2W);
    out[`${prefix}.mlp.fc2.bias`] = f32([dim], blk.fc2B);
  };
  w.encoder.forEach((blk, i) => addBlock(`blocks.${i}`, blk, cfg.hiddenSize, cfg.intermediateSize));
  w.decoder.forEach((blk, i) => addBlock(`decoder_blocks.${i}`, blk, cfg.decoderHiddenSize, cfg.decoderIntermediateSize));
  return out;
}
