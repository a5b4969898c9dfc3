/**
 * Opening an input that must be a regular file of bounded size. A device (`/dev/zero` never ends),
 * a FIFO (opening one for reading blocks until a writer comes) or a socket is refused at once, from
 * a stat, unopened; the open is non-blocking and what it opened is checked again before any read.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { FileError } from '../errors.js';

/** What a path is, in words, for errors. */
export function kindOf(s: Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isDirectory()) return 'a folder';
  if (s.isSymbolicLink()) return 'a symbolic link';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** A file-system error in words. */
export const reason = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (e as Error).message;
};

function notRegular(what: string, path: string, s: Stats): FileError {
  return new FileError(`${what} '${path}': is ${kindOf(s)}, expected a regular file`);
}

function checkRegular(what: string, path: string, s: Stats, maxBytes: number): void {
  if (s.isDirectory()) throw new FileError(`${what} '${path}': is a folder, expected a file`);
  if (!s.isFile()) throw notRegular(what, path, s);
  if (s.size > maxBytes) throw new FileError(`${what} '${path}': is ${s.size} bytes, more than the ${maxBytes / 2 ** 20} MiB limit`);
}

/** Opens `path` for reading; throws FileError unless it is a regular file of at most `maxBytes`. */
export function openRegularFile(path: string, what: string, maxBytes = Infinity): { fd: number; size: number } {
  // Stat first: opening a device can have effects of its own, and opening a FIFO waits for a writer.
  let before: Stats | undefined;
  try {
    before = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    throw new FileError(`${what} '${path}': ${reason(e)}`);
  }
  if (!before) throw new FileError(`${what} '${path}': no such file`);
  checkRegular(what, path, before, maxBytes);
  let fd: number;
  try {
    // O_NONBLOCK: should a FIFO be swapped in after the stat, it opens at once (no effect on a file).
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new FileError(`${what} '${path}': ${reason(e)}`);
  }
  // What was opened is checked again: the path may have changed since the stat.
  const s = fstatSync(fd);
  try {
    checkRegular(what, path, s, maxBytes);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return { fd, size: s.size };
}

/** The whole of a regular file of at most `maxBytes`, in a fresh Uint8Array (parsers may slice its .buffer). */
export function readBytes(path: string, what: string, maxBytes: number): Uint8Array {
  const { fd, size } = openRegularFile(path, what, maxBytes);
  try {
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, out, done, size - done, done);
      if (n === 0) throw new FileError(`${what} '${path}': file ended at ${done} bytes, expected ${size} (changed while reading?)`);
      done += n;
    }
    return out;
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(`${what} '${path}': ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
