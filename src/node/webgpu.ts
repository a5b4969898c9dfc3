/**
 * WebGPU in Node: the optional `webgpu` package (Dawn's node bindings), imported only when a model
 * asks for WebGPU, and one GPU object per process. Without a GPU, Dawn finds Vulkan drivers through
 * the usual loader variables: e.g. SwiftShader from Debian's chromium package with
 * VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json and LD_LIBRARY_PATH=/usr/lib/chromium
 * (set before Node starts). EDGE_MAE_DAWN_OPTIONS passes comma-separated options to Dawn's create()
 * (e.g. adapter=llvmpipe to pick lavapipe when several drivers are visible).
 */
import type { Gpu } from '../backend/webgpu-types.js';

let gpu: Promise<Gpu | string> | undefined;

/** Node's GPU object, or why there is none. */
export function nodeGpu(): Promise<Gpu | string> {
  gpu ??= (async (): Promise<Gpu | string> => {
    // A variable specifier: TypeScript and bundlers leave the optional package alone.
    const specifier = 'webgpu';
    let mod: { create(options: string[]): Gpu };
    try {
      mod = await import(specifier) as typeof mod;
    } catch (e) {
      return `webgpu: the optional 'webgpu' package does not load (${(e as Error).message.split('\n')[0]}); install it with npm install webgpu@0.6.2`;
    }
    const options = (process.env.EDGE_MAE_DAWN_OPTIONS ?? '').split(',').map((s) => s.trim()).filter((s) => s);
    try {
      return mod.create(options);
    } catch (e) {
      return `webgpu: Dawn did not start (${(e as Error).message.split('\n')[0]})`;
    }
  })();
  return gpu;
}
