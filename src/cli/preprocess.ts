/** `edge-mae preprocess`: images → the model's pixel_values [N,C,H,W], with only config.json and preprocessor_config.json. */
import { join } from 'node:path';
import { imageFiles } from '../node/image-files.js';
import { readConfig, readPreprocessorJson } from '../node/load.js';
import { DEFAULT_MODEL_DIR } from '../node/paths.js';
import { parsePreprocessorConfig, preprocessImage } from '../image/preprocess.js';
import { encodeSafetensors } from '../safetensors.js';
import { checkOutputPath, writeFileAtomic } from '../node/atomic-write.js';
import { imagePixels } from '../patchify.js';

export interface PreprocessArgs {
  images: string[];
  model?: string;
  out: string;
}

export function runPreprocess(a: PreprocessArgs, log: (line: string) => void): void {
  checkOutputPath(a.out);
  const dir = a.model ?? DEFAULT_MODEL_DIR;
  const cfg = readConfig(join(dir, 'config.json'));
  const pp = parsePreprocessorConfig(readPreprocessorJson(dir), cfg.imageSize, cfg.numChannels, join(dir, 'preprocessor_config.json'));
  const items = imageFiles(a.images);
  const per = imagePixels(cfg);
  const pixels = new Float32Array(items.length * per);
  // Every image must load: the output lists them in argument order, with no gaps.
  items.forEach((item, i) => pixels.set(preprocessImage(item.load(), pp, cfg.numChannels as 1 | 3), i * per));
  writeFileAtomic(a.out, encodeSafetensors(
    { pixel_values: { dtype: 'F32', shape: [items.length, cfg.numChannels, cfg.imageSize, cfg.imageSize], data: pixels } },
    { images: JSON.stringify(items.map((x) => x.name)) },
  ));
  log(`preprocess: ${items.length} image(s) → pixel_values [${items.length},${cfg.numChannels},${cfg.imageSize},${cfg.imageSize}] → ${a.out}`);
}
