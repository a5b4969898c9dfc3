/**
 * The training panel: the data (bundled samples, or dropped / picked images or a folder), the
 * recipe's options, start / pause / resume / stop, the loss curve, images/s, ETA, backend and
 * threads, the main thread's longest task while training, and the trained model's files as
 * downloads. The run itself is in the model worker (training-run.ts); this is its page side.
 */
import type { WebModelIndex } from '../src/browser/bundle.js';
import { drawLossCurve, type CurvePoint } from './loss-curve.js';
import { MainThreadMonitor } from './main-thread-monitor.js';
import type { ModelClient } from './model-client.js';
import type { Platform } from './platform.js';
import type { TrainData, TrainEvent, TrainRecipe, TrainedReply } from './protocol.js';

export interface TrainPanelDeps {
  client: ModelClient;
  modelBase: URL;
  index: WebModelIndex;
  plat: Platform;
  /** The image the reconstruction panel shows (the live preview's), with its seed and scale. */
  preview(): { name: string; bytes: ArrayBuffer; seed: number; scale: number } | undefined;
  /** A live reconstruction from the model as it trains. */
  onPreview(e: Extract<TrainEvent, { type: 'train-preview' }>): void;
  /** The run ended: the page's model is now the trained one. */
  onTrained(r: TrainedReply): Promise<void>;
}

/** Image files are read whole: larger ones are refused unread (Node's limit for image files). */
const MAX_IMAGE_FILE_BYTES = 64 * 2 ** 20;
/** All the chosen files together: the page holds their bytes until the worker decodes them. */
const MAX_CHOSEN_BYTES = 2 ** 30;
const IMAGE_EXT = /\.(png|jpe?g)$/i;

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: no #${id}`);
  return e as T;
};

/** A whole number in [min, max] from a field, or an error naming the option. */
function intField(el: HTMLInputElement, what: string, min: number, max: number, optional = false): number | undefined {
  const text = el.value.trim();
  if (text === '' && optional) return undefined;
  const v = Number(text);
  if (!(text !== '' && Number.isInteger(v) && v >= min && v <= max)) throw new Error(`${what} must be a whole number from ${min} to ${max}, got '${el.value}'`);
  return v;
}

function numberField(el: HTMLInputElement, what: string): number {
  const text = el.value.trim();
  const v = Number(text);
  if (!(text !== '' && Number.isFinite(v) && v >= 0)) throw new Error(`${what} must be a number ≥ 0, got '${el.value}'`);
  return v;
}

const fmtSeconds = (s: number): string => (s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);

