/**
 * ONNX models built programmatically (no PyTorch here), encoded as ModelProto with onnx-proto:
 * - `matmulModel`: one MatMul + Add (a Linear with its weight as an initializer), for gemm.ts;
 * - `maeModel`: the whole ViT-MAE forward of one image, the same function as edge-mae's MaeModel
 *   and models_mae.py: patch embed (the conv as a MatMul on the kept patches), + position rows,
 *   cls, pre-norm blocks (LayerNormalization, fused-qkv MatMul, per-head attention with Softmax,
 *   exact GELU as x·0.5·(1 + erf(x/√2)) — the pattern torch.onnx emits for nn.GELU()), final
 *   norm; decoder embed, mask tokens, unshuffle by Gather on ids_restore, decoder blocks, pred;
 *   both losses (plain and norm_pix) on the removed patches. Opset 17, weights as initializers,
 *   ids_keep / ids_restore as int64 inputs (the masking is computed outside, as in every engine).
 *   With `encoderOnly` it is the encoder alone (latent), for "encode all patches".
 */
import onnxProto from 'onnx-proto';
import { type MaeConfig, shapesOf } from '../src/config.js';
import type { BlockWeights, MaeWeights } from '../src/weights.js';
import { transposeLinear } from './shared.js';

const { onnx } = onnxProto;
type Attr = number | number[] | string;

const F32 = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
export const OPSET = 17;

/** A small graph builder: named values, initializers, nodes in order. */
export class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private counter = 0;
  private readonly scalars = new Map<string, string>();

  constructor(private readonly graphName: string) {}

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** A float initializer (no copy: the bytes are read when the model is encoded). */
  f32(name: string, data: Float32Array, dims: readonly number[]): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`initializer ${name}: ${data.length} values for dims ${dims}`);
    this.initializers.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: F32, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }));
    return name;
  }

  i64(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push(onnx.TensorProto.create({ name, dims: [...dims], dataType: I64, rawData: new Uint8Array(data.buffer) }));
    return name;
  }

  /** A scalar float constant (shared by value). */
  scalar(value: number): string {
    const key = String(value);
    let name = this.scalars.get(key);
    if (!name) {
      name = this.f32(this.fresh('c'), Float32Array.of(value), []);
      this.scalars.set(key, name);
    }
    return name;
  }

  /** Int64 shape / index constant. */
  shape(values: readonly number[]): string {
    return this.i64(this.fresh('s'), values);
  }

  /** Scalar int64 index (Gather with it drops the axis). */
  index(value: number): string {
    return this.i64(this.fresh('i'), [value], []);
  }

  input(name: string, elemType: number, dims: readonly number[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: readonly number[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push(onnx.NodeProto.create({
      opType, input: [...inputs], output: [out], name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    }));
    return out;
  }

  encode(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'edge-mae-bench',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: { name: this.graphName, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, elemType: number, dims: readonly number[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
}

function attribute(name: string, v: Attr): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v });
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (Number.isInteger(v) && !Object.is(v, -0) && name !== 'epsilon' && name !== 'alpha') return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v });
}

/** y[m,n] = x[m,k]·wT[k,n] + bias[n]: one MatMul + Add, the weight and bias as initializers. */
export function matmulModel(m: number, k: number, n: number, wT: Float32Array, bias: Float32Array): Uint8Array {
  const g = new GraphBuilder(`linear_${m}x${k}x${n}`);
  const x = g.input('x', F32, [m, k]);
  const y = g.op('MatMul', [x, g.f32('w', wT, [k, n])]);
  g.op('Add', [y, g.f32('b', bias, [n])], {}, 'y');
  g.output('y', F32, [m, n]);
  return g.encode();
}

export interface MaeGraphOptions {
  /** The encoder alone on `keep` patches (output latent only). */
  encoderOnly?: boolean;
  /** Visible patches the graph is built for (ids_keep's length). */
  keep: number;
}

