/** The paper's figure: one row per image — masked input | reconstruction (| raw prediction) | original — on white. */
import { InputError } from '../errors.js';
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

/**
 * The largest figure, in bytes of RGB pixels: the PNG encoder holds the filtered rows and the
 * deflate stream of the whole image at once (200 rows at scale 64 would be 5.8 GB, beyond a typed array).
 */
export const MAX_FIGURE_BYTES = 2 ** 28;

export interface FigureSize {
  width: number;
  height: number;
  scale: number;
  /** Panels per row. */
  cols: number;
}

/**
 * The size of the figure for `rows` images of `imageSize` pixels; throws InputError when it would
 * exceed MAX_FIGURE_BYTES, so a caller can check before doing the work that fills it.
 */
export function figureSize(rows: number, imageSize: number, opts: FigureOptions): FigureSize {
  const scale = opts.scale ?? Math.max(1, Math.ceil(112 / imageSize));
  const cols = opts.showPrediction ? 4 : 3;
  const cell = imageSize * scale;
  const width = GAP + cols * (cell + GAP);
  const height = GAP + rows * (cell + GAP);
  const bytes = width * height * 3;
  if (bytes > MAX_FIGURE_BYTES) {
    throw new InputError(`a figure of ${rows} rows of ${cols} ${cell}-pixel panels (scale ${scale}) would be ${width}×${height} pixels, ${(bytes / 2 ** 20).toFixed(0)} MiB; the limit is ${MAX_FIGURE_BYTES / 2 ** 20} MiB: use fewer images or a smaller scale`);
  }
  return { width, height, scale, cols };
}

/** Composes the rows into one RGB image. */
export function renderFigure(rows: readonly Reconstruction[], opts: FigureOptions): Image8 {
  if (rows.length === 0) throw new RangeError('renderFigure: no rows');
  const panels = (r: Reconstruction): Image8[] => (opts.showPrediction ? [r.masked, r.reconstruction, r.prediction, r.original] : [r.masked, r.reconstruction, r.original]);
  const { width, height, scale } = figureSize(rows.length, rows[0].original.width, opts);
  const cell = rows[0].original.width * scale;
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
