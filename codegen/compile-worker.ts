/**
 * A WASI compile in a worker thread, with a fresh copy of the AssemblyScript compiler: the WASI
 * shim's asconfig leaves state in the compiler module that breaks later ordinary compiles in the
 * same module instance (seen as "~lib/bindings/wasi_snapshot_preview1.ts not found").
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compileAssemblyScript } from './compile.js';
import type { SimdVariant } from '../src/simd-support.js';

const { source, simd, pages } = workerData as { source: string; simd: SimdVariant; pages: number };
try {
  const wasm = await compileAssemblyScript(source, simd, false, { pages });
  parentPort!.postMessage({ wasm }, [wasm.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage({ error: (e as Error).message });
}
