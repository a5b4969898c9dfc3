/**
 * ViT-MAE configuration: the Hugging Face `ViTMAEConfig` fields edge-mae uses, validated at the
 * boundary, plus the published presets and the shapes derived from a config.
 */
import { ConfigError } from './errors.js';

export interface MaeConfig {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly numChannels: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly hiddenAct: 'gelu';
  readonly layerNormEps: number;
  readonly qkvBias: boolean;
  readonly decoderHiddenSize: number;
  readonly decoderNumHiddenLayers: number;
  readonly decoderNumAttentionHeads: number;
  readonly decoderIntermediateSize: number;
  readonly maskRatio: number;
  readonly normPixLoss: boolean;
}

/** Activations edge-mae implements. `gelu` is the exact erf form (torch `nn.GELU()`). */
export const SUPPORTED_ACTIVATIONS = ['gelu'] as const;

/** transformers' `ViTMAEConfig` defaults, used for fields a config.json leaves out. */
const HF_DEFAULTS = {
  image_size: 224,
  patch_size: 16,
  num_channels: 3,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  layer_norm_eps: 1e-12,
  qkv_bias: true,
  decoder_hidden_size: 512,
  decoder_num_hidden_layers: 8,
  decoder_num_attention_heads: 16,
  decoder_intermediate_size: 2048,
  mask_ratio: 0.75,
  norm_pix_loss: false,
} as const;

type HfConfig = { -readonly [K in keyof typeof HF_DEFAULTS]: (typeof HF_DEFAULTS)[K] extends boolean ? boolean : (typeof HF_DEFAULTS)[K] extends string ? string : number };

function decoderOf(hidden: number, layers: number, heads: number, mlp: number, patch: number): HfConfig {
  return { ...HF_DEFAULTS, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads, intermediate_size: mlp, patch_size: patch };
}

/** The published facebook/vit-mae-{base,large,huge} config files. */
const PRESET_JSON: Record<string, HfConfig> = {
  'vit-mae-base': decoderOf(768, 12, 12, 3072, 16),
  'vit-mae-large': decoderOf(1024, 24, 16, 4096, 16),
  'vit-mae-huge': decoderOf(1280, 32, 16, 5120, 14),
};

export const PRESET_NAMES = Object.keys(PRESET_JSON);

export function preset(name: string): MaeConfig {
  const json = PRESET_JSON[name];
  if (!json) throw new ConfigError(`unknown preset '${name}' (known: ${PRESET_NAMES.join(', ')})`);
  return parseConfig(json, name);
}

function field(json: Record<string, unknown>, key: keyof typeof HF_DEFAULTS, source: string): unknown {
  return key in json && json[key] !== null && json[key] !== undefined ? json[key] : HF_DEFAULTS[key];
}

