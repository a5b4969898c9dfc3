/**
 * `edge-mae gradients`: d loss / d parameter of the MAE on pixel tensors, for the plain and the
 * normalised-pixel loss (same mask), under the model.safetensors names; with --adamw-step LR also
 * one AdamW step from the weights file (fresh state, MAE's optimizer settings) and the plain loss
 * of the stepped model on the same pixels and mask. The tensor names are those of the golden
 * grads.safetensors (test/fixtures/golden/<case>/grads.safetensors), plus `loss`, `loss_norm_pix`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ModelArgs, loadModel } from './model-args.js';
import { checkOutputPath, writeFileAtomic } from '../node/atomic-write.js';
import { openFileSource } from '../node/file-source.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';
import { f32, readInputs, scalar, writeTensors } from './tensors-io.js';
import type { TensorToWrite } from '../safetensors.js';
import { SafetensorsFile, encodeSafetensors } from '../safetensors.js';
import { type BlockWeights, type MaeWeights, loadWeights } from '../weights.js';
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../shapes.js';
import { InputError, WeightsError } from '../errors.js';
import { type NamedTensor, type TrainableParam, trainableParams } from '../training/params.js';
import { ADAMW_DEFAULTS, AdamW } from '../training/adamw.js';

export interface GradientsArgs extends ModelArgs {
  inputs: string;
  out: string;
  maskRatio?: number;
  seed?: number;
  /** Learning rate of one AdamW step from the weights file (absent: no step). */
  adamwStep?: number;
}

const BLOCK_FIELDS: Readonly<Record<string, keyof BlockWeights>> = {
  'ln1.w': 'ln1W', 'ln1.b': 'ln1B', 'qkv.w': 'qkvW', 'qkv.b': 'qkvB', 'proj.w': 'projW', 'proj.b': 'projB',
  'ln2.w': 'ln2W', 'ln2.b': 'ln2B', 'fc1.w': 'fc1W', 'fc1.b': 'fc1B', 'fc2.w': 'fc2W', 'fc2.b': 'fc2B',
};

const TOP_FIELDS: Readonly<Record<string, keyof MaeWeights>> = {
  // The layout's cls_pos is cls_token + pos_embed[0]; pos row 0 is all zeros, so it is the cls token.
  cls_pos: 'clsToken', 'patch.w': 'patchW', 'patch.b': 'patchB', 'norm.w': 'normW', 'norm.b': 'normB',
  'dec_embed.w': 'decoderEmbedW', 'dec_embed.b': 'decoderEmbedB', mask_token: 'maskToken',
  'dec_norm.w': 'decoderNormW', 'dec_norm.b': 'decoderNormB', 'pred.w': 'predW', 'pred.b': 'predB',
};

/** The array of loaded weights that holds a canonical (layout) weight, as params.ts names them. */
export function canonicalArray(w: MaeWeights, canonical: string): Float32Array {
  const top = TOP_FIELDS[canonical];
  if (top) return w[top] as Float32Array;
  const m = /^(enc|dec)\.(\d+)\.(.+)$/.exec(canonical);
  const field = m ? BLOCK_FIELDS[m[3]!] : undefined;
  const block = m ? (m[1] === 'enc' ? w.encoder : w.decoder)[Number(m[2])] : undefined;
  if (!field || !block) throw new WeightsError(`no canonical weight '${canonical}'`);
  return block[field];
}

/** Copies of every trainable parameter of `w`, by model.safetensors name. */
export function trainableValues(w: MaeWeights, params: readonly TrainableParam[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const t of params) {
    const a = canonicalArray(w, t.canonical);
    if (a.length < t.offset + t.length) throw new WeightsError(`canonical weight '${t.canonical}' has ${a.length} values, '${t.name}' needs ${t.offset + t.length}`);
    out[t.name] = a.slice(t.offset, t.offset + t.length);
  }
  return out;
}

/** The weights file a model is loaded from, as loadModel resolves it. */
function weightsPath(a: ModelArgs): string {
  if (a.weights) return a.weights;
  return join(a.model ?? DEFAULT_MODEL_DIR, 'model.safetensors');
}

function readWeights(path: string, cfg: MaeConfig): MaeWeights {
  const bytes = openFileSource(path, 'weights');
  try {
    return loadWeights(SafetensorsFile.open(bytes, path), cfg);
  } finally {
    bytes.close();
  }
}

/** A model.safetensors (Hugging Face names) of trainable values plus the loaded position tables. */
function hfWeightsFile(cfg: MaeConfig, params: readonly TrainableParam[], values: Record<string, Float32Array>, w: MaeWeights): Uint8Array {
  const L = shapesOf(cfg).numPatches;
  const tensors: Record<string, TensorToWrite> = {
    'vit.embeddings.position_embeddings': f32([1, 1 + L, cfg.hiddenSize], w.posEmbed),
    'decoder.decoder_pos_embed': f32([1, 1 + L, cfg.decoderHiddenSize], w.decoderPosEmbed),
  };
  for (const t of params) tensors[t.name] = f32([...t.shape], values[t.name]!);
  return encodeSafetensors(tensors, { format: 'pt', producer: 'edge-mae gradients (AdamW step)' });
}

