/**
 * A short, fixed-seed run of the image mutation fuzz (scripts/fuzz-images.ts): 1,500 mutated PNGs
 * and JPEGs, each decoded or refused with a typed error, with imageSize agreeing with the decoder,
 * none slower than 1 s. (The previous sniffer, which stopped at junk between JPEG segments, fails
 * 8 of these cases.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzImages } from '../scripts/fuzz-images.js';

test('mutation fuzz: 1,500 cases (seed 1) give decoded images or typed errors, none slower than 1 s', { timeout: 120_000 }, () => {
  const r = fuzzImages({ count: 1500, seed: 1 });
  assert.equal(r.cases, 1500);
  assert.deepEqual(r.failures.map((f) => `case ${f.index} (${f.source}: ${f.mutations.join(', ')}): ${f.problem}`), []);
  assert.ok(r.decoded > 0 && r.refused > 0, `${r.decoded} decoded, ${r.refused} refused`);
});
