/**
 * Fresh weights as models_mae.py's initialize_weights draws them, from a seed (our PRNG, not
 * torch's): every Linear weight (the fused qkv as one [3D, D] matrix) and the patch projection
 * (viewed as [D, C·p·p]) xavier-uniform, U(±√(6/(fan_in + fan_out))); cls_token and mask_token
 * N(0, 0.02²); biases 0; LayerNorm weight 1, bias 0; the fixed 2-D sin-cos position tables.
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../shapes.js';
import { sincos2dPositionEmbedding } from '../pos-embed.js';
import { uniform } from '../random.js';
import type { BlockWeights, MaeWeights } from '../weights.js';

export function initialWeights(cfg: MaeConfig, seed: number): MaeWeights {
  const sh = shapesOf(cfg);
  const rand = uniform(seed);
  const xavier = (out: number, inp: number): Float32Array => {
    const bound = Math.sqrt(6 / (inp + out));
    return Float32Array.from({ length: out * inp }, () => (2 * rand() - 1) * bound);
  };
  const normal = (n: number, std: number): Float32Array => Float32Array.from({ length: n }, () => {
    const u = 1 - rand(); // (0, 1]: the log is finite
    return std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  });
  const zeros = (n: number): Float32Array => new Float32Array(n);
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const block = (w: number, f: number): BlockWeights => ({
    ln1W: ones(w), ln1B: zeros(w),
    qkvW: xavier(3 * w, w), qkvB: zeros(3 * w),
    projW: xavier(w, w), projB: zeros(w),
    ln2W: ones(w), ln2B: zeros(w),
    fc1W: xavier(f, w), fc1B: zeros(f),
    fc2W: xavier(w, f), fc2B: zeros(w),
  });
  const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize;
  return {
    naming: 'huggingface',
    patchW: xavier(D, sh.patchDim), patchB: zeros(D),
    clsToken: normal(D, 0.02),
    posEmbed: sincos2dPositionEmbedding(D, sh.grid),
    encoder: Array.from({ length: cfg.numHiddenLayers }, () => block(D, cfg.intermediateSize)),
    normW: ones(D), normB: zeros(D),
    decoderEmbedW: xavier(Dd, D), decoderEmbedB: zeros(Dd),
    maskToken: normal(Dd, 0.02),
    decoderPosEmbed: sincos2dPositionEmbedding(Dd, sh.grid),
    decoder: Array.from({ length: cfg.decoderNumHiddenLayers }, () => block(Dd, cfg.decoderIntermediateSize)),
    decoderNormW: ones(Dd), decoderNormB: zeros(Dd),
    predW: xavier(sh.patchDim, Dd), predB: zeros(sh.patchDim),
  };
}

/** The encoder mask token of Table 1c's ablation, N(0, 0.02²) as models_mae.py draws its mask token. */
export function initialEncoderMaskToken(cfg: MaeConfig, seed: number): Float32Array {
  const rand = uniform((seed ^ 0x5bd1e995) >>> 0);
  return Float32Array.from({ length: cfg.hiddenSize }, () => 0.02 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}