function checkGrads(grads: Record<string, NamedTensor>, params: readonly TrainableParam[], what: string): void {
  for (const t of params) {
    const g = grads[t.name];
    if (!g || !(g.data instanceof Float32Array) || g.data.length !== t.length) {
      throw new InputError(`${what}: no gradient of ${t.length} values for '${t.name}'`);
    }
  }
}

export async function runGradients(a: GradientsArgs, log: (line: string) => void): Promise<void> {
  checkOutputPath(a.out);
  const model = await loadModel(a);
  let disposed = false;
  try {
    const cfg = model.config;
    const params = trainableParams(cfg);
    const { pixels, batch, noise } = readInputs(a.inputs, cfg);
    const opts = { batch, noise, seed: a.seed, maskRatio: a.maskRatio };
    const plain = await model.gradients(pixels, { ...opts, normPix: false });
    const normed = await model.gradients(pixels, { ...opts, normPix: true });
    checkGrads(plain.grads, params, 'gradients');
    checkGrads(normed.grads, params, 'gradients (norm_pix)');
    const tensors: Record<string, TensorToWrite> = { loss: scalar(plain.loss), loss_norm_pix: scalar(normed.lossNormPix) };
    for (const t of params) {
      tensors[`grad/${t.name}`] = f32([...t.shape], plain.grads[t.name]!.data);
      tensors[`grad_norm_pix/${t.name}`] = f32([...t.shape], normed.grads[t.name]!.data);
    }
    const metadata: Record<string, string> = {
      producer: 'edge-mae gradients',
      mask_ratio: String(a.maskRatio ?? cfg.maskRatio),
      len_keep: String(plain.lenKeep),
      noise: noise ? 'input' : `seed ${a.seed ?? 0}`,
      grad: 'd loss / d parameter (norm_pix_loss false), loss over removed patches; query/key/value split like the weights',
      grad_norm_pix: 'd loss_norm_pix / d parameter, same mask',
      no_grad: 'vit.embeddings.position_embeddings,decoder.decoder_pos_embed',
    };
    let after = '';
    const backend = model.backendDescription;
    if (a.adamwStep !== undefined) {
      // AdamW with fresh state from the weights file's values (what the model was loaded from).
      const w = readWeights(weightsPath(a), cfg);
      const values = trainableValues(w, params);
      const grads: Record<string, Float32Array> = {};
      for (const t of params) grads[t.name] = plain.grads[t.name]!.data;
      new AdamW(params, { lr: a.adamwStep }).step(values, grads);
      for (const t of params) tensors[`adamw1/${t.name}`] = f32([...t.shape], values[t.name]!);
      // The stepped model is loaded once this one's memory is given back.
      model.dispose();
      disposed = true;
      const lossAfter = await lossWithWeights(a, hfWeightsFile(cfg, params, values, w), pixels, opts);
      tensors.loss_after_adamw1 = scalar(lossAfter);
      Object.assign(metadata, {
        lr: String(a.adamwStep),
        betas: ADAMW_DEFAULTS.betas.join(','),
        eps: String(ADAMW_DEFAULTS.eps),
        weight_decay: String(ADAMW_DEFAULTS.weightDecay),
        adamw1: 'one AdamW step (fresh state) from the weights file with grad/*',
        loss_after_adamw1: 'plain loss with the adamw1 weights, same pixel_values and mask',
      });
      after = `, one AdamW step (lr ${a.adamwStep}) → loss ${lossAfter.toFixed(6)}`;
    }
    writeTensors(a.out, tensors, metadata);
    const L = model.shapes.numPatches;
    log(`gradients: ${batch} image(s), ${plain.lenKeep}/${L} patches kept, loss ${plain.loss.toFixed(6)}, loss_norm_pix ${normed.lossNormPix.toFixed(6)}, ${params.length} parameters${after} → ${a.out} (${backend})`);
  } finally {
    if (!disposed) model.dispose();
  }
}

/** The plain loss of a model with the given weights file bytes (written to a temporary folder), same pixels and mask. */
async function lossWithWeights(a: GradientsArgs, weightsBytes: Uint8Array, pixels: Float32Array, opts: { batch: number; noise?: Float32Array; seed?: number; maskRatio?: number }): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-mae-adamw-'));
  try {
    const file = join(dir, 'model.safetensors');
    writeFileAtomic(file, weightsBytes);
    // Same config and kernels as the first model; only the weights file differs.
    const model = await loadModel({ ...a, weights: file });
    try {
      return (await model.forward(pixels, opts)).loss;
    } finally {
      model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
