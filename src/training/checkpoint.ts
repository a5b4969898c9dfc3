/**
 * What a pretraining run leaves: the model as model.safetensors under Hugging Face names (every
 * trainable tensor plus the two fixed position tables), and a checkpoint holding the same weights,
 * AdamW's moments (`adamw.m/<name>`, `adamw.v/<name>`) and, in its metadata, the step count, the
 * run's position and options — enough to go on exactly where it stopped.
 */
import type { MaeConfig } from '../config.js';
import { InputError } from '../errors.js';
import { type SafetensorsFile, type TensorToWrite } from '../safetensors.js';
import { shapesOf } from '../shapes.js';
import { ENCODER_MASK_TOKEN, namedTensors, trainableParams } from './params.js';
import type { PretrainOptions, PretrainPosition } from './pretrain.js';
import type { WasmTrainer } from './trainer.js';

export const CHECKPOINT_FORMAT = 'edge-mae-pretrain/1';

/** model.safetensors' tensors: the trainable parameters and the fixed sin-cos tables. */
export function modelTensors(trainer: WasmTrainer): Record<string, TensorToWrite> {
  const cfg = trainer.config;
  const { numPatches: L } = shapesOf(cfg);
  const out: Record<string, TensorToWrite> = {};
  for (const [name, t] of Object.entries(trainer.namedParams())) out[name] = { dtype: 'F32', shape: [...t.shape], data: t.data };
  // The encoder's mask token (an ablation's) is no Hugging Face tensor: checkpoints keep it, model folders do not.
  delete out[ENCODER_MASK_TOKEN];
  out['vit.embeddings.position_embeddings'] = { dtype: 'F32', shape: [1, 1 + L, cfg.hiddenSize], data: trainer.params.get('pos')! };
  out['decoder.decoder_pos_embed'] = { dtype: 'F32', shape: [1, 1 + L, cfg.decoderHiddenSize], data: trainer.params.get('dec_pos')! };
  return out;
}

export interface CheckpointMeta {
  readonly format: string;
  readonly position: PretrainPosition;
  readonly adamwSteps: number;
  readonly options: PretrainOptions;
  /** The config the run trains (Hugging Face JSON). */
  readonly config: Record<string, unknown>;
}

/** The checkpoint's tensors and metadata (metadata values are strings in safetensors). */
export function checkpointTensors(trainer: WasmTrainer, meta: Omit<CheckpointMeta, 'format' | 'adamwSteps'>): { tensors: Record<string, TensorToWrite>; metadata: Record<string, string> } {
  const tensors = modelTensors(trainer);
  for (const [name, t] of Object.entries(trainer.namedParams())) tensors[name] ??= { dtype: 'F32', shape: [...t.shape], data: t.data };
  const { m, v } = trainer.optimizerState();
  for (const [prefix, moments] of [['adamw.m', m], ['adamw.v', v]] as const) {
    for (const [name, t] of Object.entries(namedTensors(trainer.config, (c) => moments.get(c)!, trainer.variant))) tensors[`${prefix}/${name}`] = { dtype: 'F32', shape: [...t.shape], data: t.data };
  }
  const full: CheckpointMeta = { format: CHECKPOINT_FORMAT, adamwSteps: trainer.steps, ...meta };
  return { tensors, metadata: { checkpoint: JSON.stringify(full) } };
}

/** Reads a checkpoint's metadata, checking it is one and that it trains `cfg`'s shapes. */
export function checkpointMeta(file: SafetensorsFile, source: string): CheckpointMeta {
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(file.metadata.checkpoint ?? '') as CheckpointMeta;
  } catch {
    throw new InputError(`${source}: not an edge-mae pretraining checkpoint (no 'checkpoint' metadata)`);
  }
  if (meta?.format !== CHECKPOINT_FORMAT) throw new InputError(`${source}: checkpoint format '${String(meta?.format)}', expected '${CHECKPOINT_FORMAT}'`);
  return meta;
}

/** Writes a checkpoint's weights and moments into a trainer made for the same config, and its step count. */
export function restoreCheckpoint(trainer: WasmTrainer, file: SafetensorsFile, meta: CheckpointMeta, source: string): void {
  const cfg: MaeConfig = trainer.config;
  const { m, v } = trainer.optimizerState();
  for (const t of trainableParams(cfg, trainer.variant)) {
    for (const [prefix, target] of [['', trainer.params], ['adamw.m/', m], ['adamw.v/', v]] as const) {
      const key = `${prefix}${t.name}`;
      if (!file.has(key)) throw new InputError(`${source}: no tensor '${key}'`);
      const values = file.f32(key);
      if (values.length !== t.length) throw new InputError(`${source}: '${key}' has ${values.length} values, expected ${t.length}`);
      target.get(t.canonical)!.set(values, t.offset);
    }
  }
  trainer.restoreSteps(meta.adamwSteps);
}
