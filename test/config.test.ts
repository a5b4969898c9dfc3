/**
 * Config validation limits: each size field has an upper bound named in its error, a config must
 * fit wasm32's 65,536 pages of memory, and its mask ratio must keep a patch. Sizes here are worked
 * out by hand from the weight shapes, far from the 4 GiB line on either side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFitsWasm32, parseConfig, preset, PRESET_NAMES } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

/** A small valid config (the bundled model's shape). */
const SMALL = {
  image_size: 28, patch_size: 4, num_channels: 1, hidden_size: 128, num_hidden_layers: 6, num_attention_heads: 4,
  intermediate_size: 512, decoder_hidden_size: 64, decoder_num_hidden_layers: 2, decoder_num_attention_heads: 4,
  decoder_intermediate_size: 256, mask_ratio: 0.75,
};

function refused(json: Record<string, unknown>, pattern: RegExp): void {
  assert.throws(() => parseConfig(json, 'c.json'), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `ConfigError expected, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

for (const [field, limit] of [
  ['image_size', 8192], ['patch_size', 8192], ['num_channels', 64], ['hidden_size', 65536], ['num_hidden_layers', 1024],
  ['num_attention_heads', 65536], ['intermediate_size', 65536], ['decoder_hidden_size', 65536], ['decoder_num_hidden_layers', 1024],
  ['decoder_num_attention_heads', 65536], ['decoder_intermediate_size', 65536],
] as const) {
  test(`${field} above ${limit} is refused naming the field and the limit`, () => {
    refused({ ...SMALL, [field]: limit + 1 }, new RegExp(`^c\\.json: field '${field}' is ${limit + 1}, more than the limit of ${limit}$`));
    refused({ ...SMALL, [field]: 1e300 }, new RegExp(`field '${field}' is 1e\\+300, more than the limit of ${limit}`));
  });
}

test('a config needing more than 4 GiB of wasm32 memory is refused, with the pages and the limit', () => {
  // 4 encoder layers of width 4096 and MLP 16384: 4·(4·4096² + 2·4096·16384) = 805,306,368 floats, 3.0 GiB.
  const fits = { ...SMALL, hidden_size: 4096, num_attention_heads: 32, intermediate_size: 16384, num_hidden_layers: 4 };
  assert.doesNotThrow(() => parseConfig(fits));
  for (const name of PRESET_NAMES) assert.doesNotThrow(() => preset(name));
  // 6 such layers: 4.5 GiB of weights alone.
  refused({ ...fits, num_hidden_layers: 6 }, /^c\.json: the model needs \d+ pages \(\d+ MiB: weights \d+ MiB, activations \d+ MiB\) of WebAssembly memory, more than wasm32's 65536 pages \(4 GiB\)$/);
});

test('the memory check counts each thread\'s attention scratch', () => {
  // 224 px in 2-px patches: T = 1 + 112² = 12545 tokens; one thread's T×T scores are 630 MB.
  const cfg = parseConfig({ ...SMALL, image_size: 224, patch_size: 2, num_channels: 1 });
  assert.doesNotThrow(() => checkFitsWasm32(cfg, 1));
  // Eight threads: 5.0 GB of scores.
  assert.throws(() => checkFitsWasm32(cfg, 8, 'c.json'), /^ConfigError: c\.json: the model needs \d+ pages .* for 8 threads\) .* more than wasm32's 65536 pages/);
});

test('a mask ratio that keeps no patch is refused', () => {
  // 49 patches: int(49·(1 − 0.98)) = int(0.98) = 0 kept; 0.97 keeps int(1.47) = 1.
  refused({ ...SMALL, mask_ratio: 0.98 }, /^c\.json: field 'mask_ratio' \(0\.98\) keeps no patch of the 49; the encoder needs at least one$/);
  assert.equal(parseConfig({ ...SMALL, mask_ratio: 0.97 }).maskRatio, 0.97);
});
