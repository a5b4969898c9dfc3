/**
 * A file read in pieces (positional reads on an open descriptor) through one reusable buffer:
 * large weights are never loaded whole. Each read is valid until the next.
 */
import { closeSync, readSync } from 'node:fs';
import { FileError } from '../errors.js';
import type { ByteSource } from '../safetensors.js';
import { openRegularFile } from './regular-file.js';

export interface FileByteSource extends ByteSource {
  close(): void;
  /**
   * Reads land in `region` (from its start) while it is set and large enough, instead of this
   * source's own buffer: the WASM backend lends its staging memory, so a weight is read straight
   * where it is packed from and the source never holds a copy of its own. Unset with undefined.
   */
  useScratch(region: Uint8Array | undefined): void;
}

export function openFileSource(path: string, what: string): FileByteSource {
  // A regular file only: a FIFO or a device would block or never end.
  const { fd, size } = openRegularFile(path, what);
  let open = true;
  // One read buffer, grown to the largest tensor: reads are consumed before the next one.
  let buffer = new Uint8Array(0);
  let scratch: Uint8Array | undefined;
  return {
    byteLength: size,
    read(offset: number, length: number): Uint8Array {
      if (!open) throw new FileError(`${what} '${path}': read after close`);
      let out: Uint8Array;
      if (scratch && length <= scratch.length) out = scratch.subarray(0, length);
      else {
        if (buffer.length < length) buffer = new Uint8Array(Math.max(length, buffer.length * 2));
        out = buffer.subarray(0, length);
      }
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new FileError(`${what} '${path}': file ended at ${offset + done} bytes, expected ${offset + length} (changed while reading?)`);
        done += n;
      }
      return out;
    },
    useScratch(region: Uint8Array | undefined): void {
      scratch = region;
    },
    close(): void {
      if (open) closeSync(fd);
      open = false;
      scratch = undefined;
    },
  };
}