/** The MAE forward of one image as an ONNX model (see the file comment). */
export function maeModel(cfg: MaeConfig, w: MaeWeights, opts: MaeGraphOptions): Uint8Array {
  const sh = shapesOf(cfg);
  const { numPatches: L, patchDim: P, grid: G } = sh;
  const { numChannels: C, patchSize: p, imageSize: H, hiddenSize: D, decoderHiddenSize: Dd } = cfg;
  const keep = opts.keep;
  const g = new GraphBuilder(opts.encoderOnly ? 'mae_encoder' : 'mae_forward');
  const eps = cfg.layerNormEps;

  const pixels = g.input('pixel_values', F32, [1, C, H, H]);
  const idsKeep = g.input('ids_keep', I64, [keep]);

  const linear = (x: string, name: string, wt: Float32Array, b: Float32Array, out: number, inp: number): string =>
    g.op('Add', [g.op('MatMul', [x, g.f32(`${name}.weight`, transposeLinear(wt, out, inp), [inp, out])]), g.f32(`${name}.bias`, b, [out])]);
  const layerNorm = (x: string, name: string, wt: Float32Array, b: Float32Array, width: number): string =>
    g.op('LayerNormalization', [x, g.f32(`${name}.weight`, wt, [width]), g.f32(`${name}.bias`, b, [width])], { axis: -1, epsilon: eps });
  const gelu = (x: string): string =>
    g.op('Mul', [g.op('Mul', [x, g.op('Add', [g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)])]), g.scalar(1)])]), g.scalar(0.5)]);

  const block = (x: string, name: string, b: BlockWeights, t: number, width: number, heads: number, mlp: number): string => {
    const d = width / heads;
    const h = layerNorm(x, `${name}.norm1`, b.ln1W, b.ln1B, width);
    const qkv = linear(h, `${name}.attn.qkv`, b.qkvW, b.qkvB, 3 * width, width); // [t, 3·width]
    const qkv4 = g.op('Transpose', [g.op('Reshape', [qkv, g.shape([t, 3, heads, d])])], { perm: [1, 2, 0, 3] }); // [3, heads, t, d]
    const q = g.op('Gather', [qkv4, g.index(0)], { axis: 0 });
    const k = g.op('Gather', [qkv4, g.index(1)], { axis: 0 });
    const v = g.op('Gather', [qkv4, g.index(2)], { axis: 0 });
    const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })]), g.scalar(1 / Math.sqrt(d))]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const o = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [1, 0, 2] }), g.shape([t, width])]);
    const x1 = g.op('Add', [x, linear(o, `${name}.attn.proj`, b.projW, b.projB, width, width)]);
    const h2 = layerNorm(x1, `${name}.norm2`, b.ln2W, b.ln2B, width);
    const f = gelu(linear(h2, `${name}.mlp.fc1`, b.fc1W, b.fc1B, mlp, width));
    return g.op('Add', [x1, linear(f, `${name}.mlp.fc2`, b.fc2W, b.fc2B, width, mlp)]);
  };

  // Patch embedding: the conv (kernel = stride = p) is a MatMul on patches in the conv weight's
  // (c, p, q) order; only the kept patches are embedded (masking commutes with the per-patch conv).
  const grid5 = g.op('Reshape', [pixels, g.shape([C, G, p, G, p])]);
  const convPatches = g.op('Reshape', [g.op('Transpose', [grid5], { perm: [1, 3, 0, 2, 4] }), g.shape([L, C * p * p])]);
  const kept = g.op('Gather', [convPatches, idsKeep], { axis: 0 });
  const emb = linear(kept, 'patch_embed.proj', w.patchW, w.patchB, D, C * p * p);
  const pos = w.posEmbed;
  const posPatches = g.f32('pos_embed.patches', pos.subarray(D), [L, D]);
  const xPatches = g.op('Add', [emb, g.op('Gather', [posPatches, idsKeep], { axis: 0 })]);
  const cls = g.op('Add', [g.f32('cls_token', w.clsToken, [1, D]), g.f32('pos_embed.cls', pos.subarray(0, D), [1, D])]);
  let x = g.op('Concat', [cls, xPatches], { axis: 0 });
  const T = 1 + keep;
  w.encoder.forEach((b, i) => { x = block(x, `blocks.${i}`, b, T, D, cfg.numAttentionHeads, cfg.intermediateSize); });
  const latent = g.op('LayerNormalization', [x, g.f32('norm.weight', w.normW, [D]), g.f32('norm.bias', w.normB, [D])], { axis: -1, epsilon: eps }, 'latent');
  g.output('latent', F32, [T, D]);
  if (opts.encoderOnly) return g.encode();

  // Decoder: embed, mask tokens after the visible ones, unshuffle with ids_restore, + positions.
  const idsRestore = g.input('ids_restore', I64, [L]);
  const mask = g.input('mask', F32, [L]);
  const e = linear(latent, 'decoder_embed', w.decoderEmbedW, w.decoderEmbedB, Dd, D); // [T, Dd]
  const eCls = g.op('Slice', [e, g.shape([0]), g.shape([1]), g.shape([0])]);
  const eVis = g.op('Slice', [e, g.shape([1]), g.shape([T]), g.shape([0])]);
  const maskTokens = g.op('Expand', [g.f32('mask_token', w.maskToken, [1, Dd]), g.shape([L - keep, Dd])]);
  const shuffled = g.op('Concat', [eVis, maskTokens], { axis: 0 });
  const unshuffled = g.op('Gather', [shuffled, idsRestore], { axis: 0 });
  let y = g.op('Add', [g.op('Concat', [eCls, unshuffled], { axis: 0 }), g.f32('decoder_pos_embed', w.decoderPosEmbed, [1 + L, Dd])]);
  w.decoder.forEach((b, i) => { y = block(y, `decoder_blocks.${i}`, b, 1 + L, Dd, cfg.decoderNumAttentionHeads, cfg.decoderIntermediateSize); });
  const yn = layerNorm(y, 'decoder_norm', w.decoderNormW, w.decoderNormB, Dd);
  const predAll = linear(yn, 'decoder_pred', w.predW, w.predB, P, Dd);
  const pred = g.op('Slice', [predAll, g.shape([1]), g.shape([1 + L]), g.shape([0])], {}, 'pred');
  g.output('pred', F32, [L, P]);

  // Losses on the removed patches: target = patchify(pixels) in (p, q, c) order.
  const target = g.op('Reshape', [g.op('Transpose', [grid5], { perm: [1, 3, 2, 4, 0] }), g.shape([L, P])]);
  const maskedMean = (t: string, out: string): void => {
    const diff = g.op('Sub', [pred, t]);
    const mse = g.op('ReduceMean', [g.op('Mul', [diff, diff])], { axes: [-1], keepdims: 0 });
    g.op('Div', [g.op('ReduceSum', [g.op('Mul', [mse, mask])], { keepdims: 0 }), g.op('ReduceSum', [mask], { keepdims: 0 })], {}, out);
    g.output(out, F32, []);
  };
  maskedMean(target, 'loss');
  // norm_pix: per-patch (x − mean)/√(var + 1e-6), unbiased variance (torch.var).
  const mean = g.op('ReduceMean', [target], { axes: [-1], keepdims: 1 });
  const centered = g.op('Sub', [target, mean]);
  const variance = g.op('Div', [g.op('ReduceSum', [g.op('Mul', [centered, centered]), g.shape([-1])], { keepdims: 1 }), g.scalar(P - 1)]);
  maskedMean(g.op('Div', [centered, g.op('Sqrt', [g.op('Add', [variance, g.scalar(1e-6)])])]), 'loss_norm_pix');
  return g.encode();
}
