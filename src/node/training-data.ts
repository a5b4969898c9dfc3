/**
 * `--data SPEC` for pretraining, in Node: `fashion-mnist:train` (or `:test`, with an optional
 * range such as `fashion-mnist:train:0-999`; Debian's dataset-fashion-mnist), a folder of PNG/JPEG
 * images (searched recursively), or a safetensors file with `pixel_values` [N,C,H,W]. Images are
 * preprocessed by the model's preprocessor config once, into one array held for the whole run.
 */
import { existsSync, statSync } from 'node:fs';
import type { MaeConfig } from '../config.js';
import { FileError, InputError } from '../errors.js';
import { type PreprocessorConfig } from '../image/preprocess.js';
import { preprocessImage } from '../image/preprocess.js';
import { SafetensorsFile } from '../safetensors.js';
import { type TrainingImages, pixelImages } from '../training/data.js';
import { fashionMnistItems, imageFiles } from './image-files.js';
import { readBytes } from './regular-file.js';

/** Pixels held for training at most (2 GiB of float32: over 680,000 Fashion-MNIST images). */
export const MAX_TRAINING_PIXEL_BYTES = 2 ** 31;

export function loadTrainingImages(spec: string, cfg: MaeConfig, pp: PreprocessorConfig, fashionMnistDir?: string): TrainingImages {
  const size = cfg.numChannels * cfg.imageSize * cfg.imageSize;
  const maxImages = Math.floor(MAX_TRAINING_PIXEL_BYTES / 4 / size);
  const fm = /^fashion-mnist:(train|test)(?::(.+))?$/.exec(spec);
  if (spec.startsWith('fashion-mnist') && !fm) throw new InputError(`--data '${spec}': use fashion-mnist:train or fashion-mnist:test, optionally with a range (fashion-mnist:train:0-999)`);
  let items;
  if (fm) {
    items = fashionMnistItems(`${fm[1]}:${fm[2] ?? (fm[1] === 'train' ? '0-59999' : '0-9999')}`, fashionMnistDir);
  } else if (!existsSync(spec)) {
    throw new FileError(`--data '${spec}': no such file or folder (or use fashion-mnist:train)`);
  } else if (statSync(spec).isFile()) {
    if (!/\.safetensors$/i.test(spec)) throw new InputError(`--data '${spec}': a file must be a .safetensors with pixel_values [N,C,H,W]`);
    const file = SafetensorsFile.parse(readBytes(spec, 'training data', MAX_TRAINING_PIXEL_BYTES), spec);
    if (!file.has('pixel_values')) throw new InputError(`${spec}: no tensor 'pixel_values'`);
    const shape = file.info('pixel_values').shape;
    if (shape.length !== 4 || shape[1] !== cfg.numChannels || shape[2] !== cfg.imageSize || shape[3] !== cfg.imageSize || shape[0]! < 1) {
      throw new InputError(`${spec}: pixel_values has shape [${shape.join(',')}], expected [N,${cfg.numChannels},${cfg.imageSize},${cfg.imageSize}]`);
    }
    return pixelImages(file.f32('pixel_values'), cfg.numChannels, cfg.imageSize);
  } else {
    items = imageFiles([spec]);
  }
  if (items.length === 0) throw new InputError(`--data '${spec}': no images`);
  if (items.length > maxImages) throw new InputError(`--data '${spec}': ${items.length} images are more than the ${maxImages} that ${MAX_TRAINING_PIXEL_BYTES / 2 ** 30} GiB of pixels hold`);
  const pixels = new Float32Array(items.length * size);
  items.forEach((item, i) => pixels.set(preprocessImage(item.load(), pp, cfg.numChannels as 1 | 3), i * size));
  return pixelImages(pixels, cfg.numChannels, cfg.imageSize);
}
