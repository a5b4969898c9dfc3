/**
 * prefaultMemory (src/node/prefault.ts): it zeroes exactly the range it is given — the kernel
 * module's static data below the arena and anything past the range must survive it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prefaultMemory } from '../src/node/prefault.js';

test('prefaultMemory zeroes [from, to) of a memory and nothing else, in several reads', async () => {
  for (const shared of [false, true]) {
    const pages = 400; // 25 MiB: more than one 8 MiB read, so reads run side by side
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(0xab);
    const from = 65536 + 3, to = bytes.length - 4096 - 5;
    await prefaultMemory(memory, from, to);
    assert.equal(bytes.subarray(0, from).every((b) => b === 0xab), true, `bytes before ${from} kept (shared: ${shared})`);
    assert.equal(bytes.subarray(to).every((b) => b === 0xab), true, `bytes from ${to} on kept (shared: ${shared})`);
    assert.equal(bytes.subarray(from, to).every((b) => b === 0), true, `[${from}, ${to}) zeroed (shared: ${shared})`);
  }
});
