/**
 * prefaultMemory (src/node/prefault.ts): it zeroes exactly the ranges it is given — the kernel
 * module's static data below the arena and anything outside them must survive it — and
 * `resident(from, to)` resolves only once that part is written (the packing writes right after).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prefaultMemory } from '../src/node/prefault.js';

test('prefaultMemory zeroes its ranges and nothing else; resident() waits for the part asked', async () => {
  for (const shared of [false, true]) {
    const pages = 400; // 25 MiB: several 4 MiB reads per range, running side by side
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(0xab);
    const end = bytes.length;
    const ranges: Array<[number, number]> = [[end - (3 << 20) - 7, end - 4096], [65536 + 3, 9 << 20], [(9 << 20) + 100, end - (3 << 20) - 7]];
    const p = prefaultMemory(memory, ranges);
    const [from, to] = [(9 << 20) + 100 + (5 << 20), (9 << 20) + 100 + (6 << 20)];
    await p.resident(from, to);
    assert.equal(bytes.subarray(from, to).every((b) => b === 0), true, `[${from}, ${to}) zero once resident (shared: ${shared})`);
    await p.done;
    const kept = (a: number, b: number) => bytes.subarray(a, b).every((x) => x === 0xab);
    const zeroed = (a: number, b: number) => bytes.subarray(a, b).every((x) => x === 0);
    for (const [a, b] of ranges) assert.ok(zeroed(a, b), `[${a}, ${b}) zeroed (shared: ${shared})`);
    assert.ok(kept(0, 65536 + 3), 'static data below the arena kept');
    assert.ok(kept(9 << 20, (9 << 20) + 100), 'a gap between ranges kept');
    assert.ok(kept(end - 4096, end), 'the tail past the last range kept');
  }
});
