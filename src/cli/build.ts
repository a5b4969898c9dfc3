/** `edge-mae build`: generate and compile the kernel module for a config (or report the cached one). */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readConfig } from '../node/load.js';
import { checkOutputPath, writeFileAtomic } from '../node/atomic-write.js';
import { kindOf } from '../node/regular-file.js';
import { FileError } from '../errors.js';
import { buildKernels, defaultCacheDir, writeTuning } from '../../codegen/compile.js';
import { chooseSimd, type SimdVariant } from '../simd-support.js';
import { describeServedRatios, encoderLengthsFor } from '../mask-ratios.js';
import { shapesOf } from '../shapes.js';

export interface BuildArgs {
  config: string;
  cacheDir?: string;
  force?: boolean;
  /** Time candidate GEMM tiles on this machine and keep the fastest for this config. */
  tune?: boolean;
  simd?: SimdVariant | 'auto';
  threads?: boolean;
  /** The WASI build (@assemblyscript/wasi-shim): only wasi_snapshot_preview1 imports, its own fixed memory exported. */
  wasi?: boolean;
  /** Also serve these mask ratios (besides the config's own and 0): one encoder length each. */
  maskRatios?: number[];
  /** Also copy kernels.wasm, manifest.json and kernels.ts here (to bundle with an app). */
  out?: string;
}

/** Before compiling: `dir` is a folder or a new name, and each copy would replace only a regular file. */
function checkOutputFolder(dir: string, files: readonly string[]): void {
  const s = statSync(dir, { throwIfNoEntry: false });
  if (!s) return; // made, with its parents, after the build
  if (!s.isDirectory()) throw new FileError(`--out '${dir}': is ${kindOf(s)}, expected a folder`);
  for (const f of files) checkOutputPath(join(dir, f));
}

export async function runBuild(a: BuildArgs, log: (line: string) => void): Promise<void> {
  const cfg = readConfig(a.config);
  const copies = ['kernels.wasm', 'manifest.json', 'kernels.ts'];
  if (a.out) checkOutputFolder(a.out, copies);
  const encoderLengths = encoderLengthsFor(cfg, a.maskRatios);
  const simd = chooseSimd(a.simd ?? 'auto');
  const cacheDir = a.cacheDir ?? defaultCacheDir();
  if (a.tune) {
    const { tuneTiles } = await import('../../codegen/tune.js');
    const result = await tuneTiles(cfg, simd, log);
    log(`tiles recorded in ${writeTuning(cacheDir, cfg, simd, result)}`);
  }
  const t0 = performance.now();
  const built = await buildKernels(cfg, { encoderLengths, cacheDir, force: a.force || a.tune, simd, threads: a.threads, wasi: a.wasi });
  const ms = performance.now() - t0;
  const exported = built.manifest.kernels.filter((k) => k.exported).length;
  if (a.out) {
    mkdirSync(a.out, { recursive: true });
    for (const f of copies) writeFileAtomic(join(a.out, f), readFileSync(join(built.dir, f)));
    log(`copied kernels.wasm, manifest.json, kernels.ts to ${a.out}`);
  }
  log(`${built.compiled ? 'built' : 'cached'} (${simd}${a.threads ? ', threads' : ''}${a.wasi ? ', WASI' : ''}${built.manifest.tuning && built.manifest.tuning !== 'default' ? ', tuned tiles' : ''}): ${built.dir}/kernels.wasm (${(built.wasm.length / 1024).toFixed(1)} KiB, ${exported} kernels, ${built.manifest.memory.pages} pages = ${(built.manifest.memory.pages / 16).toFixed(1)} MiB memory) in ${ms.toFixed(0)} ms`);
  log(`serves mask ratios ${describeServedRatios(built.manifest.encoderLengths, shapesOf(cfg).numPatches)}`);
}
