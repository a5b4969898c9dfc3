/**
 * The trainable parameters of a ViT-MAE under their `model.safetensors` (Hugging Face
 * ViTMAEForPreTraining) names, and where each lives among the canonical weights of the memory
 * layout (src/plan.ts weightSizes): query/key/value are row blocks of the fused `qkv`; cls_token
 * is `cls_pos` (pos row 0 is all zeros). The two sin-cos position tables are frozen
 * (requires_grad=False in models_mae.py): no gradient, not listed.
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../shapes.js';

export interface TrainableParam {
  /** model.safetensors name. */
  readonly name: string;
  readonly shape: readonly number[];
  /** Canonical weight (layout name) holding it, plain [out, in] row-major. */
  readonly canonical: string;
  /** Element offset inside the canonical weight (q/k/v row blocks), 0 otherwise. */
  readonly offset: number;
  /** Element count. */
  readonly length: number;
  /**
   * AdamW weight decay applies (timm 0.3.2 add_weight_decay as MAE's main_pretrain.py calls it):
   * not for 1-D tensors nor names ending in `.bias`; so every Linear weight, the patch conv, and
   * cls_token and mask_token ([1,1,D]) decay, biases and LayerNorm do not.
   */
  readonly decay: boolean;
}

export function decays(name: string, shape: readonly number[]): boolean {
  return !(shape.length === 1 || name.endsWith('.bias'));
}

/** Architecture variants a training run can add parameters for. */
export interface TrainingVariant {
  /** The encoder sees a learned mask token for each removed patch (Table 1c's "w/ [M]"): one more [1,1,D] parameter. */
  readonly encoderMaskTokens?: boolean;
}

/** The encoder mask token's name (not a Hugging Face ViT-MAE tensor: kept in checkpoints only). */
export const ENCODER_MASK_TOKEN = 'edge_mae.encoder_mask_token';

/** Every trainable parameter, in model.safetensors order of the authors' state_dict. */
export function trainableParams(cfg: MaeConfig, variant: TrainingVariant = {}): TrainableParam[] {
  const { patchDim } = shapesOf(cfg);
  const { hiddenSize: D, decoderHiddenSize: Dd, numChannels: C, patchSize: p } = cfg;
  const out: TrainableParam[] = [];
  const put = (name: string, shape: number[], canonical: string, offset = 0): void => {
    out.push({ name, shape, canonical, offset, length: shape.reduce((a, b) => a * b, 1), decay: decays(name, shape) });
  };
  put('vit.embeddings.cls_token', [1, 1, D], 'cls_pos');
  if (variant.encoderMaskTokens) put(ENCODER_MASK_TOKEN, [1, 1, D], 'enc_mask_token');
  put('vit.embeddings.patch_embeddings.projection.weight', [D, C, p, p], 'patch.w');
  put('vit.embeddings.patch_embeddings.projection.bias', [D], 'patch.b');
  const block = (hf: string, c: string, dim: number, hidden: number): void => {
    put(`${hf}.layernorm_before.weight`, [dim], `${c}.ln1.w`);
    put(`${hf}.layernorm_before.bias`, [dim], `${c}.ln1.b`);
    (['query', 'key', 'value'] as const).forEach((part, j) => {
      put(`${hf}.attention.attention.${part}.weight`, [dim, dim], `${c}.qkv.w`, j * dim * dim);
      if (cfg.qkvBias) put(`${hf}.attention.attention.${part}.bias`, [dim], `${c}.qkv.b`, j * dim);
    });
    put(`${hf}.attention.output.dense.weight`, [dim, dim], `${c}.proj.w`);
    put(`${hf}.attention.output.dense.bias`, [dim], `${c}.proj.b`);
    put(`${hf}.layernorm_after.weight`, [dim], `${c}.ln2.w`);
    put(`${hf}.layernorm_after.bias`, [dim], `${c}.ln2.b`);
    put(`${hf}.intermediate.dense.weight`, [hidden, dim], `${c}.fc1.w`);
    put(`${hf}.intermediate.dense.bias`, [hidden], `${c}.fc1.b`);
    put(`${hf}.output.dense.weight`, [dim, hidden], `${c}.fc2.w`);
    put(`${hf}.output.dense.bias`, [dim], `${c}.fc2.b`);
  };
  for (let i = 0; i < cfg.numHiddenLayers; i++) block(`vit.encoder.layer.${i}`, `enc.${i}`, D, cfg.intermediateSize);
  put('vit.layernorm.weight', [D], 'norm.w');
  put('vit.layernorm.bias', [D], 'norm.b');
  put('decoder.decoder_embed.weight', [Dd, D], 'dec_embed.w');
  put('decoder.decoder_embed.bias', [Dd], 'dec_embed.b');
  put('decoder.mask_token', [1, 1, Dd], 'mask_token');
  for (let i = 0; i < cfg.decoderNumHiddenLayers; i++) block(`decoder.decoder_layers.${i}`, `dec.${i}`, Dd, cfg.decoderIntermediateSize);
  put('decoder.decoder_norm.weight', [Dd], 'dec_norm.w');
  put('decoder.decoder_norm.bias', [Dd], 'dec_norm.b');
  put('decoder.decoder_pred.weight', [patchDim, Dd], 'pred.w');
  put('decoder.decoder_pred.bias', [patchDim], 'pred.b');
  return out;
}

/** A tensor under its model.safetensors name. */
export interface NamedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Canonical weights with a trainable part and their plain element counts (q/k/v joined). */
export function canonicalLengths(cfg: MaeConfig, variant: TrainingVariant = {}): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const t of trainableParams(cfg, variant)) sizes.set(t.canonical, Math.max(sizes.get(t.canonical) ?? 0, t.offset + t.length));
  // qkv bias without qkv_bias: the fused bias still exists (zeros), untrained.
  return sizes;
}

/** The HF-named tensors of plain canonical arrays (copies). */
export function namedTensors(cfg: MaeConfig, canonical: (name: string) => Float32Array, variant: TrainingVariant = {}): Record<string, NamedTensor> {
  const out: Record<string, NamedTensor> = {};
  for (const t of trainableParams(cfg, variant)) out[t.name] = { shape: t.shape, data: canonical(t.canonical).slice(t.offset, t.offset + t.length) };
  return out;
}
