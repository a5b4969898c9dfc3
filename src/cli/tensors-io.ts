/** Reading model inputs from and writing results to safetensors files, for the CLI. */
import { InputError } from '../errors.js';
import { SafetensorsFile, type TensorToWrite, encodeSafetensors } from '../safetensors.js';
import { readBytes } from '../node/regular-file.js';
import { writeFileAtomic } from '../node/atomic-write.js';
import type { MaeConfig } from '../config.js';

export interface ModelInputs {
  pixels: Float32Array;
  batch: number;
  noise?: Float32Array;
}

/** Inputs are read whole: 1 GiB holds over 1,700 vit-mae-base images. */
export const MAX_INPUTS_BYTES = 2 ** 30;

/** `pixel_values` [N,C,H,W] and, when present, `noise` [N,L], checked against the config. */
export function readInputs(path: string, cfg: MaeConfig): ModelInputs {
  const file = SafetensorsFile.parse(readBytes(path, 'inputs', MAX_INPUTS_BYTES), path);
  if (!file.has('pixel_values')) throw new InputError(`${path}: no tensor 'pixel_values' (found: ${file.names().slice(0, 8).join(', ') || 'none'})`);
  const info = file.info('pixel_values');
  const [n, c, h, w] = info.shape;
  if (info.shape.length !== 4 || c !== cfg.numChannels || h !== cfg.imageSize || w !== cfg.imageSize || n < 1) {
    throw new InputError(`${path}: pixel_values has shape [${info.shape.join(',')}], expected [N,${cfg.numChannels},${cfg.imageSize},${cfg.imageSize}]`);
  }
  const inputs: ModelInputs = { pixels: file.f32('pixel_values'), batch: n };
  if (file.has('noise')) {
    const L = (cfg.imageSize / cfg.patchSize) ** 2;
    const s = file.info('noise').shape;
    if (s.length !== 2 || s[0] !== n || s[1] !== L) throw new InputError(`${path}: noise has shape [${s.join(',')}], expected [${n},${L}]`);
    inputs.noise = file.f32('noise');
  }
  return inputs;
}

export const f32 = (shape: number[], data: Float32Array): TensorToWrite => ({ dtype: 'F32', shape, data });
export const i64 = (shape: number[], data: Int32Array): TensorToWrite => ({ dtype: 'I64', shape, data: BigInt64Array.from(data, (v) => BigInt(v)) });
export const scalar = (v: number): TensorToWrite => ({ dtype: 'F32', shape: [], data: Float32Array.of(v) });

export function writeTensors(path: string, tensors: Record<string, TensorToWrite>, metadata: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
