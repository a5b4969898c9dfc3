/** Output files are written whole or not at all: to a temporary name beside the target, then renamed into place. */
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileError } from '../errors.js';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (e as Error).message;
    throw new FileError(`cannot write '${path}': ${why}`);
  }
}

/** Fails early (before any work) when an output's folder does not exist or the path is a folder. */
export function checkOutputPath(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FileError(`cannot write '${path}': its folder does not exist`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new FileError(`cannot write '${path}': is a folder`);
}
