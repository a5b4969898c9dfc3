/**
 * Image sources for the CLI: files and folders (walked for PNG/JPEG) and Fashion-MNIST selections.
 * Each item loads lazily, so one unreadable image can be reported and skipped while the others run.
 */
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileError } from '../errors.js';
import { type DecodeLimits, type RawImage, decodeImage } from '../image/decode.js';
import { fashionMnistImage, fashionMnistLabel, parseFashionMnistSpec } from '../data/fashion-mnist.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { kindOf, readBytes, reason } from './regular-file.js';

export interface ImageItem {
  /** File path, or e.g. `fashion-mnist:test:3` for dataset images. */
  readonly name: string;
  /** Files: `limits` are checked on the header's size before decoding. */
  load(limits?: DecodeLimits): RawImage;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** An image file is read whole before it is decoded: larger files are refused unread. */
export const MAX_IMAGE_FILE_BYTES = 64 * 2 ** 20;

function listFolder(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  } catch (e) {
    throw new FileError(`folder '${dir}': cannot be read (${reason(e)})`);
  }
}

const imageFile = (path: string): ImageItem => ({ name: path, load: (limits) => decodeImage(readBytes(path, 'image', MAX_IMAGE_FILE_BYTES), path, limits) });

/** A subfolder that cannot be listed: an item that fails, so it is reported by name and the rest go on. */
const unreadableFolder = (path: string, error: FileError): ImageItem => ({ name: path, load: () => { throw error; } });

/**
 * Image files under a folder, sorted. Symbolic links to folders are not followed (no loops);
 * FIFOs, sockets and devices are passed over, whatever their names.
 */
function walk(dir: string, entries: readonly Dirent[], out: ImageItem[]): void {
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      let sub: Dirent[];
      try {
        sub = listFolder(p);
      } catch (err) {
        if (!(err instanceof FileError)) throw err;
        out.push(unreadableFolder(p, err));
        continue;
      }
      walk(p, sub, out);
    } else if ((e.isFile() || e.isSymbolicLink()) && IMAGE_EXT.test(e.name)) {
      out.push(imageFile(p));
    }
  }
}

/**
 * Files as given (in order) and folders walked recursively (sorted). A named path that is neither
 * a regular file nor a folder, and a folder without images, are errors.
 */
export function imageFiles(args: readonly string[]): ImageItem[] {
  const items: ImageItem[] = [];
  for (const a of args) {
    let s;
    try {
      s = statSync(a, { throwIfNoEntry: false });
    } catch (e) {
      throw new FileError(`image '${a}': ${reason(e)}`);
    }
    if (!s) throw new FileError(`image '${a}': no such file or folder`);
    if (s.isDirectory()) {
      const found: ImageItem[] = [];
      walk(a, listFolder(a), found);
      if (found.length === 0) throw new FileError(`folder '${a}' has no PNG or JPEG images`);
      items.push(...found);
    } else if (s.isFile()) {
      items.push(imageFile(a));
    } else {
      throw new FileError(`image '${a}': is ${kindOf(s)}, expected a regular file or a folder`);
    }
  }
  return items;
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
