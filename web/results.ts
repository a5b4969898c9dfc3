/** The numbers under the figure: loss, loss_norm_pix, time, backend. Exact values ride along in data-value. */
import type { ReconstructedReply } from './protocol.js';

export interface ResultElements {
  result: HTMLElement;
  image: HTMLElement;
  loss: HTMLElement;
  lossNormPix: HTMLElement;
  masked: HTMLElement;
  time: HTMLElement;
  backend: HTMLElement;
}

const ms = (t: number): string => (t < 10 ? t.toFixed(2) : t.toFixed(1));

export function showResult(els: ResultElements, r: ReconstructedReply, run: number): void {
  els.image.textContent = r.resizedFrom ? `${r.name} (resized from ${r.resizedFrom.width}×${r.resizedFrom.height})` : r.name;
  els.loss.textContent = r.loss.toFixed(6);
  els.loss.dataset.value = String(r.loss);
  els.lossNormPix.textContent = r.lossNormPix.toFixed(6);
  els.lossNormPix.dataset.value = String(r.lossNormPix);
  els.masked.textContent = `${r.removed} of ${r.patches} patches (mask ratio ${r.maskRatio}, seed ${r.seed})`;
  els.time.textContent = `${ms(r.modelMs)} ms model, ${ms(r.totalMs)} ms with decoding and the figure`;
  els.backend.textContent = r.backend;
  els.backend.dataset.kind = r.backendKind;
  Object.assign(els.result.dataset, { state: 'done', run: String(run), image: r.name, seed: String(r.seed), maskRatio: String(r.maskRatio), threads: String(r.threads), backend: r.backendKind });
}
