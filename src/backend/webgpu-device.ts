/**
 * Getting a WebGPU device for a model: the platform's GPU object (navigator.gpu in browsers; in
 * Node the optional `webgpu` package, which the Node entry registers), an adapter, a check that the model fits
 * the adapter's limits, and a device with the limits it needs. Every way this can fail comes back
 * as a one-line reason ("webgpu: no adapter"), which 'auto' shows when it falls back to WASM and
 * an explicit 'webgpu' turns into an error.
 */
import type { Gpu, GpuAdapter, GpuAdapterInfo, GpuDevice, GpuLimits } from './webgpu-types.js';

/** A GPU object, or the reason there is none. */
export type GpuSource = () => Promise<Gpu | string>;

/** What a model asks of the adapter (see webgpu-layout.ts). */
export interface GpuNeeds {
  /** The largest single buffer (bytes), weights and activations alike. */
  readonly maxBufferBytes: number;
  readonly storageBuffersPerStage: number;
  readonly workgroupInvocations: number;
  readonly workgroupSizeX: number;
  readonly workgroupSizeY: number;
  readonly workgroupsPerDimension: number;
}

export interface AcquiredDevice {
  readonly device: GpuDevice;
  /** e.g. "SwiftShader Device (Subzero) (google, swiftshader; fallback adapter)". */
  readonly adapter: string;
  readonly fallbackAdapter: boolean;
}

let platformGpu: GpuSource | undefined;

/**
 * Where the GPU comes from when there is no navigator.gpu: the Node entry registers the `webgpu`
 * package's (src/node/webgpu.ts), so that no edge or browser bundle contains Node code.
 */
export function registerPlatformGpu(source: GpuSource): void {
  platformGpu = source;
}

/** The platform's GPU: navigator.gpu, else the registered one (Node: the `webgpu` package). */
export const defaultGpu: GpuSource = async () => {
  const nav = (globalThis as { navigator?: { gpu?: Gpu } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (platformGpu) return platformGpu();
  return 'webgpu: this platform has no navigator.gpu';
};

function describeAdapter(a: GpuAdapter): { text: string; fallback: boolean } {
  const info: GpuAdapterInfo = a.info ?? {};
  const fallback = info.isFallbackAdapter ?? a.isFallbackAdapter ?? false;
  const name = info.description || info.device || '';
  const where = [info.vendor, info.architecture].filter((x) => x).join(', ');
  const text = [name, where ? `(${where}${fallback ? '; fallback adapter' : ''})` : fallback ? '(fallback adapter)' : ''].filter((x) => x).join(' ') || 'unnamed adapter';
  return { text, fallback };
}

export const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Why the model does not fit these limits, or null when it does. */
export function limitsShortfall(limits: GpuLimits, needs: GpuNeeds): string | null {
  const checks: Array<[keyof GpuLimits & string, number, (n: number) => string]> = [
    ['maxStorageBufferBindingSize', needs.maxBufferBytes, MiB],
    ['maxBufferSize', needs.maxBufferBytes, MiB],
    ['maxStorageBuffersPerShaderStage', needs.storageBuffersPerStage, String],
    ['maxComputeInvocationsPerWorkgroup', needs.workgroupInvocations, String],
    ['maxComputeWorkgroupSizeX', needs.workgroupSizeX, String],
    ['maxComputeWorkgroupSizeY', needs.workgroupSizeY, String],
    ['maxComputeWorkgroupsPerDimension', needs.workgroupsPerDimension, String],
  ];
  for (const [name, need, fmt] of checks) {
    const have = limits[name];
    if (typeof have === 'number' && have < need) return `webgpu: the model needs ${name} ${fmt(need)}, the adapter allows ${fmt(have)}`;
  }
  return null;
}

/** Raises the device's limits above the defaults only where the model needs it. */
function requiredLimits(limits: GpuLimits, needs: GpuNeeds): Record<string, number> {
  const req: Record<string, number> = {};
  // WebGPU's defaults; asking for more than the adapter has fails, so never ask beyond it.
  const defaults: Record<string, number> = { maxStorageBufferBindingSize: 134217728, maxBufferSize: 268435456 };
  for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize']) {
    if (needs.maxBufferBytes > defaults[name]) req[name] = Math.min(limits[name], needs.maxBufferBytes);
  }
  return req;
}

/** A device for a model with these needs, or the reason there is none. */
export async function acquireDevice(source: GpuSource, needs: GpuNeeds): Promise<AcquiredDevice | { reason: string }> {
  let gpu: Gpu | string;
  try {
    gpu = await source();
  } catch (e) {
    return { reason: `webgpu: ${(e as Error).message}` };
  }
  if (typeof gpu === 'string') return { reason: gpu };
  let adapter: GpuAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { reason: `webgpu: requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { reason: 'webgpu: no adapter' };
  const short = limitsShortfall(adapter.limits, needs);
  if (short) return { reason: short };
  const { text, fallback } = describeAdapter(adapter);
  try {
    const device = await adapter.requestDevice({ label: 'edge-mae', requiredLimits: requiredLimits(adapter.limits, needs) });
    return { device, adapter: text, fallbackAdapter: fallback };
  } catch (e) {
    return { reason: `webgpu: requestDevice on ${text} failed: ${(e as Error).message}` };
  }
}
