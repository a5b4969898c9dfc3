/**
 * ViT-MAE configuration: the Hugging Face `ViTMAEConfig` fields edge-mae uses, validated at the
 * boundary, plus the published presets and the shapes derived from a config.
 */
import { ConfigError } from './errors.js';
import { ARENA_BASE, type Tiling, largestBatch, layoutOf, memoryPages } from './plan.js';
import { lenKeep, shapesOf } from './shapes.js';

export { type MaeShapes, lenKeep, shapesOf } from './shapes.js';

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

/**
 * Upper bounds of the size fields, checked before anything is derived from them. A width of 2^16
 * makes one [w, w] weight 16 GiB, four times what wasm32 memory holds; a 3-channel image of
 * 8192² pixels is 768 MiB of pixels alone; the manifest lists every layer's weights (vit-mae-huge
 * has 32 layers). Configs within them must still fit the memory plan (WASM32_PAGES).
 */
export const CONFIG_LIMITS = {
  image_size: 8192,
  patch_size: 8192,
  num_channels: 64,
  hidden_size: 65536,
  num_hidden_layers: 1024,
  num_attention_heads: 65536,
  intermediate_size: 65536,
  decoder_hidden_size: 65536,
  decoder_num_hidden_layers: 1024,
  decoder_num_attention_heads: 65536,
  decoder_intermediate_size: 65536,
} as const;

/** wasm32 linear memory: 65,536 pages of 64 KiB, 4 GiB. */
export const WASM32_PAGES = 65536;

function int(json: Record<string, unknown>, key: keyof typeof CONFIG_LIMITS, source: string): number {
  const v = field(json, key, source);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ConfigError(`${source}: field '${key}' must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (v > CONFIG_LIMITS[key]) throw new ConfigError(`${source}: field '${key}' is ${v}, more than the limit of ${CONFIG_LIMITS[key]}`);
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
  const L = shapesOf(cfg).numPatches;
  if (lenKeep(L, cfg.maskRatio) < 1) {
    throw new ConfigError(`${source}: field 'mask_ratio' (${cfg.maskRatio}) keeps no patch of the ${L}; the encoder needs at least one`);
  }
  if (!(cfg.layerNormEps > 0)) throw new ConfigError(`${source}: field 'layer_norm_eps' must be > 0, got ${cfg.layerNormEps}`);
  checkFitsWasm32(cfg, 1, source);
  return Object.freeze(cfg);
}

/**
 * Throws ConfigError when the memory plan of `cfg` with `threads` kernel threads (each has its
 * own attention scratch) needs more than wasm32's 65,536 pages.
 */
export function checkFitsWasm32(cfg: MaeConfig, threads = 1, source = 'config', batch = 1, tiling: Tiling = {}): void {
  const layout = layoutOf(cfg, threads, tiling, batch);
  const pages = memoryPages(layout);
  if (pages <= WASM32_PAGES) return;
  const weights = layout.buffers.pixels.offset;
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const fits = batch > 1 ? largestBatch(cfg, WASM32_PAGES, threads, tiling) : 0;
  const per = [batch > 1 ? `${batch} images per call` : '', threads > 1 ? `${threads} threads` : ''].filter(Boolean).join(', ');
  throw new ConfigError(`${source}: the model needs ${pages} pages (${mib(ARENA_BASE + layout.bytes)}: weights ${mib(weights)}, activations ${mib(layout.bytes - weights)}${per ? ` for ${per}` : ''}) of WebAssembly memory, more than wasm32's ${WASM32_PAGES} pages (4 GiB)${fits > 0 ? `; at most ${fits} images per call fit` : ''}`);
}

export function checkMaskRatio(ratio: number, what = 'mask ratio'): void {
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio < 1)) {
    throw new ConfigError(`${what} must be in [0, 1), got ${ratio}`);
  }
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
