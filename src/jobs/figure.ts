/** The paper's figure: one row per image — masked input | reconstruction (| raw prediction) | original — on white. */
import { resizeNearest } from '../image/resize.js';
import type { Image8 } from './display.js';
import type { Reconstruction } from './reconstruct.js';

export interface FigureOptions {
  /** Nearest-neighbour enlargement of each panel (default: enough for panels at least 112 px wide, so a 28-px image is visible). */
  scale?: number;
  /** Also show the raw prediction, before the visible patches are pasted back. */
  showPrediction?: boolean;
}

/** Gap between panels and around the figure, in output pixels. */
const GAP = 4;

/** Composes the rows into one RGB image. */
export function renderFigure(rows: readonly Reconstruction[], opts: FigureOptions): Image8 {
  if (rows.length === 0) throw new RangeError('renderFigure: no rows');
  const panels = (r: Reconstruction): Image8[] => (opts.showPrediction ? [r.masked, r.reconstruction, r.prediction, r.original] : [r.masked, r.reconstruction, r.original]);
  const scale = opts.scale ?? Math.max(1, Math.ceil(112 / rows[0].original.width));
  const cell = rows[0].original.width * scale;
  const cols = panels(rows[0]).length;
  const width = GAP + cols * (cell + GAP);
  const height = GAP + rows.length * (cell + GAP);
  const data = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, ri) => {
    panels(row).forEach((panel, ci) => {
      const big = scale === 1 ? panel.data : resizeNearest(panel.data, panel.width, panel.height, panel.channels, cell, cell);
      const x0 = GAP + ci * (cell + GAP), y0 = GAP + ri * (cell + GAP);
      for (let y = 0; y < cell; y++) {
        for (let x = 0; x < cell; x++) {
          const s = (y * cell + x) * panel.channels;
          const d = ((y0 + y) * width + x0 + x) * 3;
          data[d] = big[s];
          data[d + 1] = big[s + (panel.channels === 3 ? 1 : 0)];
          data[d + 2] = big[s + (panel.channels === 3 ? 2 : 0)];
        }
      }
    });
  });
  return { width, height, channels: 3, data };
}
