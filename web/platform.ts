/** What this browser offers: shared memory for kernel threads, cores, and a WebGPU adapter. */

export interface Platform {
  /** COOP/COEP in effect: SharedArrayBuffer and shared WebAssembly memory are available. */
  crossOriginIsolated: boolean;
  cores: number;
  /** Why there is only one kernel thread, when that is so. */
  singleThreadReason?: string;
}

export function platform(): Platform {
  const isolated = globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  let singleThreadReason: string | undefined;
  if (!isolated) singleThreadReason = 'the page is not cross-origin isolated (needs COOP/COEP headers, e.g. from `edge-mae serve`), so WebAssembly memory cannot be shared with workers';
  else if (cores < 2) singleThreadReason = 'this browser reports one core';
  return { crossOriginIsolated: isolated, cores, singleThreadReason };
}

/** The part of navigator.gpu used here (WebGPU's types are not in TypeScript's DOM library). */
interface GpuLike {
  requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string }; isFallbackAdapter?: boolean } | null>;
}

/** A one-line description of the WebGPU adapter, or why there is none. */
export async function webGpuAdapter(): Promise<{ available: boolean; text: string }> {
  const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (!gpu) return { available: false, text: 'not available in this browser' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { available: false, text: 'no adapter' };
    const i = adapter.info ?? {};
    const name = [i.vendor, i.architecture, i.description].filter((s) => s).join(' ') || 'unnamed adapter';
    return { available: true, text: `${name}${adapter.isFallbackAdapter ? ' (fallback adapter)' : ''}` };
  } catch (e) {
    return { available: false, text: `adapter request failed: ${(e as Error).message}` };
  }
}
