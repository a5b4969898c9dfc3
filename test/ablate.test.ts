/**
 * `edge-mae ablate` with a tiny budget: every row of the table is pretrained with its one
 * change (read back from each row's checkpoint and config, not from the table), tested and
 * probed; the summary files are whole; a rerun reruns nothing, a row whose result was lost goes
 * on from its checkpoint to the same numbers, and another budget in the same folder is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../src/safetensors.js';
import { decodeImage } from '../src/image/decode.js';
import { checkpointMeta } from '../src/training/checkpoint.js';
import { runCli, tempDir } from './helpers.js';

const ROWS = [
  // name, mask ratio, masking, loss on, norm-pix, encoder mask tokens, decoder depth
  ['default', 0.75, 'random', 'removed', false, false, 2],
  ['mask-0.25', 0.25, 'random', 'removed', false, false, 2],
  ['mask-0.5', 0.5, 'random', 'removed', false, false, 2],
  ['mask-0.9', 0.9, 'random', 'removed', false, false, 2],
  ['block-0.75', 0.75, 'block', 'removed', false, false, 2],
  ['grid-0.75', 0.75, 'grid', 'removed', false, false, 2],
  ['loss-all', 0.75, 'random', 'all', false, false, 2],
  ['norm-pix', 0.75, 'random', 'removed', true, false, 2],
  ['encoder-mask-tokens', 0.75, 'random', 'removed', false, true, 2],
  ['decoder-depth-1', 0.75, 'random', 'removed', false, false, 1],
  ['decoder-depth-4', 0.75, 'random', 'removed', false, false, 4],
] as const;

interface Result {
  name: string; mask_ratio: number; masking: string; loss_on: string; target: string; encoder_mask_tokens: boolean; decoder_depth: number;
  steps: number; test_loss: number; plain_test_loss: number; probe_accuracy: number; train_seconds: number; images_per_s: number;
}

test('ablate with a tiny budget: every row, each trained with its change, then resumable', { timeout: 15 * 60_000 }, () => {
  const dir = tempDir();
  const out = join(dir, 'ablation');
  const args = ['ablate', '--data', 'fashion-mnist', '--out', out, '--epochs', '1', '--batch', '16', '--train-images', '32', '--test-images', '40',
    '--probe-train-images', '120', '--probe-l2', '1e-3', '--probe-max-iter', '20', '--threads', '1', '--cache', join(dir, 'cache')];
  const first = runCli(args);
  assert.equal(first.status, 0, first.stderr);

  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Result[];
  assert.deepEqual(results.map((r) => r.name), ROWS.map((r) => r[0]));
  for (const [name, ratio, masking, lossOn, normPix, maskTokens, depth] of ROWS) {
    const r = results.find((x) => x.name === name)!;
    assert.deepEqual([r.mask_ratio, r.masking, r.loss_on, r.target, r.encoder_mask_tokens, r.decoder_depth], [ratio, masking, lossOn, normPix ? 'norm_pix' : 'pixel', maskTokens, depth], name);
    // What the row's pretraining really ran with: its checkpoint's recipe and its config.
    const model = join(out, 'rows', name, 'model');
    const ckpt = join(model, 'checkpoint.safetensors');
    const meta = checkpointMeta(SafetensorsFile.parse(readFileSync(ckpt), ckpt), ckpt);
    assert.deepEqual([meta.options.maskRatio, meta.options.masking, meta.options.lossOn, meta.options.normPix, meta.options.encoderMaskTokens === true, meta.position.step], [ratio, masking, lossOn, normPix, maskTokens, 2], `${name}: checkpoint`);
    const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { decoder_num_hidden_layers: number; hidden_size: number };
    assert.deepEqual([cfg.decoder_num_hidden_layers, cfg.hidden_size], [depth, 128], `${name}: config`);
    assert.equal(r.steps, 2, name);
    assert.ok(Number.isFinite(r.test_loss) && r.test_loss > 0, `${name}: test loss ${r.test_loss}`);
    assert.ok(r.probe_accuracy >= 0 && r.probe_accuracy <= 1 && r.probe_accuracy * 40 === Math.round(r.probe_accuracy * 40), `${name}: probe accuracy ${r.probe_accuracy} of 40 images`);
    assert.ok(r.images_per_s > 0 && r.train_seconds > 0, name);
    // The plain objective is the row's own where the row changes neither mask, loss nor target.
    const plain = ratio === 0.75 && masking === 'random' && lossOn === 'removed' && !normPix;
    if (plain) assert.equal(r.plain_test_loss, r.test_loss, `${name}: plain and own test loss`);
    else assert.notEqual(r.plain_test_loss, r.test_loss, `${name}: plain and own test loss`);
  }
  const md = readFileSync(join(out, 'results.md'), 'utf8');
  assert.equal(md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| row')).length, ROWS.length);
  assert.match(md, /\| block masking 0\.75 \|.*\| 82\.8 \/ 63\.9 \| −9\.6 \|/);
  const png = decodeImage(readFileSync(join(out, 'ablation.png')));
  assert.ok(png.width >= 600 && png.height >= 300, `chart ${png.width}×${png.height}`);

  // A rerun reruns nothing.
  const before = statSync(join(out, 'rows', 'default', 'result.json')).mtimeMs;
  const again = runCli(args);
  assert.equal(again.status, 0, again.stderr);
  assert.equal((again.stdout.match(/done before/g) ?? []).length, ROWS.length);
  assert.equal(statSync(join(out, 'rows', 'default', 'result.json')).mtimeMs, before);

  // A row whose result was lost goes on from its checkpoint (no step more) to the same numbers.
  rmSync(join(out, 'rows', 'grid-0.75', 'result.json'));
  const resumed = runCli(args);
  assert.equal(resumed.status, 0, resumed.stderr);
  const grid = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Result[]).find((r) => r.name === 'grid-0.75')!;
  const old = results.find((r) => r.name === 'grid-0.75')!;
  assert.deepEqual([grid.steps, grid.test_loss, grid.plain_test_loss, grid.probe_accuracy], [old.steps, old.test_loss, old.plain_test_loss, old.probe_accuracy]);

  const other = runCli(args.map((v) => (v === '32' ? '48' : v)));
  assert.equal(other.status, 1);
  assert.match(other.stderr, /^edge-mae: --out '.*' holds rows of another budget/);
  const row = runCli([...args, '--rows', 'default,mask-0.6']);
  assert.equal(row.status, 1);
  assert.match(row.stderr, /unknown ablation row 'mask-0\.6' \(rows: default, mask-0\.25/);
});
