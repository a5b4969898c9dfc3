/**
 * The paper's ablations at edge scale (MAE §4.1, Table 1 and Figure 5): one pretraining per row
 * of the bundled architecture, each then judged by a linear probe. A row is the default recipe
 * (mask 0.75 random, loss on the removed patches, plain pixel target, no mask tokens in the
 * encoder, the config's decoder) with one setting changed. The paper's numbers beside each row are
 * ViT-L/16 on ImageNet-1K after 800 epochs (fine-tuning / linear-probe top-1); its default decoder
 * has 8 blocks, so its "decoder depth 2" row is a change there and the default here.
 * Platform-neutral: src/cli/ablate.ts runs the rows.
 */
import { UsageError } from '../errors.js';
import type { MaskingStrategy } from './masking-strategies.js';

export interface AblationSettings {
  readonly mask_ratio: number;
  readonly masking: MaskingStrategy;
  readonly loss_on: 'removed' | 'all';
  readonly target: 'pixel' | 'norm_pix';
  readonly encoder_mask_tokens: boolean;
  /** Decoder blocks (null: the base config's). */
  readonly decoder_depth: number | null;
}

/** What the paper reports for the same change (ViT-L/16, ImageNet-1K, 800 epochs). */
export interface PaperFigure {
  readonly finetune?: number;
  readonly linear?: number;
  /** Where the figure comes from, and anything it does not say. */
  readonly source: string;
}

export interface AblationRow {
  /** Folder name and key: stable, so a rerun finds the rows it finished. */
  readonly name: string;
  /** The table's label. */
  readonly label: string;
  readonly group: 'mask ratio' | 'masking' | 'loss' | 'target' | 'mask token' | 'decoder depth';
  readonly settings: AblationSettings;
  readonly paper: PaperFigure;
}

/** The paper's default (Table 1's grey rows: decoder depth 8, width 512). */
export const PAPER_DEFAULT: PaperFigure = { finetune: 84.9, linear: 73.5, source: 'Table 1, the default row (decoder depth 8 there)' };

export const DEFAULT_SETTINGS: AblationSettings = {
  mask_ratio: 0.75, masking: 'random', loss_on: 'removed', target: 'pixel', encoder_mask_tokens: false, decoder_depth: null,
};

const row = (name: string, label: string, group: AblationRow['group'], change: Partial<AblationSettings>, paper: PaperFigure): AblationRow =>
  ({ name, label, group, settings: { ...DEFAULT_SETTINGS, ...change }, paper });

/**
 * The rows, the default first (the others are read against it). Figure 5's points other than
 * 75 % are read off its curves, so they carry no decimals here.
 */
export const ABLATION_ROWS: readonly AblationRow[] = [
  row('default', 'default: mask 0.75 random, loss on removed, pixel target, decoder as config', 'mask ratio', {}, PAPER_DEFAULT),
  row('mask-0.25', 'mask ratio 0.25', 'mask ratio', { mask_ratio: 0.25 }, { source: 'Figure 5: linear probing well below the 75 % point (it rises almost linearly up to 75 %), fine-tuning about 1 point lower' }),
  row('mask-0.5', 'mask ratio 0.5', 'mask ratio', { mask_ratio: 0.5 }, { source: 'Figure 5: linear probing a few points below the 75 % point, fine-tuning within half a point' }),
  row('mask-0.9', 'mask ratio 0.9', 'mask ratio', { mask_ratio: 0.9 }, { source: 'Figure 5: both past their peak, linear probing falling from 75 %' }),
  row('block-0.75', 'block masking 0.75', 'masking', { masking: 'block' }, { finetune: 82.8, linear: 63.9, source: 'Table 1f' }),
  row('grid-0.75', 'grid masking 0.75', 'masking', { masking: 'grid' }, { finetune: 84.0, linear: 66.0, source: 'Table 1f' }),
  row('loss-all', 'loss on all patches', 'loss', { loss_on: 'all' }, { source: '§3: computing the loss on all pixels lowers accuracy (about 0.5 % in fine-tuning, no table)' }),
  row('norm-pix', 'normalised pixel target', 'target', { target: 'norm_pix' }, { finetune: 85.4, linear: 73.9, source: 'Table 1d, pixel (w/ norm)' }),
  row('encoder-mask-tokens', 'encoder with mask tokens', 'mask token', { encoder_mask_tokens: true }, { finetune: 84.2, linear: 59.6, source: 'Table 1c, encoder w/ [M]' }),
  row('decoder-depth-1', 'decoder depth 1', 'decoder depth', { decoder_depth: 1 }, { finetune: 84.8, linear: 65.5, source: 'Table 1a' }),
  row('decoder-depth-4', 'decoder depth 4', 'decoder depth', { decoder_depth: 4 }, { finetune: 84.9, linear: 71.9, source: 'Table 1a' }),
];

/** The paper's Table 1a figures for the default decoder depth of a config, when it has that row. */
export const PAPER_DECODER_DEPTH: Readonly<Record<number, PaperFigure>> = {
  1: { finetune: 84.8, linear: 65.5, source: 'Table 1a' },
  2: { finetune: 84.9, linear: 70.0, source: 'Table 1a' },
  4: { finetune: 84.9, linear: 71.9, source: 'Table 1a' },
  8: { finetune: 84.9, linear: 73.5, source: 'Table 1a' },
  12: { finetune: 84.4, linear: 73.3, source: 'Table 1a' },
};

/** Rows by name, in the table's order; an unknown name is an error naming the known ones. */
export function selectRows(names: readonly string[] | undefined): AblationRow[] {
  if (names === undefined) return [...ABLATION_ROWS];
  const known = new Map(ABLATION_ROWS.map((r) => [r.name, r]));
  for (const n of names) if (!known.has(n)) throw new UsageError(`unknown ablation row '${n}' (rows: ${ABLATION_ROWS.map((r) => r.name).join(', ')})`);
  return ABLATION_ROWS.filter((r) => names.includes(r.name));
}
