/**
 * A file read in pieces (positional reads on an open descriptor) through one reusable buffer:
 * large weights are never loaded whole. Each read is valid until the next.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FileError } from '../errors.js';
import type { ByteSource } from '../safetensors.js';

export interface FileByteSource extends ByteSource {
  close(): void;
}

export function openFileSource(path: string, what: string): FileByteSource {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileError(`${what} '${path}': ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const stat = fstatSync(fd);
  if (stat.isDirectory()) {
    closeSync(fd);
    throw new FileError(`${what} '${path}': is a folder, expected a file`);
  }
  let open = true;
  // One read buffer, grown to the largest tensor: reads are consumed before the next one.
  let buffer = new Uint8Array(0);
  return {
    byteLength: stat.size,
    read(offset: number, length: number): Uint8Array {
      if (!open) throw new FileError(`${what} '${path}': read after close`);
      if (buffer.length < length) buffer = new Uint8Array(Math.max(length, buffer.length * 2));
      const out = buffer.subarray(0, length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new FileError(`${what} '${path}': file ended at ${offset + done} bytes, expected ${offset + length} (changed while reading?)`);
        done += n;
      }
      return out;
    },
    close(): void {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
