/**
 * Fine-tuning: with K = 0 it is a linear probe trained by the same optimizer (a head trained here,
 * in the test's own float64 code, on features from the inference encoder gives the same head and
 * predictions); frozen blocks keep their weights bit for bit while the open ones move; the output
 * folder is a model with a head that `classify` takes; bad options are answered in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MaeModel } from '../src/node/index.js';
import { SafetensorsFile } from '../src/safetensors.js';
import { parseProbeHead } from '../src/probe/head.js';
import { loadFashionMnist } from '../src/node/fashion-mnist.js';
import { fashionMnistImage } from '../src/data/fashion-mnist.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { epochOrder } from '../src/training/data.js';
import { uniform } from '../src/random.js';
import { ROOT, runCli, tempDir } from './helpers.js';

const BUNDLED = join(ROOT, 'models', 'mae-fashion-mnist');
const common = ['--data', 'fashion-mnist', '--train-images', '512', '--test-images', '256', '--batch', '64', '--epochs', '1', '--no-flip', '--seed', '4'];

test('finetune --blocks 0 is a linear probe trained by the same AdamW on the frozen encoder\'s features', async () => {
  const dir = tempDir();
  const r = runCli(['finetune', ...common, '--blocks', '0', '--blr', '4e-3', '--warmup-epochs', '0.25', '--out', join(dir, 'k0')]);
  assert.equal(r.status, 0, r.stderr);
  const head = parseProbeHead(readFileSync(join(dir, 'k0', 'probe-head.safetensors')));
  // The same head, trained here: features from the inference encoder (mean of the patch tokens).
  const model = await MaeModel.load(BUNDLED);
  try {
    const train = loadFashionMnist('train');
    const n = 512, D = 128, C = 10, B = 64, L = 49;
    const pixels = new Float32Array(n * 784);
    for (let i = 0; i < n; i++) pixels.set(preprocessImage(fashionMnistImage(train.images, i), model.preprocessor, 1), i * 784);
    const latent = await model.encode(pixels, { batch: n });
    const x = new Float64Array(n * D);
    for (let i = 0; i < n; i++) for (let l = 1; l <= L; l++) for (let d = 0; d < D; d++) x[i * D + d]! += latent[(i * (1 + L) + l) * D + d]! / L;
    const rand = uniform((4 ^ 0x7f4a7c15) >>> 0);
    const W = Float64Array.from({ length: C * D }, () => 2e-5 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
    const b = new Float64Array(C);
    const state = [W, b].map((p) => ({ p, m: new Float64Array(p.length), v: new Float64Array(p.length) }));
    const order = epochOrder(n, 4, 0);
    const steps = n / B, peak = 4e-3 * B / 256;
    for (let s = 0; s < steps; s++) {
      const epoch = s / steps;
      const lr = epoch < 0.25 ? peak * epoch / 0.25 : 1e-6 + (peak - 1e-6) * 0.5 * (1 + Math.cos(Math.PI * (epoch - 0.25) / 0.75));
      const gW = new Float64Array(C * D), gb = new Float64Array(C);
      for (let k = 0; k < B; k++) {
        const i = order[s * B + k]!, y = train.labels.data[i]!;
        const z = Array.from({ length: C }, (_, c) => b[c]! + x.subarray(i * D, (i + 1) * D).reduce((acc, v, d) => acc + v * W[c * D + d]!, 0));
        const max = Math.max(...z), e = z.map((v) => Math.exp(v - max)), sum = e.reduce((a2, v) => a2 + v, 0);
        for (let c = 0; c < C; c++) {
          const g = (e[c]! / sum - (c === y ? 1 : 0)) / B;
          gb[c]! += g;
          for (let d = 0; d < D; d++) gW[c * D + d]! += g * x[i * D + d]!;
        }
      }
      state.forEach(({ p, m, v }, j) => {
        const g = j === 0 ? gW : gb, wd = j === 0 ? 0.05 : 0, t = s + 1;
        for (let q = 0; q < p.length; q++) {
          p[q]! *= 1 - lr * wd;
          m[q] = 0.9 * m[q]! + 0.1 * g[q]!;
          v[q] = 0.999 * v[q]! + 0.001 * g[q]! ** 2;
          p[q]! -= (lr / (1 - 0.9 ** t)) * (m[q]! / (Math.sqrt(v[q]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
        }
      });
    }
    let worst = 0;
    for (let q = 0; q < W.length; q++) worst = Math.max(worst, Math.abs(head.weight[q]! - W[q]!));
    const scale = W.reduce((a2, v) => Math.max(a2, Math.abs(v)), 0);
    assert.ok(worst <= 1e-4 * scale, `head weight: worst |Δ| ${worst} of max ${scale}`);
    assert.ok(worst > 0 || scale > 0);
  } finally {
    model.dispose();
  }
  const report = JSON.parse(readFileSync(join(dir, 'k0', 'report.json'), 'utf8')) as { test_accuracy: number };
  assert.ok(report.test_accuracy > 0.5, `accuracy ${report.test_accuracy}`);
});

test('finetune --blocks 1: the frozen blocks and the decoder keep their weights bit for bit, the open block moves; classify takes the head', () => {
  const dir = tempDir();
  const r = runCli(['finetune', ...common, '--blocks', '1', '--out', join(dir, 'k1'), '--max-iters', '3']);
  assert.equal(r.status, 0, r.stderr);
  const before = SafetensorsFile.parse(new Uint8Array(readFileSync(join(BUNDLED, 'model.safetensors'))), 'before');
  const after = SafetensorsFile.parse(new Uint8Array(readFileSync(join(dir, 'k1', 'model.safetensors'))), 'after');
  let moved = 0;
  for (const name of before.names()) {
    const same = Buffer.from(before.f32(name).buffer).equals(Buffer.from(after.f32(name).buffer));
    const open = name.startsWith('vit.encoder.layer.5.') || name.startsWith('vit.layernorm.');
    if (open) moved += same ? 0 : 1;
    else assert.ok(same, `${name} changed but is frozen`);
  }
  assert.ok(moved >= 10, `${moved} open tensors moved`);
  const c = runCli(['classify', join(BUNDLED, 'samples'), '--model', join(dir, 'k1'), '--head', join(dir, 'k1', 'probe-head.safetensors')]);
  assert.equal(c.status, 0, c.stderr);
});

test('finetune refuses bad options with one line', () => {
  const dir = tempDir();
  for (const [args, why] of [
    [['--blocks', '9'], /the encoder has 6 blocks/],
    [['--blocks', 'some'], /--blocks/],
    [['--layer-decay', '2'], /layer decay/],
    [['--batch', '1024'], /no full batch/],
  ] as const) {
    const r = runCli(['finetune', ...common, ...args, '--out', join(dir, 'x')]);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
