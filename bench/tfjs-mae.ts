/**
 * The ViT-MAE forward of one image written with tfjs ops (run on the wasm backend, XNNPACK), the
 * same function as edge-mae's MaeModel, onnx-graph.ts's model and models_mae.py:
 * patch embed as a matmul on the kept patches (the conv's (c, p, q) order), + position rows, cls;
 * pre-norm blocks (LayerNorm from moments, fused-qkv matmul, per-head attention as batched
 * matmuls and softmax, exact GELU x·0.5·(1 + erf(x/√2)) — tfjs's gelu op is not exposed, and its
 * fused matmul activations have no GELU); final norm; decoder embed, mask tokens, unshuffle by
 * gather on ids_restore, decoder blocks, pred; the plain and norm_pix losses on removed patches.
 * Weights are tensors made once, Linear weights transposed to [in, out] at load (XNNPACK packs
 * them at the first call and caches the operator); masking indices are computed outside.
 * Not [out, in] with transposeB: tfjs-backend-wasm 4.22's fused matMul with transposeB *and* a
 * bias returns wrong values (verify.ts catches it: pred off by ~1 on the golden cases), while
 * transposeB without bias, or a bias without transposeB, is right.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { type MaeConfig, shapesOf } from '../src/config.js';
import type { BlockWeights, MaeWeights } from '../src/weights.js';
import type { Tf } from './engines.js';
import { transposeLinear } from './shared.js';
type T2 = TfCore.Tensor2D;
type T1 = TfCore.Tensor1D;

interface Linear { w: T2; b: T1 }
interface Block { ln1: [T1, T1]; qkv: Linear; proj: Linear; ln2: [T1, T1]; fc1: Linear; fc2: Linear }

export interface TfjsForwardResult {
  latent: Float32Array;
  pred: Float32Array;
  loss: number;
  lossNormPix: number;
}

export class TfjsMae {
  private readonly patch: Linear;
  private readonly clsPos: T2;
  private readonly posPatches: T2;
  private readonly encoder: Block[];
  private readonly norm: [T1, T1];
  private readonly decEmbed: Linear;
  private readonly maskToken: T2;
  private readonly decPos: T2;
  private readonly decoder: Block[];
  private readonly decNorm: [T1, T1];
  private readonly predLinear: Linear;
  private readonly tensors: TfCore.Tensor[] = [];

  constructor(private readonly tf: Tf, private readonly cfg: MaeConfig, w: MaeWeights) {
    const { patchDim, numPatches: L } = shapesOf(cfg);
    const D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize;
    const keepT = <T extends TfCore.Tensor>(t: T): T => { this.tensors.push(t); return t; };
    const vec = (a: Float32Array): T1 => keepT(tf.tensor1d(a));
    const linear = (wt: Float32Array, b: Float32Array, out: number, inp: number): Linear =>
      ({ w: keepT(tf.tensor2d(transposeLinear(wt, out, inp), [inp, out])), b: vec(b) });
    const block = (b: BlockWeights, width: number, mlp: number): Block => ({
      ln1: [vec(b.ln1W), vec(b.ln1B)],
      qkv: linear(b.qkvW, b.qkvB, 3 * width, width),
      proj: linear(b.projW, b.projB, width, width),
      ln2: [vec(b.ln2W), vec(b.ln2B)],
      fc1: linear(b.fc1W, b.fc1B, mlp, width),
      fc2: linear(b.fc2W, b.fc2B, width, mlp),
    });
    this.patch = linear(w.patchW, w.patchB, D, cfg.numChannels * cfg.patchSize * cfg.patchSize);
    const clsPos = new Float32Array(D);
    for (let i = 0; i < D; i++) clsPos[i] = w.clsToken[i] + w.posEmbed[i];
    this.clsPos = keepT(tf.tensor2d(clsPos, [1, D]));
    this.posPatches = keepT(tf.tensor2d(w.posEmbed.slice(D), [L, D]));
    this.encoder = w.encoder.map((b) => block(b, D, cfg.intermediateSize));
    this.norm = [vec(w.normW), vec(w.normB)];
    this.decEmbed = linear(w.decoderEmbedW, w.decoderEmbedB, Dd, D);
    this.maskToken = keepT(tf.tensor2d(w.maskToken, [1, Dd]));
    this.decPos = keepT(tf.tensor2d(w.decoderPosEmbed, [1 + L, Dd]));
    this.decoder = w.decoder.map((b) => block(b, Dd, cfg.decoderIntermediateSize));
    this.decNorm = [vec(w.decoderNormW), vec(w.decoderNormB)];
    this.predLinear = linear(w.predW, w.predB, patchDim, Dd);
  }

  private linear(x: T2, l: Linear): T2 {
    return this.tf.fused.matMul({ a: x, b: l.w, bias: l.b }) as T2;
  }

  private layerNorm(x: T2, [w, b]: [T1, T1]): T2 {
    const tf = this.tf;
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.cfg.layerNormEps))), w), b) as T2;
  }

  private gelu(x: T2): T2 {
    const tf = this.tf;
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1)) as T2;
  }

  private block(x: T2, b: Block, t: number, width: number, heads: number): T2 {
    const tf = this.tf;
    const d = width / heads;
    const qkv = this.linear(this.layerNorm(x, b.ln1), b.qkv); // [t, 3·width]
    const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [t, 3, heads, d]), [1, 2, 0, 3])) as TfCore.Tensor3D[]; // [heads, t, d] each
    const probs = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)));
    const o = tf.reshape(tf.transpose(tf.matMul(probs, v), [1, 0, 2]), [t, width]) as T2;
    const x1 = tf.add(x, this.linear(o, b.proj)) as T2;
    return tf.add(x1, this.linear(this.gelu(this.linear(this.layerNorm(x1, b.ln2), b.fc1)), b.fc2)) as T2;
  }

  /** [1, C, H, W] pixels → [L, C·p·p] patches in the conv's (c, p, q) order, or (p, q, c) for targets. */
  private patches(pixels: TfCore.Tensor, order: 'conv' | 'target'): T2 {
    const tf = this.tf;
    const { numChannels: C, patchSize: p } = this.cfg;
    const { grid: G, numPatches: L } = shapesOf(this.cfg);
    const g5 = tf.reshape(pixels, [C, G, p, G, p]);
    return tf.reshape(tf.transpose(g5, order === 'conv' ? [1, 3, 0, 2, 4] : [1, 3, 2, 4, 0]), [L, C * p * p]) as T2;
  }

  private encodeTensor(pixels: TfCore.Tensor, idsKeep: TfCore.Tensor1D): T2 {
    const tf = this.tf;
    const keep = idsKeep.shape[0];
    const emb = this.linear(tf.gather(this.patches(pixels, 'conv'), idsKeep) as T2, this.patch);
    let x = tf.concat([this.clsPos, tf.add(emb, tf.gather(this.posPatches, idsKeep)) as T2], 0);
    for (const b of this.encoder) x = this.block(x, b, 1 + keep, this.cfg.hiddenSize, this.cfg.numAttentionHeads);
    return this.layerNorm(x, this.norm);
  }

  /** The whole forward of one image [C, H, W] with the masking given (indices from edge-mae's randomMasking). */
  forward(pixels: Float32Array, idsKeep: Int32Array, idsRestore: Int32Array, mask: Float32Array): TfjsForwardResult {
    const tf = this.tf;
    const { numPatches: L, patchDim: P } = shapesOf(this.cfg);
    const { numChannels: C, imageSize: H, decoderHiddenSize: Dd } = this.cfg;
    const keep = idsKeep.length;
    const [latentT, predT, lossT, lossNormT] = tf.tidy(() => {
      const px = tf.tensor4d(pixels, [1, C, H, H]);
      const latent = this.encodeTensor(px, tf.tensor1d(idsKeep, 'int32'));
      const e = this.linear(latent, this.decEmbed); // [1 + keep, Dd]
      const shuffled = tf.concat([tf.slice(e, [1, 0], [keep, Dd]), tf.tile(this.maskToken, [L - keep, 1])], 0);
      const unshuffled = tf.gather(shuffled, tf.tensor1d(idsRestore, 'int32')) as T2;
      let y = tf.add(tf.concat([tf.slice(e, [0, 0], [1, Dd]), unshuffled], 0), this.decPos) as T2;
      for (const b of this.decoder) y = this.block(y, b, 1 + L, Dd, this.cfg.decoderNumAttentionHeads);
      const pred = tf.slice(this.linear(this.layerNorm(y, this.decNorm), this.predLinear), [1, 0], [L, P]);
      const m = tf.tensor1d(mask);
      const maskedMean = (target: TfCore.Tensor): TfCore.Scalar => tf.div(tf.sum(tf.mul(tf.mean(tf.square(tf.sub(pred, target)), -1), m)), tf.sum(m));
      const target = this.patches(px, 'target');
      const { mean } = tf.moments(target, -1, true);
      const centered = tf.sub(target, mean);
      const variance = tf.div(tf.sum(tf.square(centered), -1, true), P - 1); // unbiased, as torch.var
      const normTarget = tf.div(centered, tf.sqrt(tf.add(variance, 1e-6)));
      return [latent, pred, maskedMean(target), maskedMean(normTarget)];
    });
    try {
      return {
        latent: latentT.dataSync() as Float32Array,
        pred: predT.dataSync() as Float32Array,
        loss: lossT.dataSync()[0],
        lossNormPix: lossNormT.dataSync()[0],
      };
    } finally {
      tf.dispose([latentT, predT, lossT, lossNormT]);
    }
  }

  /** The encoder on all patches in order → [1 + L, D]. */
  encode(pixels: Float32Array): Float32Array {
    const tf = this.tf;
    const { numPatches: L } = shapesOf(this.cfg);
    const { numChannels: C, imageSize: H } = this.cfg;
    const out = tf.tidy(() => this.encodeTensor(tf.tensor4d(pixels, [1, C, H, H]), tf.tensor1d(Int32Array.from({ length: L }, (_, i) => i), 'int32')));
    try {
      return out.dataSync() as Float32Array;
    } finally {
      out.dispose();
    }
  }

  dispose(): void {
    this.tf.dispose(this.tensors);
  }
}
