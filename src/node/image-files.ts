/**
 * Image sources for the CLI: files and folders (walked for PNG/JPEG) and Fashion-MNIST selections.
 * Each item loads lazily, so one unreadable image can be reported and skipped while the others run.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileError } from '../errors.js';
import { type DecodeLimits, type RawImage, decodeImage } from '../image/decode.js';
import { fashionMnistImage, fashionMnistLabel, parseFashionMnistSpec } from '../data/fashion-mnist.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { readBytes } from './load.js';

export interface ImageItem {
  /** File path, or e.g. `fashion-mnist:test:3` for dataset images. */
  readonly name: string;
  /** Files: `limits` are checked on the header's size before decoding. */
  load(limits?: DecodeLimits): RawImage;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (IMAGE_EXT.test(e.name)) out.push(p);
  }
}

/** Files as given (in order) and folders walked recursively (sorted); a folder without images is an error. */
export function imageFiles(args: readonly string[]): ImageItem[] {
  const paths: string[] = [];
  for (const a of args) {
    if (!existsSync(a)) throw new FileError(`image '${a}': no such file or folder`);
    if (statSync(a).isDirectory()) {
      const found: string[] = [];
      walk(a, found);
      if (found.length === 0) throw new FileError(`folder '${a}' has no PNG or JPEG images`);
      paths.push(...found);
    } else {
      paths.push(a);
    }
  }
  return paths.map((p) => ({ name: p, load: (limits) => decodeImage(readBytes(p, 'image'), p, limits) }));
}

/** Images of a Fashion-MNIST selection such as `test:0-7` (Debian's dataset-fashion-mnist files). */
export function fashionMnistItems(spec: string, dir?: string): ImageItem[] {
  const sel = parseFashionMnistSpec(spec);
  const data = loadFashionMnist(sel.split, dir);
  return sel.indices.map((i) => ({
    name: `fashion-mnist:${sel.split}:${i} (${fashionMnistLabel(data.labels, i).name})`,
    load: () => fashionMnistImage(data.images, i),
  }));
}