export function wireTrainingPanel(d: TrainPanelDeps): void {
  const els = {
    section: $('train'), data: $<HTMLSelectElement>('train-data'), drop: $('train-drop'), files: $<HTMLInputElement>('train-files'),
    folder: $<HTMLInputElement>('train-folder'), dataInfo: $('train-data-info'), init: $<HTMLSelectElement>('train-init'),
    maskRatio: $<HTMLSelectElement>('train-mask-ratio'), masking: $<HTMLSelectElement>('train-masking'), epochs: $<HTMLInputElement>('train-epochs'),
    steps: $<HTMLInputElement>('train-steps'), batch: $<HTMLInputElement>('train-batch'), blr: $<HTMLInputElement>('train-blr'),
    warmup: $<HTMLInputElement>('train-warmup'), seed: $<HTMLInputElement>('train-seed'), threads: $<HTMLSelectElement>('train-threads'),
    start: $<HTMLButtonElement>('train-start'), pause: $<HTMLButtonElement>('train-pause'), stop: $<HTMLButtonElement>('train-stop'),
    status: $('train-status'), curve: $<HTMLCanvasElement>('loss-curve'), stats: $('train-stats'),
    step: $('t-step'), loss: $('t-loss'), speed: $('t-speed'), eta: $('t-eta'), backend: $('t-backend'), memory: $('t-memory'), mainThread: $('t-main-thread'),
    downloads: $('train-downloads'), dlConfig: $<HTMLAnchorElement>('dl-config'), dlWeights: $<HTMLAnchorElement>('dl-weights'), dlPreprocessor: $<HTMLAnchorElement>('dl-preprocessor'),
  };
  if (!d.index.training) {
    els.section.hidden = true;
    return;
  }
  for (const r of d.index.maskRatios) els.maskRatio.append(new Option(`${Math.round(r * 100)} %`, String(r), false, r === d.index.defaultMaskRatio));
  const maxThreads = d.plat.crossOriginIsolated && d.index.training.threads ? Math.min(d.plat.cores, 8) : 1;
  els.threads.replaceChildren(...Array.from({ length: maxThreads }, (_, i) => new Option(`${i + 1} thread${i ? 's' : ''}`, String(i + 1))));
  els.threads.disabled = maxThreads < 2;

  let chosen: { name: string; bytes: ArrayBuffer }[] = [];
  const showData = (): void => {
    const own = els.data.value === 'files';
    els.drop.hidden = !own;
    els.dataInfo.textContent = own
      ? (chosen.length ? `${chosen.length} image${chosen.length > 1 ? 's' : ''} chosen (trained in name order, as the CLI walks a folder).` : 'No images chosen yet.')
      : `${d.index.samples.length} bundled Fashion-MNIST samples (models/${d.index.name}/samples).`;
  };
  const status = (state: string, text: string): void => { els.status.dataset.state = state; els.status.textContent = text; };
  const take = async (list: Iterable<File>): Promise<void> => {
    const out: { name: string; bytes: ArrayBuffer }[] = [];
    const skipped: string[] = [];
    let bytes = 0;
    for (const f of list) {
      const name = f.webkitRelativePath || f.name;
      if (!IMAGE_EXT.test(f.name)) continue;
      if (f.size > MAX_IMAGE_FILE_BYTES) { skipped.push(`${name} (${(f.size / 2 ** 20).toFixed(0)} MiB, over ${MAX_IMAGE_FILE_BYTES / 2 ** 20} MiB)`); continue; }
      if (bytes + f.size > MAX_CHOSEN_BYTES) { skipped.push(`${name} and the rest (over ${MAX_CHOSEN_BYTES / 2 ** 30} GiB of files in all)`); break; }
      bytes += f.size;
      out.push({ name, bytes: await f.arrayBuffer() });
    }
    chosen = out;
    els.data.value = 'files';
    showData();
    if (skipped.length) status('error', `Left out: ${skipped.join(', ')}`);
    else if (out.length === 0) status('error', 'No PNG or JPEG images among the files chosen.');
    else status('idle', '');
  };
  els.data.addEventListener('change', showData);
  // The list is copied before the input is cleared (clearing it may empty the live FileList).
  for (const input of [els.files, els.folder]) input.addEventListener('change', () => { void take([...(input.files ?? [])]); input.value = ''; });
  for (const type of ['dragenter', 'dragover'] as const) els.drop.addEventListener(type, (e) => { e.preventDefault(); els.drop.classList.add('over'); });
  for (const type of ['dragleave', 'drop'] as const) els.drop.addEventListener(type, () => els.drop.classList.remove('over'));
  els.drop.addEventListener('drop', (e) => { e.preventDefault(); void take([...(e.dataTransfer?.files ?? [])]); });
  showData();

  const monitor = new MainThreadMonitor();
  let points: (CurvePoint & { seconds: number; imagesPerS: number })[] = [];
  let total = 0, batch = 1, running = false, paused = false;
  const urls: string[] = [];
  const redraw = (): void => drawLossCurve(els.curve, points, total);
  redraw();
  const showMainThread = (): void => {
    els.mainThread.textContent = `longest task ${monitor.longestTaskMs.toFixed(0)} ms (tasks over 50 ms), longest timer gap ${monitor.longestGapMs.toFixed(0)} ms`;
    els.stats.dataset.longestTaskMs = String(monitor.longestTaskMs);
    els.stats.dataset.longestGapMs = String(monitor.longestGapMs);
  };
  const setButtons = (): void => {
    els.start.disabled = running;
    els.pause.disabled = !running;
    els.stop.disabled = !running;
    els.pause.textContent = paused ? 'Resume' : 'Pause';
    for (const el of [els.data, els.init, els.maskRatio, els.masking, els.epochs, els.steps, els.batch, els.blr, els.warmup, els.seed]) el.disabled = running;
    els.threads.disabled = running || maxThreads < 2;
  };

  d.client.onTrainEvent = (e) => {
    if (e.type === 'train-started') {
      total = e.totalSteps;
      els.backend.textContent = e.backend;
      els.stats.dataset.threads = String(e.threads);
      els.memory.textContent = `${(e.memoryBytes / 2 ** 20).toFixed(0)} MiB of WebAssembly memory (sized for batch ${batch}, ${e.keep} of ${e.patches} patches kept)`;
      status('running', `Training on ${e.images} images: ${e.stepsPerEpoch} step${e.stepsPerEpoch > 1 ? 's' : ''} per epoch, ${e.totalSteps} in all.`);
      redraw();
    } else if (e.type === 'train-step') {
      points.push({ iter: e.iter, loss: e.loss, seconds: e.seconds, imagesPerS: e.imagesPerS });
      const mean = e.iter * batch / Math.max(e.seconds, 1e-9);
      els.step.textContent = `${e.iter} / ${total} (epoch ${e.epoch.toFixed(2)}, lr ${e.lr.toExponential(2)})`;
      els.loss.textContent = e.loss.toFixed(6);
      els.speed.textContent = `${e.imagesPerS.toFixed(0)} (last step), ${mean.toFixed(0)} (mean)`;
      els.eta.textContent = e.iter >= total ? 'done' : fmtSeconds((total - e.iter) * e.seconds / e.iter);
      els.stats.dataset.step = String(e.iter);
      els.stats.dataset.steps = JSON.stringify(points);
      redraw();
      showMainThread();
    } else if (e.type === 'train-preview') {
      d.onPreview(e);
    } else if (e.type === 'train-state') {
      paused = e.state === 'paused';
      els.stats.dataset.state = e.state;
      status(e.state, paused ? `Paused at step ${points.length} of ${total}.` : 'Training…');
      setButtons();
    }
  };

  const recipe = (): TrainRecipe => ({
    init: els.init.value === 'scratch' ? 'scratch' : 'bundled',
    batch: intField(els.batch, 'batch', 1, 65536)!,
    epochs: intField(els.epochs, 'epochs', 1, 100_000)!,
    maxIters: intField(els.steps, 'steps at most', 1, 2 ** 31 - 1, true),
    blr: numberField(els.blr, 'base lr'),
    warmupEpochs: numberField(els.warmup, 'warm-up epochs'),
    maskRatio: Number(els.maskRatio.value),
    masking: els.masking.value as TrainRecipe['masking'],
    seed: intField(els.seed, 'seed', 0, 2 ** 32 - 1)!,
    threads: Number(els.threads.value) || 1,
  });

  els.start.addEventListener('click', async () => {
    let r: TrainRecipe;
    try {
      r = recipe();
    } catch (e) {
      status('error', (e as Error).message);
      return;
    }
    if (els.data.value === 'files' && chosen.length === 0) { status('error', 'Choose images to train on first (or the bundled samples).'); return; }
    const data: TrainData = els.data.value === 'files' ? { kind: 'files', files: chosen.map((f) => ({ name: f.name, bytes: f.bytes.slice(0) })) } : { kind: 'samples' };
    points = [];
    total = r.maxIters ?? 0;
    batch = r.batch;
    running = true;
    paused = false;
    els.downloads.hidden = true;
    for (const u of urls.splice(0)) URL.revokeObjectURL(u);
    for (const el of [els.step, els.loss, els.speed, els.eta, els.memory]) el.textContent = '—';
    els.stats.dataset.state = 'running';
    els.stats.dataset.step = '0';
    els.stats.dataset.steps = '[]';
    status('running', 'Preparing the run (images, training module, memory)…');
    setButtons();
    redraw();
    monitor.start();
    try {
      const done = await d.client.train(d.modelBase, r, data, d.preview());
      monitor.stop();
      showMainThread();
      const file = (el: HTMLAnchorElement, part: BlobPart, type: string): void => {
        const u = URL.createObjectURL(new Blob([part], { type }));
        urls.push(u);
        el.href = u;
      };
      file(els.dlConfig, done.config, 'application/json');
      file(els.dlWeights, done.weights, 'application/octet-stream');
      if (done.preprocessor !== undefined) file(els.dlPreprocessor, done.preprocessor, 'application/json');
      els.dlPreprocessor.hidden = done.preprocessor === undefined;
      els.downloads.hidden = false;
      els.stats.dataset.state = done.end;
      status(done.end, `${done.end === 'done' ? 'Done' : 'Stopped'}: ${done.steps} steps in ${fmtSeconds(done.seconds)}; the reconstruction above now uses the trained model.`);
      running = false;
      paused = false;
      setButtons();
      await d.onTrained(done);
    } catch (e) {
      monitor.stop();
      showMainThread();
      running = false;
      paused = false;
      els.stats.dataset.state = 'error';
      status('error', (e as Error).message);
      setButtons();
    }
  });
  els.pause.addEventListener('click', () => d.client.control(paused ? 'resume' : 'pause'));
  els.stop.addEventListener('click', () => d.client.control('stop'));
}
