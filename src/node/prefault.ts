/**
 * Makes a fresh memory resident while the weights are packed into it, on every core.
 *
 * The first write to each 4 KiB page of new memory is a page fault; on a virtual machine each costs
 * ~11 µs, so one thread packing vit-mae-base's weights spent most of its load faulting. Reads of
 * /dev/zero into the memory have the kernel take those faults instead, in libuv's thread pool,
 * several at once, while the caller packs each region as soon as it is resident. `npm run bench --
 * --only=load` measures both in fresh processes: 436 MiB resident in 1.25 s by one thread writing
 * it, 0.69 s by this, on the 2-core bench machine.
 * Where /dev/zero cannot be opened (Windows), nothing is done: the first writes fault as before.
 */
import { closeSync, openSync, read } from 'node:fs';
import type { Prefault } from '../backend/wasm.js';

const CHUNK = 4 << 20;

/**
 * Zeroes the byte ranges [from, to) of a memory, in the order given, from libuv's threads: every
 * read is queued at once, so they go on while this thread is busy. `resident(from, to)` resolves
 * once the part of the ranges inside [from, to) is written; until then it must not be touched.
 */
export function prefaultMemory(memory: WebAssembly.Memory, ranges: ReadonlyArray<readonly [number, number]>): Prefault {
  let fd: number;
  try {
    fd = openSync('/dev/zero', 'r');
  } catch {
    return { resident: () => Promise.resolve(), done: Promise.resolve() };
  }
  const bytes = new Uint8Array(memory.buffer);
  const chunks: Array<{ from: number; to: number; written: Promise<void> }> = [];
  for (const [from, to] of ranges) {
    for (let at = from; at < to; at += CHUNK) {
      const end = Math.min(to, at + CHUNK);
      // A failed read only means those pages fault later; once it has ended the range is free.
      chunks.push({ from: at, to: end, written: zero(fd, bytes, at, end).catch(() => {}) });
    }
  }
  const done = Promise.all(chunks.map((c) => c.written)).then(() => {}).finally(() => closeSync(fd));
  return {
    resident: (from, to) => Promise.all(chunks.filter((c) => c.from < to && c.to > from).map((c) => c.written)).then(() => {}),
    done,
  };
}

/** Reads /dev/zero into bytes [from, to), again where a read returns short. */
async function zero(fd: number, bytes: Uint8Array, from: number, to: number): Promise<void> {
  for (let at = from; at < to;) {
    at += await new Promise<number>((resolve, reject) => read(fd, bytes, at, to - at, null, (e, n) => (e ? reject(e) : resolve(n))));
  }
}
