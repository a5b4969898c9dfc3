/**
 * What keeps a model's load within weights + 100 MB: the staging region overlays the activations
 * (it is needed only while packing) without touching any weight, and a file source reads into the
 * region the backend lends it instead of a buffer of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preset } from '../src/config.js';
import { layoutOf, linearShapes, memoryPages, ARENA_BASE } from '../src/plan.js';
import { openFileSource } from '../src/node/file-source.js';
import { tempDir } from './helpers.js';

test('staging overlays the activations: after every weight, inside the memory, as large as the largest Linear', () => {
  for (const name of ['vit-mae-base', 'vit-mae-large']) {
    const cfg = preset(name);
    const layout = layoutOf(cfg);
    const staging = layout.buffers.staging;
    const weightsEnd = Math.max(...Object.values(layout.weights).map((r) => r.offset + r.length * 4));
    assert.ok(staging.offset >= weightsEnd, `${name}: staging starts after the weights`);
    assert.equal(staging.length, Math.max(...linearShapes(cfg).map(([n, k]) => n * k)));
    assert.ok(ARENA_BASE + staging.offset + staging.length * 4 <= memoryPages(layout) * 65536, `${name}: staging fits the memory`);
    const others = Object.entries(layout.buffers).filter(([b]) => b !== 'staging');
    assert.ok(others.some(([, r]) => r.offset === staging.offset), `${name}: staging shares its start with an activation buffer`);
  }
});

test('a file source reads into a lent region while it is set, into its own buffer otherwise', () => {
  const path = join(tempDir(), 'bytes.bin');
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
  writeFileSync(path, data);
  const source = openFileSource(path, 'test file');
  try {
    const region = new Uint8Array(new ArrayBuffer(256), 0, 200);
    source.useScratch(region);
    const a = source.read(100, 150);
    assert.equal(a.buffer, region.buffer, 'a read that fits lands in the region');
    assert.equal(a.byteOffset, region.byteOffset);
    assert.deepEqual(Array.from(a), Array.from(data.subarray(100, 250)));
    const b = source.read(0, 300);
    assert.notEqual(b.buffer, region.buffer, 'a read larger than the region uses the source\'s own buffer');
    assert.deepEqual(Array.from(b), Array.from(data.subarray(0, 300)));
    source.useScratch(undefined);
    region.fill(0);
    const c = source.read(10, 20);
    assert.notEqual(c.buffer, region.buffer);
    assert.ok(region.every((x) => x === 0), 'once unset, the region is not written');
    assert.deepEqual(Array.from(c), Array.from(data.subarray(10, 30)));
  } finally {
    source.close();
  }
});
