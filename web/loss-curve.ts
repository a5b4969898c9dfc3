/** The training loss per optimizer step, drawn on a canvas: a line over the steps so far, axes with their ranges. */

export interface CurvePoint { iter: number; loss: number }

export function drawLossCurve(canvas: HTMLCanvasElement, points: readonly CurvePoint[], totalSteps: number): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width: W, height: H } = canvas;
  const style = getComputedStyle(canvas);
  const fg = style.getPropertyValue('--fg').trim() || '#1d2126';
  const muted = style.getPropertyValue('--muted').trim() || '#5d6670';
  const accent = style.getPropertyValue('--accent').trim() || '#2d6cdf';
  ctx.clearRect(0, 0, W, H);
  const left = 56, right = 12, top = 12, bottom = 28;
  const pw = W - left - right, ph = H - top - bottom;
  ctx.strokeStyle = muted;
  ctx.lineWidth = 1;
  ctx.strokeRect(left + 0.5, top + 0.5, pw, ph);
  ctx.fillStyle = muted;
  ctx.font = '12px system-ui, sans-serif';
  if (points.length === 0) {
    ctx.fillText('loss per step appears here', left + 8, top + 20);
    return;
  }
  let lo = Infinity, hi = -Infinity;
  for (const p of points) { lo = Math.min(lo, p.loss); hi = Math.max(hi, p.loss); }
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
  lo -= pad; hi += pad;
  const steps = Math.max(totalSteps, points[points.length - 1]!.iter, 2);
  const x = (iter: number): number => left + ((iter - 1) / (steps - 1)) * pw;
  const y = (loss: number): number => top + (1 - (loss - lo) / (hi - lo)) * ph;
  ctx.textAlign = 'right';
  for (const v of [hi, (hi + lo) / 2, lo]) ctx.fillText(v.toPrecision(3), left - 6, y(v) + 4);
  ctx.textAlign = 'center';
  ctx.fillText('1', x(1), H - 10);
  ctx.fillText(`step ${steps}`, x(steps) - 20, H - 10);
  ctx.strokeStyle = accent;
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.iter), y(p.loss)) : ctx.lineTo(x(p.iter), y(p.loss))));
  ctx.stroke();
  ctx.fillStyle = accent;
  for (const p of points.length <= 200 ? points : []) ctx.fillRect(x(p.iter) - 2, y(p.loss) - 2, 4, 4);
  const last = points[points.length - 1]!;
  ctx.fillStyle = fg;
  ctx.textAlign = 'right';
  ctx.fillText(`loss ${last.loss.toFixed(4)} at step ${last.iter}`, left + pw - 8, top + 16);
}
