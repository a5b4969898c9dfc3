/**
 * Which backend runs a model: 'wasm' (the default), 'webgpu' (an error saying why when it cannot be
 * had), or 'auto' — WebGPU when an adapter and a device can be had and the model fits the adapter's
 * limits, else WASM with the reason in its description ("… (auto: webgpu: no adapter)").
 */
import type { MaeConfig } from '../config.js';
import { KernelError, UsageError } from '../errors.js';
import type { MaeWeights } from '../weights.js';
import type { MaeBackend } from './backend.js';
import { type GpuSource, acquireDevice, defaultGpu } from './webgpu-device.js';
import { gpuNeeds } from './webgpu-layout.js';
import { WebGpuBackend } from './webgpu.js';

export const DEVICES = ['auto', 'wasm', 'webgpu'] as const;
export type DeviceChoice = (typeof DEVICES)[number];

export interface BackendChoice {
  readonly device?: DeviceChoice;
  readonly config: MaeConfig;
  readonly weights: MaeWeights;
  /** Where the GPU comes from (default: navigator.gpu, or Node's `webgpu` package). */
  readonly gpu?: GpuSource;
  /** Makes the WASM backend. */
  readonly wasm: () => Promise<MaeBackend>;
}

/** A backend whose description carries a note on how it was chosen. */
function noted(b: MaeBackend, note: string): MaeBackend {
  return {
    kind: b.kind,
    get description() { return `${b.description} (${note})`; },
    maxBatch: b.maxBatch,
    encode: (pixels, ids, n) => b.encode(pixels, ids, n),
    decode: (latent, idsRestore, keep, n) => b.decode(latent, idsRestore, keep, n),
    dispose: () => b.dispose(),
  };
}

export async function selectBackend(c: BackendChoice): Promise<MaeBackend> {
  const device = c.device ?? 'wasm';
  if (!(DEVICES as readonly string[]).includes(device)) throw new UsageError(`device must be one of ${DEVICES.join(', ')}, got '${device}'`);
  if (device === 'wasm') return c.wasm();
  const got = await acquireDevice(c.gpu ?? defaultGpu, gpuNeeds(c.config));
  let reason: string;
  if ('reason' in got) {
    reason = got.reason;
  } else {
    try {
      const b = await WebGpuBackend.create({ config: c.config, weights: c.weights, device: got.device, adapter: got.adapter });
      return device === 'auto' ? noted(b, 'auto') : b;
    } catch (e) {
      got.device.destroy();
      reason = (e as Error).message.startsWith('webgpu:') ? (e as Error).message : `webgpu: ${(e as Error).message}`;
    }
  }
  if (device === 'webgpu') throw new KernelError(`device 'webgpu' is not available: ${reason}`);
  return noted(await c.wasm(), `auto: ${reason}`);
}
