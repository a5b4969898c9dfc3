/**
 * Output files are written whole or not at all: to a temporary name beside the target, then renamed
 * into place. Only a regular file is ever replaced: the rename would put a file where a device
 * node, a symbolic link, a FIFO or a socket was (as root, `--out /dev/full` would replace the device).
 */
import { lstatSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileError } from '../errors.js';
import { kindOf } from './regular-file.js';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  checkOutputPath(path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    // 'wx': a fresh file, never through a link planted at the temporary name.
    writeFileSync(tmp, data, { flag: 'wx' });
    // Checked again just before the rename, which would replace whatever is there by then.
    checkOutputPath(path);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof FileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message;
    throw new FileError(`cannot write '${path}': ${why}`);
  }
}

/**
 * Fails early (before any work) unless `path` is a regular file or a new name in an existing
 * folder. Commands call it first; writeFileAtomic calls it again.
 */
export function checkOutputPath(path: string): void {
  const dir = statSync(dirname(path), { throwIfNoEntry: false });
  if (!dir?.isDirectory()) throw new FileError(`cannot write '${path}': its folder does not exist`);
  // lstat: a symbolic link is refused as such, not judged by its target.
  const s = lstatSync(path, { throwIfNoEntry: false });
  if (s && !s.isFile()) throw new FileError(`cannot write '${path}': is ${kindOf(s)}; outputs replace only a regular file`);
}
