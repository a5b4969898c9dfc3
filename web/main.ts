/**
 * The page: the bundled model reconstructs a dropped, picked or sample image in a worker, and the
 * paper's three panels (masked | reconstruction | original) are drawn with the losses, the time and
 * the backend that ran. Changing the mask ratio or the seed runs it again.
 */
import type { WebModelIndex } from '../src/browser/bundle.js';
import { alignCaptions, drawFigure } from './figure-canvas.js';
import { type PickedImage, showSamples, wireImageInput } from './image-input.js';
import { ModelClient } from './model-client.js';
import { platform, webGpuAdapter } from './platform.js';
import type { Device, LoadedReply } from './protocol.js';
import { showResult } from './results.js';
import { wireTrainingPanel } from './train-panel.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: no #${id}`);
  return e as T;
};

const els = {
  status: $('status'),
  maskRatio: $<HTMLInputElement>('mask-ratio'),
  maskRatioValue: $<HTMLOutputElement>('mask-ratio-value'),
  seed: $<HTMLInputElement>('seed'),
  reseed: $<HTMLButtonElement>('reseed'),
  threads: $<HTMLSelectElement>('threads'),
  device: $<HTMLSelectElement>('device'),
  threadsNote: $('threads-note'),
  canvas: $<HTMLCanvasElement>('figure'),
  captions: $('captions'),
  webgpu: $('r-webgpu'),
  modelInfo: $('model-info'),
  result: {
    result: $('result'), image: $('r-image'), loss: $('r-loss'), lossNormPix: $('r-loss-norm-pix'),
    masked: $('r-masked'), time: $('r-time'), backend: $('r-backend'),
  },
};

const MODEL_BASE = new URL('model/', document.baseURI);
/** Panels at least 224 px wide. */
const panelScale = (imageSize: number): number => Math.max(1, Math.ceil(224 / imageSize));

const client = new ModelClient(new URL('model-worker.js', import.meta.url));
const plat = platform();
let loaded: LoadedReply | undefined;
let image: PickedImage | undefined;
let latestRun = 0;
/** Why the backend that ran is not the one asked for (shown after its description). */
let backendNote = '';

function showBackend(text: string, kind: string): void {
  els.result.backend.textContent = backendNote ? `${text} (${backendNote})` : text;
  els.result.backend.dataset.kind = kind;
  els.result.backend.dataset.note = backendNote;
}
let timer: ReturnType<typeof setTimeout> | undefined;

function status(state: 'loading' | 'ready' | 'running' | 'done' | 'error', text: string): void {
  els.status.dataset.state = state;
  els.status.textContent = text;
}

const fail = (message: string): void => status('error', message);

async function run(): Promise<void> {
  if (!image || !loaded) return;
  const run = ++latestRun;
  const seed = Math.max(0, Math.floor(Number(els.seed.value) || 0));
  const maskRatio = Number(els.maskRatio.value);
  status('running', `Reconstructing ${image.name}…`);
  try {
    const r = await client.reconstruct({ image: image.bytes, name: image.name, seed, maskRatio, scale: panelScale(loaded.imageSize) });
    if (run !== latestRun) return; // a newer run is on its way
    drawFigure(els.canvas, r.figure);
    alignCaptions(els.captions, r.cell, (r.figure.width - 3 * r.cell) / 4);
    showResult(els.result, r, run);
    showBackend(r.backend, r.backendKind);
    status('done', `Reconstructed ${r.name}: ${r.removed} of ${r.patches} patches removed.`);
  } catch (e) {
    if (run === latestRun) fail((e as Error).message);
  }
}

/** Runs again shortly after the controls settle. */
function schedule(delay = 120): void {
  clearTimeout(timer);
  timer = setTimeout(() => void run(), delay);
}

function pick(img: PickedImage): void {
  image = img;
  clearTimeout(timer);
  void run();
}

const threadsAllowed = (): boolean => plat.crossOriginIsolated && els.threads.options.length > 1;

