/**
 * Makes a fresh memory resident before the weights are packed into it, on every core.
 *
 * The first write to each 4 KiB page of new memory is a page fault; on a virtual machine each costs
 * ~13 µs (measured: filling 437 MiB of new memory takes 1.4–1.6 s on the 2-core bench machine, a
 * second fill 25 ms), so one thread packing vit-mae-base's weights spends most of its load time
 * faulting. A read of /dev/zero into the memory has the kernel take those faults instead, in
 * libuv's thread pool, several reads at once: 0.7–0.8 s for the same memory on 2 cores.
 * Where /dev/zero cannot be opened (Windows), nothing is done: the first writes fault as before.
 */
import { close, open, read } from 'node:fs';
import { availableParallelism } from 'node:os';

const CHUNK = 8 << 20;

/** Zeroes bytes [from, to) of a memory, faulting their pages in from libuv's threads. */
export async function prefaultMemory(memory: WebAssembly.Memory, from = 0, to = memory.buffer.byteLength): Promise<void> {
  const fd = await new Promise<number | undefined>((resolve) => open('/dev/zero', 'r', (e, fd) => resolve(e ? undefined : fd)));
  if (fd === undefined) return;
  const bytes = new Uint8Array(memory.buffer);
  let next = from;
  const readChunks = async (): Promise<void> => {
    while (next < to) {
      const at = next;
      const length = Math.min(CHUNK, to - at);
      next += length;
      for (let done = 0; done < length;) {
        done += await new Promise<number>((resolve, reject) => read(fd, bytes, at + done, length - done, null, (e, n) => (e ? reject(e) : resolve(n))));
      }
    }
  };
  try {
    // As many reads in flight as libuv runs at once (its pool has 4 threads unless set otherwise).
    await Promise.all(Array.from({ length: Math.min(4, availableParallelism()) }, readChunks));
  } finally {
    close(fd, () => {});
  }
}
