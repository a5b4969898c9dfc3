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

export type Request = LoadRequest | ReconstructRequest;

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

export type Reply = LoadedReply | ReconstructedReply | ErrorReply;
