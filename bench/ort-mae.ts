/**
 * Running onnx-graph.ts's MAE models on onnxruntime-web: a forward session (pred, latent, both
 * losses for the graph's keep) and, optionally, an encoder-only session on all patches.
 */
import { type MaeConfig, shapesOf } from '../src/config.js';
import { ORT_SESSION_OPTIONS, type Ort } from './engines.js';

type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

export interface OrtForwardResult {
  latent: Float32Array;
  pred: Float32Array;
  loss: number;
  lossNormPix: number;
}

const i64 = (ids: ArrayLike<number>): BigInt64Array => BigInt64Array.from(Array.from(ids), (v) => BigInt(v));

export class OrtMae {
  private constructor(private readonly ort: Ort, private readonly cfg: MaeConfig, private readonly fwd?: Session, private readonly enc?: Session) {}

  /** Sessions from model bytes (or file paths); either may be absent. */
  static async create(ort: Ort, cfg: MaeConfig, models: { forward?: Uint8Array | string; encoder?: Uint8Array | string }): Promise<OrtMae> {
    const make = async (m: Uint8Array | string | undefined): Promise<Session | undefined> => {
      if (m === undefined) return undefined;
      return typeof m === 'string' ? ort.InferenceSession.create(m, ORT_SESSION_OPTIONS) : ort.InferenceSession.create(m, ORT_SESSION_OPTIONS);
    };
    const fwd = await make(models.forward);
    const enc = await make(models.encoder);
    return new OrtMae(ort, cfg, fwd, enc);
  }

  private pixels(p: Float32Array) {
    const { numChannels: C, imageSize: H } = this.cfg;
    return new this.ort.Tensor('float32', p, [1, C, H, H]);
  }

  async forward(pixels: Float32Array, idsKeep: ArrayLike<number>, idsRestore: ArrayLike<number>, mask: Float32Array): Promise<OrtForwardResult> {
    if (!this.fwd) throw new Error('no forward session');
    const { numPatches: L } = shapesOf(this.cfg);
    const r = await this.fwd.run({
      pixel_values: this.pixels(pixels),
      ids_keep: new this.ort.Tensor('int64', i64(idsKeep), [idsKeep.length]),
      ids_restore: new this.ort.Tensor('int64', i64(idsRestore), [L]),
      mask: new this.ort.Tensor('float32', mask, [L]),
    });
    return {
      latent: r.latent.data as Float32Array,
      pred: r.pred.data as Float32Array,
      loss: Number((r.loss.data as Float32Array)[0]),
      lossNormPix: Number((r.loss_norm_pix.data as Float32Array)[0]),
    };
  }

  async encode(pixels: Float32Array): Promise<Float32Array> {
    if (!this.enc) throw new Error('no encoder session');
    const { numPatches: L } = shapesOf(this.cfg);
    const ids = i64(Array.from({ length: L }, (_, i) => i));
    const r = await this.enc.run({ pixel_values: this.pixels(pixels), ids_keep: new this.ort.Tensor('int64', ids, [L]) });
    return r.latent.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.fwd?.release();
    await this.enc?.release();
  }
}
