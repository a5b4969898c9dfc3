/**
 * A pretraining run's curve from its train-log.jsonl: per epoch the mean training loss of its
 * steps and the lr at its last step, as a Markdown table.
 *
 *   node dist/scripts/train-curve.js runs/fm20/train-log.jsonl [--steps-per-epoch 234]
 */
import { readFileSync } from 'node:fs';

const [path, ...rest] = process.argv.slice(2);
if (!path) {
  process.stderr.write('usage: node dist/scripts/train-curve.js TRAIN-LOG.jsonl [--steps-per-epoch N]\n');
  process.exit(2);
}
const i = rest.indexOf('--steps-per-epoch');
interface Line { iter: number; epoch: number; loss: number; lr: number; seconds: number }
const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
const perEpoch = i >= 0 ? Number(rest[i + 1]) : undefined;
const epochOf = (l: Line): number => (perEpoch ? Math.floor((l.iter - 1) / perEpoch) + 1 : Math.floor(l.epoch) + 1);
const byEpoch = new Map<number, Line[]>();
for (const l of lines) byEpoch.set(epochOf(l), [...(byEpoch.get(epochOf(l)) ?? []), l]);
process.stdout.write('| epoch | steps | lr at end | train loss (epoch mean) |\n|---|---|---|---|\n');
for (const [epoch, ls] of byEpoch) {
  const mean = ls.reduce((s, l) => s + l.loss, 0) / ls.length;
  process.stdout.write(`| ${epoch} | ${ls.length} | ${ls[ls.length - 1]!.lr.toExponential(2)} | ${mean.toFixed(4)} |\n`);
}
