/**
 * The model worker: loads the bundled model from the page's origin (fetch, no file system, a
 * precompiled-at-load kernel module) and runs reconstructions off the page's thread. With threads
 * it is kernel thread 0 and starts the others as workers of its own (a page's main thread may
 * not block on Atomics.wait, which the kernel threads' barriers do). It also trains
 * (training-run.ts): the run yields between steps, so reconstructions and pause/stop messages
 * are served while it goes on; when it ends, the trained weights become the model's.
 */
import { MaeModel, SafetensorsFile, loadImage, loadWeights, parseConfig, parsePreprocessorConfig, preprocessImage, reconstruct, renderFigure } from '../src/index.js';
import type { Manifest, MaeConfig, MaeWeights, ModelSource } from '../src/index.js';
import { browserWorkers } from '../src/browser/threads.js';
import type { BundledKernels, WebModelIndex } from '../src/browser/bundle.js';
import type { LoadRequest, ReconstructRequest, Reply, Request, TrainEvent, TrainRequest } from './protocol.js';
import { type TrainingFile, TrainingRun, nodeOrder } from './training-run.js';

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

/** The model's files, fetched once per page. */
interface Fetched {
  base: string;
  index: WebModelIndex;
  config: MaeConfig;
  preprocessor: unknown;
  /** Views of the safetensors bytes (nothing copied until the weights are packed). */
  weights: MaeWeights;
  bytes: Uint8Array;
  modules: Map<string, Promise<{ module: WebAssembly.Module; manifest: Manifest }>>;
}

let fetched: Fetched | undefined;
let model: MaeModel | undefined;
let threads = 1;
/** The weights of the last training run, once it ended: the model's from then on. */
let trained: { weights: MaeWeights; config: MaeConfig; steps: number } | undefined;
let training: TrainingRun | undefined;

