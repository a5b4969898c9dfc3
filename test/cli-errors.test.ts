/**
 * Bad input through the CLI: one line on stderr naming the file/field and the problem, a non-zero
 * exit, no stack trace, and no output file left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors } from '../src/safetensors.js';
import { GOLDEN, runCli, tempDir } from './helpers.js';

const TINY = join(GOLDEN, 'tiny');

function modelCopy(edit?: (cfg: Record<string, unknown>) => void): string {
  const dir = join(tempDir(), 'model');
  mkdirSync(dir);
  const cfg = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  edit?.(cfg);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  copyFileSync(join(TINY, 'model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}

function expectFailure(args: string[], pattern: RegExp, outFile?: string): void {
  const r = runCli(args);
  assert.notEqual(r.status, 0, `expected failure, got exit 0: ${r.stdout}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  if (outFile) {
    assert.ok(!existsSync(outFile), 'no output file is left behind');
    const leftovers = readdirSync(join(outFile, '..')).filter((f) => f.includes('.tmp'));
    assert.deepEqual(leftovers, [], 'no temporary file is left behind');
  }
}

const io = join(TINY, 'io.safetensors');

test('a model folder without config.json', () => {
  const out = join(tempDir(), 'o.safetensors');
  expectFailure(['forward', '--model', tempDir(), '--inputs', io, '--out', out], /model folder '.*' has no config\.json/, out);
});

test('a model folder without model.safetensors', () => {
  const dir = tempDir();
  copyFileSync(join(TINY, 'config.json'), join(dir, 'config.json'));
  const out = join(tempDir(), 'o.safetensors');
  expectFailure(['forward', '--model', dir, '--inputs', io, '--out', out], /model folder '.*' has no model\.safetensors/, out);
});

for (const [field, value, rule] of [
  ['patch_size', 5, /'image_size' \(32\) must be divisible by 'patch_size' \(5\)/],
  ['num_attention_heads', 3, /'hidden_size' \(64\) must be divisible by 'num_attention_heads' \(3\)/],
  ['hidden_act', 'relu', /'hidden_act' is "relu"; supported: gelu/],
  ['mask_ratio', 1, /'mask_ratio' must be in \[0, 1\), got 1/],
  ['decoder_num_attention_heads', 5, /'decoder_hidden_size' \(32\) must be divisible by 'decoder_num_attention_heads' \(5\)/],
] as const) {
  test(`config.json with an invalid ${field}`, () => {
    const dir = modelCopy((c) => { c[field] = value; });
    const out = join(tempDir(), 'o.safetensors');
    expectFailure(['forward', '--model', dir, '--inputs', io, '--out', out], rule, out);
  });
}

test('weights of another config: the tensor and both shapes are named', () => {
  const dir = modelCopy();
  copyFileSync(join(GOLDEN, 'small', 'model.safetensors'), join(dir, 'model.safetensors'));
  const out = join(tempDir(), 'o.safetensors');
  expectFailure(['forward', '--model', dir, '--inputs', io, '--out', out], /model\.safetensors.*(expected|config)/, out);
});

test('a truncated weights file', () => {
  const dir = modelCopy();
  const bytes = readFileSync(join(TINY, 'model.safetensors'));
  writeFileSync(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
  const out = join(tempDir(), 'o.safetensors');
  expectFailure(['forward', '--model', dir, '--inputs', io, '--out', out], /model\.safetensors/, out);
});

test('a weights file that is not safetensors', () => {
  const dir = modelCopy();
  writeFileSync(join(dir, 'model.safetensors'), 'not a safetensors file at all');
  expectFailure(['encode', '--model', dir, '--inputs', io, '--out', join(tempDir(), 'o.safetensors')], /model\.safetensors/);
});

test('inputs with pixel_values of the wrong shape', () => {
  const bad = join(tempDir(), 'in.safetensors');
  writeFileSync(bad, encodeSafetensors({ pixel_values: { dtype: 'F32', shape: [1, 3, 16, 16], data: new Float32Array(768) } }));
  const out = join(tempDir(), 'o.safetensors');
  expectFailure(['forward', '--model', TINY, '--inputs', bad, '--out', out], /pixel_values has shape \[1,3,16,16\], expected \[N,3,32,32\]/, out);
});

test('inputs without pixel_values', () => {
  const bad = join(tempDir(), 'in.safetensors');
  writeFileSync(bad, encodeSafetensors({ images: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }));
  expectFailure(['encode', '--model', TINY, '--inputs', bad, '--out', join(tempDir(), 'o.safetensors')], /no tensor 'pixel_values' \(found: images\)/);
});

test('noise of the wrong shape', () => {
  const bad = join(tempDir(), 'in.safetensors');
  writeFileSync(bad, encodeSafetensors({
    pixel_values: { dtype: 'F32', shape: [1, 3, 32, 32], data: new Float32Array(3072) },
    noise: { dtype: 'F32', shape: [1, 63], data: new Float32Array(63) },
  }));
  expectFailure(['forward', '--model', TINY, '--inputs', bad, '--out', join(tempDir(), 'o.safetensors')], /noise has shape \[1,63\], expected \[1,64\]/);
});

test('an output path in a folder that does not exist', () => {
  expectFailure(['forward', '--model', TINY, '--inputs', io, '--out', join(tempDir(), 'no', 'such', 'o.safetensors')], /cannot write '.*o\.safetensors': its folder does not exist/);
});

test('a mask ratio outside [0, 1)', () => {
  expectFailure(['forward', '--model', TINY, '--inputs', io, '--out', join(tempDir(), 'o.safetensors'), '--mask-ratio', '1.5'], /mask-ratio.*\[0, 1\)/);
});

test('an unknown preset for build', () => {
  expectFailure(['build', '--config', 'vit-mae-tiny'], /vit-mae-tiny.*not a preset \(vit-mae-base, vit-mae-large, vit-mae-huge\)/);
});

test('an unknown command', () => {
  const r = runCli(['forwrd']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'forwrd'/);
});
