/**
 * The ablation table as Markdown: each row's settings, its test losses and probe accuracy, the
 * change against the default row, and the paper's figures for the same change beside them.
 */
import { type AblationRow, type AblationSettings, PAPER_DECODER_DEPTH, PAPER_DEFAULT } from './ablation.js';

export interface AblationTableRow extends AblationSettings {
  name: string;
  label: string;
  group: AblationRow['group'];
  decoder_depth: number;
  /** The row's own objective (its mask, loss and target) on the test images. */
  test_loss: number;
  /** The plain objective (mask 0.75 random, loss on removed patches, pixel target) on the same images: comparable across rows. */
  plain_test_loss: number;
  probe_accuracy: number;
  probe_l2: number;
  /** Wall seconds of the pretraining (stops and other jobs included). */
  train_seconds: number;
  /** The median step's images/s. */
  images_per_s: number;
  paper: AblationRow['paper'];
}

export interface AblationTableBudget {
  epochs: number;
  batch: number;
  blr: number;
  train_images: number;
  test_images: number;
  probe_train_images: number;
}

const pct = (v: number): string => (100 * v).toFixed(2);
const signed = (v: number, digits: number): string => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(digits);

export function ablationMarkdown(rows: readonly AblationTableRow[], b: AblationTableBudget): string {
  const base = rows.find((r) => r.name === 'default');
  // The paper's Δ: against its default (decoder depth 8), or for a decoder-depth row against
  // Table 1a's row for the depth this table's default has.
  const paperBase = (r: AblationTableRow): number | undefined => r.group === 'decoder depth' ? PAPER_DECODER_DEPTH[base?.decoder_depth ?? -1]?.linear : PAPER_DEFAULT.linear;
  const lines = [
    `# MAE ablations at edge scale`,
    '',
    `Each row pretrains the base architecture from scratch for ${b.epochs} epochs on ${b.train_images} Fashion-MNIST training images (batch ${b.batch}, blr ${b.blr}), then linear-probes it`,
    `(mean-pooled features, L-BFGS, ${b.probe_train_images} training images) on ${b.test_images} test images. Test losses are on the same ${b.test_images} images: "own" is the row's objective, "plain" is mask 0.75 random, loss on removed patches, pixel target.`,
    `Paper: ViT-L/16, ImageNet-1K, 800 epochs (fine-tune / linear top-1, %). Δ probe is against this table's default row; the paper's Δ lin against its default (decoder depth 8, 73.5), the decoder-depth rows against its row for this default's depth (Table 1a).`,
    '',
    '| row | mask | masking | loss on | target | enc. [M] | dec. depth | test loss (own) | test loss (plain) | probe acc. % | Δ probe | paper ft / lin | paper Δ lin | train s | img/s (median step) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const delta = base && r !== base ? signed(100 * (r.probe_accuracy - base.probe_accuracy), 2) : '';
    const paper = r.paper.linear !== undefined ? `${r.paper.finetune?.toFixed(1) ?? '–'} / ${r.paper.linear.toFixed(1)}` : '–';
    const pb = paperBase(r);
    const paperDelta = r.paper.linear !== undefined && pb !== undefined && r !== base ? signed(r.paper.linear - pb, 1) : '';
    lines.push(`| ${r.label} | ${r.mask_ratio} | ${r.masking} | ${r.loss_on} | ${r.target} | ${r.encoder_mask_tokens ? 'yes' : 'no'} | ${r.decoder_depth} | ${r.test_loss.toFixed(4)} | ${r.plain_test_loss.toFixed(4)} | ${pct(r.probe_accuracy)} | ${delta} | ${paper} | ${paperDelta} | ${r.train_seconds.toFixed(0)} | ${r.images_per_s.toFixed(0)} |`);
  }
  lines.push('', 'Where the paper has no table entry:', '');
  for (const r of rows) if (r.paper.linear === undefined) lines.push(`- ${r.label}: ${r.paper.source}.`);
  lines.push('');
  return lines.join('\n');
}
