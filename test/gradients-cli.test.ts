/**
 * `edge-mae gradients` on the golden tiny case (test/fixtures/golden/tiny) against the authors'
 * PyTorch gradients and one AdamW step (grads.safetensors). Bounds, from the golden README:
 *   grad/*, grad_norm_pix/*: per tensor T, |x − g| ≤ 2e-5·max|g_T| (`*.key.bias`, analytically 0:
 *     the scale of the same layer's key.weight);
 *   adamw1/*: |x − g| ≤ 1e-6 where |grad/…| ≥ 1e-5, elsewhere ≤ 2·lr + 1e-6;
 *   loss_after_adamw1: 1e-5; loss, loss_norm_pix: 1e-6·(1 + |ref|) of io.safetensors.
 * The checks are shown to fail on wrong tensors (norm_pix gradients for plain ones, unstepped
 * weights for adamw1). And bad input: one line on stderr, non-zero exit, no output file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, type SafetensorsFile } from '../src/safetensors.js';
import { GOLDEN, type CliResult, readTensors, runCli, tempDir } from './helpers.js';

const TINY = join(GOLDEN, 'tiny');
const IO = join(TINY, 'io.safetensors');
const LR = 1e-3;
const GRAD_TOL = 2e-5;
const fmt = (x: number): string => x.toExponential(0);
const ADAMW_TOL = 1e-6;
const ADAMW_SMALL_GRAD = 1e-5;
const LOSS_AFTER_TOL = 1e-5;
const LOSS_TOL = 1e-6;

const golden = readTensors(join(TINY, 'grads.safetensors'));
const io = readTensors(IO);

let ran: { r: CliResult; out: SafetensorsFile } | undefined;
/** The CLI run, once for all tests here. */
function run(): { r: CliResult; out: SafetensorsFile } {
  if (ran) return ran;
  const outPath = join(tempDir(), 'grads.safetensors');
  const r = runCli(['gradients', '--model', TINY, '--inputs', IO, '--out', outPath, '--adamw-step', String(LR)]);
  assert.equal(r.status, 0, `gradients failed (${r.status}): ${r.stderr}`);
  ran = { r, out: readTensors(outPath) };
  return ran;
}

const maxAbs = (a: Float32Array): number => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** The per-tensor scale of a gradient tensor: its own max |g|, or for key.bias its layer's key.weight's. */
function gradScale(name: string): number {
  const from = name.endsWith('.key.bias') ? name.replace(/\.key\.bias$/, '.key.weight') : name;
  const s = maxAbs(golden.f32(from));
  assert.ok(s > 0, `${from}: golden scale is 0`);
  return s;
}

/** Largest |x − g| / scale over a gradient group (`grad/` or `grad_norm_pix/`), x read under `prefix` from `get`. */
function worstGradRatio(group: string, get: (name: string) => Float32Array): { worst: number; at: string } {
  let worst = 0;
  let at = '';
  for (const name of golden.names().filter((n) => n.startsWith(group))) {
    const g = golden.f32(name);
    const x = get(name);
    assert.equal(x.length, g.length, `${name}: length`);
    const scale = gradScale(name);
    for (let i = 0; i < g.length; i++) {
      const e = Math.abs(x[i]! - g[i]!) / scale;
      if (!(e <= worst)) { worst = Number.isNaN(e) ? Infinity : e; at = `${name}[${i}]`; }
    }
  }
  return { worst, at };
}

