/** `edge-mae build`: generate and compile the kernel module for a config (or report the cached one). */
import { readConfig } from '../node/load.js';
import { buildKernels } from '../../codegen/compile.js';

export interface BuildArgs {
  config: string;
  cacheDir?: string;
  force?: boolean;
}

export async function runBuild(a: BuildArgs, log: (line: string) => void): Promise<void> {
  const cfg = readConfig(a.config);
  const t0 = performance.now();
  const built = await buildKernels(cfg, { cacheDir: a.cacheDir, force: a.force });
  const ms = performance.now() - t0;
  const exported = built.manifest.kernels.filter((k) => k.exported).length;
  log(`${built.compiled ? 'built' : 'cached'}: ${built.dir}/kernels.wasm (${(built.wasm.length / 1024).toFixed(1)} KiB, ${exported} kernels, ${built.manifest.memory.pages} pages = ${(built.manifest.memory.pages / 16).toFixed(1)} MiB memory) in ${ms.toFixed(0)} ms`);
}