function int(json: Record<string, unknown>, key: keyof typeof HF_DEFAULTS, source: string): number {
  const v = field(json, key, source);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ConfigError(`${source}: field '${key}' must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function num(json: Record<string, unknown>, key: keyof typeof HF_DEFAULTS, source: string): number {
  const v = field(json, key, source);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ConfigError(`${source}: field '${key}' must be a finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(json: Record<string, unknown>, key: keyof typeof HF_DEFAULTS, source: string): boolean {
  const v = field(json, key, source);
  if (typeof v !== 'boolean') throw new ConfigError(`${source}: field '${key}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Parses and validates a Hugging Face ViTMAEConfig object; `source` names it in errors. */
export function parseConfig(json: unknown, source = 'config'): MaeConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`${source}: expected a JSON object with ViTMAEConfig fields`);
  }
  const j = json as Record<string, unknown>;
  if ('model_type' in j && j.model_type !== 'vit_mae') {
    throw new ConfigError(`${source}: field 'model_type' must be 'vit_mae', got ${JSON.stringify(j.model_type)}`);
  }
  const act = field(j, 'hidden_act', source);
  if (!(SUPPORTED_ACTIVATIONS as readonly unknown[]).includes(act)) {
    throw new ConfigError(`${source}: field 'hidden_act' is ${JSON.stringify(act)}; supported: ${SUPPORTED_ACTIVATIONS.join(', ')} (exact erf GELU)`);
  }
  const cfg: MaeConfig = {
    imageSize: int(j, 'image_size', source),
    patchSize: int(j, 'patch_size', source),
    numChannels: int(j, 'num_channels', source),
    hiddenSize: int(j, 'hidden_size', source),
    numHiddenLayers: int(j, 'num_hidden_layers', source),
    numAttentionHeads: int(j, 'num_attention_heads', source),
    intermediateSize: int(j, 'intermediate_size', source),
    hiddenAct: 'gelu',
    layerNormEps: num(j, 'layer_norm_eps', source),
    qkvBias: bool(j, 'qkv_bias', source),
    decoderHiddenSize: int(j, 'decoder_hidden_size', source),
    decoderNumHiddenLayers: int(j, 'decoder_num_hidden_layers', source),
    decoderNumAttentionHeads: int(j, 'decoder_num_attention_heads', source),
    decoderIntermediateSize: int(j, 'decoder_intermediate_size', source),
    maskRatio: num(j, 'mask_ratio', source),
    normPixLoss: bool(j, 'norm_pix_loss', source),
  };
  if (cfg.imageSize % cfg.patchSize !== 0) {
    throw new ConfigError(`${source}: field 'image_size' (${cfg.imageSize}) must be divisible by 'patch_size' (${cfg.patchSize})`);
  }
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new ConfigError(`${source}: field 'hidden_size' (${cfg.hiddenSize}) must be divisible by 'num_attention_heads' (${cfg.numAttentionHeads})`);
  }
  if (cfg.decoderHiddenSize % cfg.decoderNumAttentionHeads !== 0) {
    throw new ConfigError(`${source}: field 'decoder_hidden_size' (${cfg.decoderHiddenSize}) must be divisible by 'decoder_num_attention_heads' (${cfg.decoderNumAttentionHeads})`);
  }
  if (cfg.hiddenSize % 4 !== 0) {
    // The fixed 2-D sin-cos position embedding splits the width into 4 equal parts.
    throw new ConfigError(`${source}: field 'hidden_size' (${cfg.hiddenSize}) must be divisible by 4 (2-D sin-cos position embedding)`);
  }
  if (cfg.decoderHiddenSize % 4 !== 0) {
    throw new ConfigError(`${source}: field 'decoder_hidden_size' (${cfg.decoderHiddenSize}) must be divisible by 4 (2-D sin-cos position embedding)`);
  }
  checkMaskRatio(cfg.maskRatio, `${source}: field 'mask_ratio'`);
  if (!(cfg.layerNormEps > 0)) throw new ConfigError(`${source}: field 'layer_norm_eps' must be > 0, got ${cfg.layerNormEps}`);
  return Object.freeze(cfg);
}

export function checkMaskRatio(ratio: number, what = 'mask ratio'): void {
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio < 1)) {
    throw new ConfigError(`${what} must be in [0, 1), got ${ratio}`);
  }
}

/** Shapes that follow from a config. */
export interface MaeShapes {
  /** Patches per side (image_size / patch_size). */
  readonly grid: number;
  /** Number of patches L. */
  readonly numPatches: number;
  /** Values per patch, p·p·C. */
  readonly patchDim: number;
  readonly headDim: number;
  readonly decoderHeadDim: number;
}

export function shapesOf(cfg: MaeConfig): MaeShapes {
  const grid = cfg.imageSize / cfg.patchSize;
  return {
    grid,
    numPatches: grid * grid,
    patchDim: cfg.patchSize * cfg.patchSize * cfg.numChannels,
    headDim: cfg.hiddenSize / cfg.numAttentionHeads,
    decoderHeadDim: cfg.decoderHiddenSize / cfg.decoderNumAttentionHeads,
  };
}

/** Kept patches for a mask ratio: int(L·(1 − ratio)), truncated as in models_mae.py. */
export function lenKeep(numPatches: number, maskRatio: number): number {
  return Math.trunc(numPatches * (1 - maskRatio));
}

/** The config in Hugging Face field names (for writing config.json). */
export function toHfJson(cfg: MaeConfig): Record<string, unknown> {
  return {
    architectures: ['ViTMAEForPreTraining'],
    model_type: 'vit_mae',
    image_size: cfg.imageSize,
    patch_size: cfg.patchSize,
    num_channels: cfg.numChannels,
    hidden_size: cfg.hiddenSize,
    num_hidden_layers: cfg.numHiddenLayers,
    num_attention_heads: cfg.numAttentionHeads,
    intermediate_size: cfg.intermediateSize,
    hidden_act: cfg.hiddenAct,
    layer_norm_eps: cfg.layerNormEps,
    qkv_bias: cfg.qkvBias,
    decoder_hidden_size: cfg.decoderHiddenSize,
    decoder_num_hidden_layers: cfg.decoderNumHiddenLayers,
    decoder_num_attention_heads: cfg.decoderNumAttentionHeads,
    decoder_intermediate_size: cfg.decoderIntermediateSize,
    mask_ratio: cfg.maskRatio,
    norm_pix_loss: cfg.normPixLoss,
  };
}