/** Largest adamw1 excess over its bound (≤ 0 passes), and the worst |Δ| in each regime. */
function adamwCheck(get: (name: string) => Float32Array): { excess: number; at: string; large: number; small: number } {
  let excess = -Infinity, large = 0, small = 0;
  let at = '';
  for (const name of golden.names().filter((n) => n.startsWith('adamw1/'))) {
    const ref = golden.f32(name);
    const grad = golden.f32(`grad/${name.slice('adamw1/'.length)}`);
    const x = get(name);
    assert.equal(x.length, ref.length, `${name}: length`);
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(x[i]! - ref[i]!);
      const bigGrad = Math.abs(grad[i]!) >= ADAMW_SMALL_GRAD;
      const bound = bigGrad ? ADAMW_TOL : 2 * LR + ADAMW_TOL;
      if (bigGrad) large = Math.max(large, d); else small = Math.max(small, d);
      const e = Number.isNaN(d) ? Infinity : d - bound;
      if (e > excess) { excess = e; at = `${name}[${i}]`; }
    }
  }
  return { excess, at, large, small };
}

test('gradients CLI, golden tiny: the output holds exactly the golden tensor names (+ loss, loss_norm_pix), F32, golden shapes', () => {
  const { r, out } = run();
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one summary line: ${r.stdout}`);
  assert.match(lines[0]!, /^gradients: 2 image\(s\), 16\/64 patches kept, loss \d+\.\d+, loss_norm_pix \d+\.\d+, .*AdamW.* → /);
  assert.deepEqual(out.names().sort(), [...golden.names(), 'loss', 'loss_norm_pix'].sort());
  for (const name of out.names()) {
    const info = out.info(name);
    assert.equal(info.dtype, 'F32', name);
    assert.deepEqual(info.shape, golden.has(name) ? golden.info(name).shape : [], name);
  }
});

for (const group of ['grad/', 'grad_norm_pix/']) {
  test(`gradients CLI, golden tiny: every ${group}* within ${fmt(GRAD_TOL)}·max|g_T| (key.bias: its key.weight's scale)`, (t) => {
    const { out } = run();
    const { worst, at } = worstGradRatio(group, (n) => out.f32(n));
    t.diagnostic(`${group}: max |x − g| / max|g_T| = ${worst.toExponential(2)} at ${at}`);
    assert.ok(worst <= GRAD_TOL, `${group}: ${worst.toExponential(2)} at ${at} > ${GRAD_TOL}`);
  });
}

