/**
 * Opening an input that must be a regular file of bounded size. A device (`/dev/zero` never ends),
 * a FIFO (opening one for reading blocks until a writer comes) or a socket is refused at once:
 * the open is non-blocking, and what was opened is checked with fstat before anything is read.
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

function notRegular(what: string, path: string, s: Stats): FileError {
  return new FileError(`${what} '${path}': is ${kindOf(s)}, expected a regular file`);
}

/** Opens `path` for reading; throws FileError unless it is a regular file of at most `maxBytes`. */
export function openRegularFile(path: string, what: string, maxBytes = Infinity): { fd: number; size: number } {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO opens at once instead of waiting for a writer (it has no effect on files).
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileError(`${what} '${path}': no such file`);
    // A socket cannot be opened (ENXIO): say what it is.
    const s = code === 'ENXIO' ? statSync(path, { throwIfNoEntry: false }) : undefined;
    if (s) throw notRegular(what, path, s);
    if (code === 'EACCES' || code === 'EPERM') throw new FileError(`${what} '${path}': permission denied`);
    throw new FileError(`${what} '${path}': ${(e as Error).message}`);
  }
  const s = fstatSync(fd);
  if (!s.isFile()) {
    closeSync(fd);
    if (s.isDirectory()) throw new FileError(`${what} '${path}': is a folder, expected a file`);
    throw notRegular(what, path, s);
  }
  if (s.size > maxBytes) {
    closeSync(fd);
    throw new FileError(`${what} '${path}': is ${s.size} bytes, more than the ${maxBytes / 2 ** 20} MiB limit`);
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