async function get(url: URL): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url.pathname}: HTTP ${r.status} ${r.statusText}`);
  return r;
}

async function fetchModel(base: string): Promise<Fetched> {
  if (fetched?.base === base) return fetched;
  const at = (f: string): URL => new URL(f, base);
  const index = (await (await get(at('index.json'))).json()) as WebModelIndex;
  const [configJson, preprocessor, bytes] = await Promise.all([
    get(at(index.config)).then((r) => r.json() as Promise<unknown>),
    get(at(index.preprocessor)).then((r) => r.json() as Promise<unknown>),
    get(at(index.weights)).then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b)),
  ]);
  const config = parseConfig(configJson, index.config);
  const weights = loadWeights(SafetensorsFile.parse(bytes, index.weights), config, { lazy: true });
  fetched = { base, index, config, preprocessor, weights, bytes, modules: new Map() };
  return fetched;
}

/** Compiles a kernel module while it downloads (needs Content-Type: application/wasm). */
function kernelModule(f: Fetched, k: BundledKernels): Promise<{ module: WebAssembly.Module; manifest: Manifest }> {
  let p = f.modules.get(k.wasm);
  if (!p) {
    p = Promise.all([
      WebAssembly.compileStreaming(get(new URL(k.wasm, f.base))),
      get(new URL(k.manifest, f.base)).then((r) => r.json() as Promise<Manifest>),
    ]).then(([module, manifest]) => ({ module, manifest }));
    f.modules.set(k.wasm, p);
  }
  return p;
}

async function load(req: LoadRequest): Promise<Reply> {
  const t0 = performance.now();
  const f = await fetchModel(req.base);
  const want = Math.max(1, Math.floor(req.threads));
  const k = want > 1 ? f.index.kernels.threads : f.index.kernels.single;
  if (!k) throw new Error('this page was built without a threaded kernel module');
  model?.dispose();
  model = undefined;
  const source: ModelSource = {
    config: trained?.config ?? f.config,
    weights: trained?.weights ?? f.weights,
    kernels: await kernelModule(f, k),
    preprocessor: f.preprocessor,
    threads: want,
    startWorkers: want > 1 ? browserWorkers() : undefined,
    device: req.device,
  };
  model = await MaeModel.load(source);
  threads = want;
  const c = model.config;
  return {
    type: 'loaded', id: req.id, name: trained ? `${f.index.name}, trained in this page (${trained.steps} steps)` : f.index.name, backend: model.backendDescription, backendKind: model.backendKind, threads,
    imageSize: c.imageSize, numChannels: c.numChannels, patchSize: c.patchSize, numPatches: model.shapes.numPatches,
    loadMs: performance.now() - t0,
  };
}

async function run(req: ReconstructRequest): Promise<{ reply: Reply; transfer: Transferable[] }> {
  if (!model || !fetched) throw new Error('the model is not loaded yet');
  const t0 = performance.now();
  const c = model.config;
  const img = loadImage(new Uint8Array(req.image), req.name);
  // The bundled model's preprocessor does not resize (its images are 28×28 already); a dropped
  // image of another size is resized to the model's as Hugging Face would with do_resize (PIL bilinear).
  const sameSize = img.width === c.imageSize && img.height === c.imageSize;
  const pp = sameSize || model.preprocessor.doResize
    ? model.preprocessor
    : parsePreprocessorConfig({ ...(fetched.preprocessor as object), do_resize: true, size: { height: c.imageSize, width: c.imageSize } }, c.imageSize, c.numChannels);
  const pixels = preprocessImage(img, pp, c.numChannels as 1 | 3);
  const t1 = performance.now();
  const [row] = await reconstruct(model, pixels, model.preprocessor, { batch: 1, seed: req.seed, maskRatio: req.maskRatio });
  const modelMs = performance.now() - t1;
  const figure = renderFigure([row], { scale: req.scale });
  const removed = row.mask.reduce((a, m) => a + m, 0);
  const reply: Reply = {
    type: 'reconstructed', id: req.id,
    figure: { width: figure.width, height: figure.height, data: figure.data },
    cell: c.imageSize * req.scale,
    loss: row.loss, lossNormPix: row.lossNormPix,
    removed, patches: row.mask.length,
    modelMs, totalMs: performance.now() - t0,
    backend: model.backendDescription, backendKind: model.backendKind, threads,
    resizedFrom: sameSize ? undefined : { width: img.width, height: img.height },
    name: req.name, seed: req.seed, maskRatio: req.maskRatio,
  };
  return { reply, transfer: [figure.data.buffer as ArrayBuffer] };
}

async function train(req: TrainRequest): Promise<{ reply: Reply; transfer: Transferable[] }> {
  if (training) throw new Error('a training run is already going on');
  // The run exists from here on, so a pause or stop sent while the data loads is not lost.
  const run = new TrainingRun((e: TrainEvent, transfer: Transferable[] = []) => scope.postMessage(e, transfer));
  training = run;
  try {
    const f = await fetchModel(req.base);
    const t = f.index.training;
    if (!t) throw new Error('this page was built without training modules (npm run web:build builds them)');
    const files: TrainingFile[] = req.data.kind === 'files'
      ? [...req.data.files].sort(nodeOrder)
      : await Promise.all(f.index.samples.map(async (s) => ({ name: s.file.split('/').pop()!, bytes: await (await get(new URL(s.file, f.base))).arrayBuffer() }))).then((a) => a.sort(nodeOrder));
    const { weightsForModel, ...result } = await run.run({
      config: f.config,
      preprocessorJson: f.preprocessor,
      weightsBytes: f.bytes,
      trainingKernels: (shared) => {
        const k = shared ? t.threads : t.single;
        if (!k) throw new Error('this page was built without a threaded training module');
        return kernelModule(f, k);
      },
      inferenceKernels: () => kernelModule(f, f.index.kernels.single),
    }, req.recipe, files, req.preview);
    trained = { weights: weightsForModel, config: { ...f.config, maskRatio: req.recipe.maskRatio }, steps: result.steps };
    return { reply: { ...result, id: req.id }, transfer: [result.weights] };
  } finally {
    training = undefined;
  }
}

// One request at a time, in order: a reload never overlaps a run. Training is not queued (it
// yields between steps and would hold the queue for minutes); its controls act at once.
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e: MessageEvent): void => {
  const req = e.data as Request;
  if (req.type === 'train-control') {
    training?.control(req.action);
    return;
  }
  if (req.type === 'train') {
    train(req).then(
      ({ reply, transfer }) => scope.postMessage(reply, transfer),
      (err: unknown) => scope.postMessage({ type: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) } satisfies Reply),
    );
    return;
  }
  queue = queue.then(async () => {
    try {
      if (req.type === 'load') scope.postMessage(await load(req));
      else if (req.type === 'reconstruct') {
        const { reply, transfer } = await run(req);
        scope.postMessage(reply, transfer);
      }
    } catch (err) {
      scope.postMessage({ type: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) } satisfies Reply);
    }
  });
};