test('gradients CLI, golden tiny: the gradient check fails on the other loss\'s gradients', () => {
  const { out } = run();
  const swapped = worstGradRatio('grad/', (n) => out.f32(n.replace(/^grad\//, 'grad_norm_pix/')));
  assert.ok(swapped.worst > GRAD_TOL, `norm_pix gradients pass as plain ones (${swapped.worst.toExponential(2)})`);
});

test(`gradients CLI, golden tiny: adamw1/* within ${fmt(ADAMW_TOL)} where |grad| ≥ ${fmt(ADAMW_SMALL_GRAD)}, else 2·lr + ${fmt(ADAMW_TOL)}`, (t) => {
  const { out } = run();
  const c = adamwCheck((n) => out.f32(n));
  t.diagnostic(`adamw1: max |Δ| ${c.large.toExponential(2)} where |grad| ≥ 1e-5, ${c.small.toExponential(2)} elsewhere`);
  assert.ok(c.excess <= 0, `adamw1 exceeds its bound by ${c.excess.toExponential(2)} at ${c.at}`);
  // The check can fail: the unstepped weights (an AdamW step that did nothing) leave it.
  const weights = readTensors(join(TINY, 'model.safetensors'));
  const unstepped = adamwCheck((n) => weights.f32(n.slice('adamw1/'.length)));
  assert.ok(unstepped.excess > 0, 'unstepped weights pass the adamw1 check');
});

test(`gradients CLI, golden tiny: loss_after_adamw1 within ${fmt(LOSS_AFTER_TOL)}; loss, loss_norm_pix within ${fmt(LOSS_TOL)}·(1+|ref|)`, (t) => {
  const { out } = run();
  const after = out.f32('loss_after_adamw1')[0]!;
  const refAfter = golden.f32('loss_after_adamw1')[0]!;
  t.diagnostic(`loss_after_adamw1 ${after} vs ${refAfter}: |Δ| ${Math.abs(after - refAfter).toExponential(2)}`);
  assert.ok(Math.abs(after - refAfter) <= LOSS_AFTER_TOL, `loss_after_adamw1 ${after}, golden ${refAfter}`);
  // The step lowered the loss (so the stepped model was the one evaluated).
  assert.ok(after < io.f32('loss')[0]!, `loss after the step ${after} is not below the loss before`);
  for (const name of ['loss', 'loss_norm_pix']) {
    const x = out.f32(name)[0]!;
    const ref = io.f32(name)[0]!;
    const e = Math.abs(x - ref) / (1 + Math.abs(ref));
    t.diagnostic(`${name} ${x} vs ${ref}: ${e.toExponential(2)}`);
    assert.ok(e <= LOSS_TOL, `${name}: ${x}, golden ${ref} (${e.toExponential(2)})`);
  }
});

test('gradients CLI without --adamw-step writes no adamw1 tensors', () => {
  const outPath = join(tempDir(), 'g.safetensors');
  const r = runCli(['gradients', '--model', TINY, '--inputs', IO, '--out', outPath]);
  assert.equal(r.status, 0, r.stderr);
  const out = readTensors(outPath);
  assert.deepEqual(out.names().sort(), [...golden.names().filter((n) => /^grad(_norm_pix)?\//.test(n)), 'loss', 'loss_norm_pix'].sort());
  // Same gradients as the run with the step (the step does not change them).
  const { out: withStep } = run();
  for (const n of out.names()) assert.deepEqual(out.f32(n), withStep.f32(n), n);
});

function expectRefusal(args: string[], pattern: RegExp, outFile: string): void {
  const r = runCli(args);
  assert.notEqual(r.status, 0, `expected failure, got exit 0: ${r.stdout}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(!existsSync(outFile), 'no output file is left behind');
  assert.deepEqual(readdirSync(join(outFile, '..')).filter((f) => f.includes('.tmp')), [], 'no temporary file is left behind');
}

test('gradients CLI refuses a missing --inputs file', () => {
  const dir = tempDir();
  const out = join(dir, 'o.safetensors');
  expectRefusal(['gradients', '--model', TINY, '--inputs', join(dir, 'nope.safetensors'), '--out', out, '--adamw-step', '1e-3'], /^edge-mae: inputs '.*nope\.safetensors': no such file$/, out);
});

test('gradients CLI refuses inputs of the wrong shape', () => {
  const dir = tempDir();
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, encodeSafetensors({ pixel_values: { dtype: 'F32', shape: [2, 3, 16, 16], data: new Float32Array(2 * 3 * 16 * 16) } }));
  const out = join(dir, 'o.safetensors');
  expectRefusal(['gradients', '--model', TINY, '--inputs', bad, '--out', out], /^edge-mae: .*pixel_values has shape \[2,3,16,16\], expected \[N,3,32,32\]$/, out);
  const badNoise = join(dir, 'noise.safetensors');
  writeFileSync(badNoise, encodeSafetensors({
    pixel_values: { dtype: 'F32', shape: [2, 3, 32, 32], data: io.f32('pixel_values') },
    noise: { dtype: 'F32', shape: [2, 63], data: new Float32Array(2 * 63) },
  }));
  expectRefusal(['gradients', '--model', TINY, '--inputs', badNoise, '--out', out, '--adamw-step', '1e-3'], /^edge-mae: .*noise has shape \[2,63\], expected \[2,64\]$/, out);
});

test('gradients CLI refuses a bad --adamw-step', () => {
  const dir = tempDir();
  const out = join(dir, 'o.safetensors');
  for (const lr of ['-1e-3', 'nan', 'Infinity', '', 'abc']) {
    expectRefusal(['gradients', '--model', TINY, '--inputs', IO, '--out', out, '--adamw-step', lr], /^edge-mae: option '--adamw-step <lr>' argument '.*' is invalid\. must be a finite number ≥ 0$/, out);
  }
});