/** (Re)loads the model with the threads and device the controls say; falls back to 1 thread on WASM. */
async function load(): Promise<void> {
  const threads = Number(els.threads.value) || 1;
  const device = els.device.value as Device;
  status('loading', `Loading the model (${device === 'wasm' ? `WebAssembly, ${threads} thread${threads > 1 ? 's' : ''}` : device})…`);
  els.threads.disabled = els.device.disabled = true;
  backendNote = '';
  try {
    loaded = await client.load(MODEL_BASE, threads, device);
  } catch (e) {
    if (threads === 1 && device === 'wasm') throw e;
    backendNote = `${device === 'wasm' ? `${threads} threads` : device} failed: ${(e as Error).message}`;
    els.threads.value = '1';
    els.device.value = 'wasm';
    loaded = await client.load(MODEL_BASE, 1, 'wasm');
  } finally {
    els.threads.disabled = !threadsAllowed() || els.device.value === 'webgpu';
    els.device.disabled = false;
  }
  if (device === 'webgpu' && !backendNote && loaded.backendKind !== 'webgpu') backendNote = 'this build of MaeModel has no WebGPU backend';
  showBackend(loaded.backend, loaded.backendKind);
  els.modelInfo.textContent = `${loaded.name}: ${loaded.imageSize}×${loaded.imageSize}×${loaded.numChannels}, patch ${loaded.patchSize} (${loaded.numPatches} patches); loaded in ${loaded.loadMs.toFixed(0)} ms`;
  status('ready', `Model ready${backendNote ? ` (${backendNote})` : ''}.${image ? '' : ' Pick a sample, or drop or choose an image.'}`);
}

function setUpControls(index: WebModelIndex): void {
  const ratios = index.maskRatios;
  els.maskRatio.min = String(ratios[0]);
  els.maskRatio.max = String(ratios[ratios.length - 1]);
  els.maskRatio.step = ratios.length > 1 ? String(Number((ratios[1] - ratios[0]).toFixed(4))) : 'any';
  els.maskRatio.value = String(index.defaultMaskRatio);
  const showRatio = (): void => { els.maskRatioValue.value = `${Math.round(Number(els.maskRatio.value) * 100)} %`; };
  showRatio();
  els.maskRatio.addEventListener('input', () => { showRatio(); schedule(); });
  els.seed.addEventListener('input', () => schedule(250));
  els.reseed.addEventListener('click', () => { els.seed.value = String(Math.floor(Math.random() * 2 ** 31)); schedule(0); });

  const max = plat.crossOriginIsolated && index.kernels.threads ? Math.min(plat.cores, 8) : 1;
  els.threads.replaceChildren(...Array.from({ length: max }, (_, i) => new Option(`${i + 1} thread${i ? 's' : ''}`, String(i + 1))));
  els.threads.value = '1';
  els.threads.disabled = max < 2;
  els.threadsNote.textContent = max < 2
    ? `1 thread: ${plat.singleThreadReason ?? 'this page was built without a threaded kernel module'}.`
    : `cross-origin isolated: kernel threads share the model's memory (${plat.cores} cores).`;
  const reload = async (): Promise<void> => {
    try {
      await load();
      schedule(0);
    } catch (e) {
      fail((e as Error).message);
    }
  };
  els.threads.addEventListener('change', () => void reload());
  els.device.addEventListener('change', () => void reload());
}

async function start(): Promise<void> {
  status('loading', 'Loading the model…');
  const r = await fetch(new URL('index.json', MODEL_BASE));
  if (!r.ok) throw new Error(`model/index.json: HTTP ${r.status} (build the page with \`npm run web:build\`)`);
  const index = (await r.json()) as WebModelIndex;
  setUpControls(index);
  wireImageInput({ drop: $('drop'), file: $<HTMLInputElement>('file'), samples: $('samples') }, pick, fail);
  showSamples($('samples'), index.samples.map((s) => ({ name: s.name, url: new URL(s.file, MODEL_BASE) })), pick, fail);
  const gpu = webGpuAdapter().then((g) => {
    els.webgpu.textContent = g.available ? `adapter: ${g.text}` : g.text;
    els.webgpu.dataset.available = String(g.available);
    const webgpu = [...els.device.options].find((o) => o.value === 'webgpu');
    if (webgpu && !g.available) { webgpu.disabled = true; webgpu.textContent += ' (unavailable)'; }
  });
  wireTrainingPanel({
    client, modelBase: MODEL_BASE, index, plat,
    preview: () => image && { name: image.name, bytes: image.bytes, seed: Math.max(0, Math.floor(Number(els.seed.value) || 0)), scale: panelScale(loaded?.imageSize ?? 28) },
    onPreview: (e) => {
      drawFigure(els.canvas, e.figure);
      alignCaptions(els.captions, e.cell, (e.figure.width - 3 * e.cell) / 4);
      els.canvas.dataset.trainingStep = String(e.iter);
      els.canvas.dataset.trainingLoss = String(e.loss);
      status('running', `Training: ${e.name} reconstructed by the model at step ${e.iter} (loss ${e.loss.toFixed(4)}).`);
    },
    onTrained: async () => {
      await load();
      if (image) schedule(0);
    },
  });
  await load();
  await gpu;
}

start().catch((e: Error) => fail(e.message));
