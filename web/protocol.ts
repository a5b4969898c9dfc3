/** Messages between the page (main.ts) and the model worker (model-worker.ts). */

export interface LoadRequest {
  type: 'load';
  id: number;
  /** URL of the model folder (dist/web/model/). */
  base: string;
  /** Kernel threads: 1 runs on the model worker alone; more need a cross-origin isolated page. */
  threads: number;
  /** MaeModel's device: 'wasm', 'webgpu' or 'auto' (ignored by a MaeModel without a WebGPU backend). */
  device: Device;
}

export type Device = 'wasm' | 'webgpu' | 'auto';

export interface ReconstructRequest {
  type: 'reconstruct';
  id: number;
  /** PNG or JPEG bytes. */
  image: ArrayBuffer;
  name: string;
  seed: number;
  maskRatio: number;
  /** Nearest-neighbour enlargement of each panel. */
  scale: number;
}

/** The training panel's recipe: the options of `edge-mae pretrain` that matter in a page. */
export interface TrainRecipe {
  /** 'bundled': continue pretraining the bundled model (`--init`); 'scratch': fresh weights from the seed (`--config`). */
  init: 'bundled' | 'scratch';
  batch: number;
  epochs: number;
  /** Stop after this many optimizer steps (`--max-iters`). */
  maxIters?: number;
  blr: number;
  warmupEpochs: number;
  maskRatio: number;
  masking: 'random' | 'block' | 'grid';
  seed: number;
  threads: number;
}

/** Images to train on: the bundled samples, or files the page read (dropped or a picked folder), in Node's order. */
export type TrainData = { kind: 'samples' } | { kind: 'files'; files: { name: string; bytes: ArrayBuffer }[] };

export interface TrainRequest {
  type: 'train';
  id: number;
  /** URL of the model folder. */
  base: string;
  recipe: TrainRecipe;
  data: TrainData;
  /** The image the live reconstruction shows (default: the first training image). */
  preview?: { name: string; bytes: ArrayBuffer; seed: number; scale: number };
}

/** Pause, resume or stop the run in progress (answered by a train event, not a reply). */
export interface TrainControl {
  type: 'train-control';
  id: number;
  action: 'pause' | 'resume' | 'stop';
}

export type Request = LoadRequest | ReconstructRequest | TrainRequest | TrainControl;

/** What the loaded model is. */
export interface ModelInfo {
  name: string;
  /** MaeModel.backendDescription, e.g. "wasm: SIMD128, 1 thread, 6.0 MiB memory". */
  backend: string;
  /** 'wasm' or 'webgpu': what runs the kernels. */
  backendKind: string;
  threads: number;
  imageSize: number;
  numChannels: number;
  patchSize: number;
  numPatches: number;
  /** Milliseconds from the request to a ready model (fetches, compile, weight packing). */
  loadMs: number;
}

export interface LoadedReply extends ModelInfo {
  type: 'loaded';
  id: number;
}

export interface ReconstructedReply {
  type: 'reconstructed';
  id: number;
  /** renderFigure's RGB image: masked | reconstruction | original. */
  figure: { width: number; height: number; data: Uint8Array };
  /** Width of one panel in figure pixels. */
  cell: number;
  loss: number;
  lossNormPix: number;
  /** Patches removed / all patches. */
  removed: number;
  patches: number;
  /** The model's forward (reconstruct job) alone, and everything from bytes to figure. */
  modelMs: number;
  totalMs: number;
  backend: string;
  backendKind: string;
  threads: number;
  /** Set when the image was resized to the model's size first. */
  resizedFrom?: { width: number; height: number };
  name: string;
  seed: number;
  maskRatio: number;
}

export interface ErrorReply {
  type: 'error';
  id: number;
  message: string;
}

/** The trained model as a model folder's files, byte for byte what `edge-mae pretrain` writes. */
export interface TrainedReply {
  type: 'trained';
  id: number;
  /** 'done': the recipe's steps ran; 'stopped': stopped early. */
  end: 'done' | 'stopped';
  steps: number;
  seconds: number;
  config: string;
  preprocessor?: string;
  weights: ArrayBuffer;
}

export type Reply = LoadedReply | ReconstructedReply | TrainedReply | ErrorReply;

/** What the model worker tells the page while training (no request id: the run in progress). */
export type TrainEvent =
  | { type: 'train-started'; images: number; stepsPerEpoch: number; totalSteps: number; keep: number; patches: number; memoryBytes: number; backend: string; threads: number }
  | { type: 'train-step'; iter: number; epoch: number; loss: number; lr: number; seconds: number; imagesPerS: number }
  | { type: 'train-preview'; iter: number; figure: { width: number; height: number; data: Uint8Array }; cell: number; loss: number; name: string }
  | { type: 'train-state'; state: 'paused' | 'running' };

export const isTrainEvent = (m: { type: string }): m is TrainEvent => m.type.startsWith('train-') && m.type !== 'train-control';
