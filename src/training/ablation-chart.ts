/**
 * The ablation chart: on the left, probe accuracy against the mask ratio (random masking, as the
 * paper's Figure 5); on the right, one bar per other row with the default's accuracy marked.
 * Drawn into RGB pixels with a bitmap font, so it needs no canvas and no plotting library.
 */
import { drawText, textWidth } from '../image/bitmap-font.js';

export interface ChartRow {
  name: string;
  label: string;
  mask_ratio: number;
  masking: string;
  probe_accuracy: number;
}

export interface RgbImage { pixels: Uint8Array; width: number; height: number }

type Rgb = readonly [number, number, number];
const INK: Rgb = [30, 30, 30], GRID: Rgb = [225, 225, 225], LINE: Rgb = [31, 119, 180], BAR: Rgb = [255, 127, 14], MARK: Rgb = [214, 39, 40];
const WIDTH = 960, HEIGHT = 440, LEFT = { x: 60, y: 50, w: 340, h: 320 }, RIGHT = { x: 620, y: 50, w: 300, h: 320 };

/** Rows on the mask-ratio curve: random masking with only the ratio changed from the default. */
const onCurve = (r: ChartRow): boolean => r.name === 'default' || r.name.startsWith('mask-');

export function ablationChart(rows: readonly ChartRow[]): RgbImage {
  const pixels = new Uint8Array(WIDTH * HEIGHT * 3).fill(255);
  const img = { pixels, width: WIDTH, height: HEIGHT };
  const text = (x: number, y: number, s: string, c: Rgb = INK, scale = 1): void => drawText(pixels, WIDTH, HEIGHT, Math.round(x), Math.round(y), s, c, scale);
  const accs = rows.map((r) => 100 * r.probe_accuracy);
  // A shared accuracy axis: whole points around the data, at least 4 points tall.
  let lo = Math.floor(Math.min(...accs, 100) - 1), hi = Math.ceil(Math.max(...accs, 0) + 1);
  if (rows.length === 0) [lo, hi] = [0, 100];
  if (hi - lo < 4) hi = lo + 4;
  const step = niceStep((hi - lo) / 5);

  // Left: accuracy against mask ratio.
  text(LEFT.x, 14, 'LINEAR PROBE ACCURACY (%) VS MASK RATIO', INK);
  text(LEFT.x, 28, 'RANDOM MASKING', INK);
  const yOf = (acc: number, box: typeof LEFT): number => box.y + box.h - ((acc - lo) / (hi - lo)) * box.h;
  const xOf = (ratio: number): number => LEFT.x + ratio * LEFT.w;
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
    const y = Math.round(yOf(v, LEFT));
    fillRect(img, LEFT.x, y, LEFT.w, 1, GRID);
    const label = formatTick(v, step);
    text(LEFT.x - 6 - textWidth(label), y - 3, label);
  }
  for (let t = 0; t <= 10; t += 1) {
    const x = Math.round(xOf(t / 10));
    fillRect(img, x, LEFT.y, 1, LEFT.h, GRID);
    if (t % 2 === 0) { const label = String(t * 10); text(x - textWidth(label) / 2, LEFT.y + LEFT.h + 8, label); }
  }
  text(LEFT.x + LEFT.w / 2 - textWidth('MASK RATIO (%)') / 2, LEFT.y + LEFT.h + 22, 'MASK RATIO (%)');
  fillRect(img, LEFT.x, LEFT.y + LEFT.h, LEFT.w, 1, INK);
  fillRect(img, LEFT.x, LEFT.y, 1, LEFT.h, INK);
  const curve = rows.filter(onCurve).sort((a, b) => a.mask_ratio - b.mask_ratio);
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1]!, b = curve[i]!;
    drawLine(img, xOf(a.mask_ratio), yOf(100 * a.probe_accuracy, LEFT), xOf(b.mask_ratio), yOf(100 * b.probe_accuracy, LEFT), LINE);
  }
  for (const r of curve) {
    const x = xOf(r.mask_ratio), y = yOf(100 * r.probe_accuracy, LEFT);
    fillRect(img, Math.round(x) - 3, Math.round(y) - 3, 7, 7, LINE);
    const label = (100 * r.probe_accuracy).toFixed(1);
    text(x - textWidth(label) / 2, y - 14, label, INK);
  }

  // Right: the other rows as bars, the default's accuracy as a red line.
  const bars = rows.filter((r) => !onCurve(r));
  const base = rows.find((r) => r.name === 'default');
  text(RIGHT.x - 180, 14, 'LINEAR PROBE ACCURACY (%) BY CHANGE', INK);
  const xAcc = (acc: number): number => RIGHT.x + ((acc - lo) / (hi - lo)) * RIGHT.w;
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
    const x = Math.round(xAcc(v));
    fillRect(img, x, RIGHT.y, 1, RIGHT.h, GRID);
    const label = formatTick(v, step);
    text(x - textWidth(label) / 2, RIGHT.y + RIGHT.h + 8, label);
  }
  const rowH = Math.min(44, RIGHT.h / Math.max(1, bars.length));
  bars.forEach((r, i) => {
    const y = RIGHT.y + i * rowH;
    const acc = 100 * r.probe_accuracy;
    fillRect(img, RIGHT.x, Math.round(y + rowH * 0.2), Math.max(1, Math.round(xAcc(acc) - RIGHT.x)), Math.max(2, Math.round(rowH * 0.6)), BAR);
    text(RIGHT.x - 8 - textWidth(r.label), y + rowH / 2 - 3, r.label);
    text(xAcc(acc) + 4, y + rowH / 2 - 3, acc.toFixed(1));
  });
  fillRect(img, RIGHT.x, RIGHT.y, 1, RIGHT.h, INK);
  if (base) {
    const x = Math.round(xAcc(100 * base.probe_accuracy));
    fillRect(img, x, RIGHT.y - 4, 2, RIGHT.h + 4, MARK);
    text(x - textWidth('DEFAULT') / 2, RIGHT.y - 14, 'DEFAULT', MARK);
  }
  return img;
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

const formatTick = (v: number, step: number): string => v.toFixed(step < 1 ? 1 : 0);

function fillRect(img: RgbImage, x: number, y: number, w: number, h: number, c: Rgb): void {
  for (let yy = Math.max(0, y); yy < Math.min(img.height, y + h); yy++) {
    for (let xx = Math.max(0, x); xx < Math.min(img.width, x + w); xx++) img.pixels.set(c, (yy * img.width + xx) * 3);
  }
}

/** A 2-pixel line from (x0, y0) to (x1, y1). */
function drawLine(img: RgbImage, x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
  const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
  for (let i = 0; i <= n; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / n), y = Math.round(y0 + ((y1 - y0) * i) / n);
    fillRect(img, x, y, 2, 2, c);
  }
}
