/**
 * Setting up the two other engines the same way in every bench process, and proving what they run:
 * - tfjs-wasm (@tensorflow/tfjs-backend-wasm, XNNPACK): threads set before the backend starts;
 * - onnxruntime-web (wasm execution provider): env.wasm.numThreads, SIMD on.
 * Every WebAssembly binary the process instantiates is fingerprinted (size + sha256) and matched
 * against the engine packages' .wasm files, so the report says which build actually ran (the SIMD
 * one, not the scalar fallback) rather than what was asked for.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

export interface WasmBinaryInfo {
  bytes: number;
  sha256: string;
  /** The package file with the same bytes, when there is one. */
  file?: string;
}

const instantiated: WasmBinaryInfo[] = [];
let hooked = false;

/** Package .wasm files by sha256: tfjs-backend-wasm's and onnxruntime-web's dist folders (~87 MB: hashed once). */
let known: Map<string, string> | undefined;
function knownBinaries(): Map<string, string> {
  if (known) return known;
  const map = (known = new Map<string, string>());
  for (const [pkg, sub] of [['@tensorflow/tfjs-backend-wasm', 'dist'], ['onnxruntime-web', 'dist']] as const) {
    let dir: string;
    try {
      dir = join(packageRoot(pkg), sub);
    } catch {
      continue;
    }
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.wasm')) map.set(sha256(readFileSync(join(dir, f))), `${pkg}/${sub}/${f}`);
    }
  }
  return map;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function packageRoot(pkg: string): string {
  // Resolve the package.json through the package's own folder (exports may hide it, or offer no
  // CommonJS entry: then the node_modules folder beside this package's root).
  let dir: string;
  try {
    dir = dirname(require.resolve(pkg));
  } catch {
    dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', pkg);
  }
  for (;;) {
    try {
      const j = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (j.name === pkg) return dir;
    } catch { /* not here */ }
    const up = dirname(dir);
    if (up === dir) throw new Error(`package root of ${pkg} not found`);
    dir = up;
  }
}

export function packageVersion(pkg: string): string {
  return (JSON.parse(readFileSync(join(packageRoot(pkg), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Records every buffer passed to WebAssembly.instantiate / compile from now on. */
export function hookWasmInstantiation(): void {
  if (hooked) return;
  hooked = true;
  const record = (src: unknown): void => {
    if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) {
      const u8 = src instanceof ArrayBuffer ? new Uint8Array(src) : new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
      if (u8.byteLength > 100_000) instantiated.push({ bytes: u8.byteLength, sha256: sha256(u8) });
    }
  };
  const inst = WebAssembly.instantiate.bind(WebAssembly) as (...a: unknown[]) => Promise<unknown>;
  const comp = WebAssembly.compile.bind(WebAssembly) as (...a: unknown[]) => Promise<unknown>;
  (WebAssembly as { instantiate: unknown }).instantiate = (src: unknown, imports?: unknown) => { record(src); return inst(src, imports); };
  (WebAssembly as { compile: unknown }).compile = (src: unknown, opts?: unknown) => { record(src); return comp(src, opts); };
}

/** Engine binaries instantiated so far, each matched to its package file. */
export function instantiatedBinaries(): WasmBinaryInfo[] {
  const files = knownBinaries();
  return instantiated.map((b) => ({ ...b, file: files.get(b.sha256) }));
}

/**
 * Rough static evidence of SIMD in a binary: counts of the byte sequences of f32x4.mul (fd e6 01),
 * f32x4.add (fd e4 01) and relaxed madd (fd 85 02). Counts can include false positives in data,
 * but thousands of them mean SIMD code.
 */
export function simdOpcodeCounts(bytes: Uint8Array): { f32x4Mul: number; f32x4Add: number; relaxedMadd: number } {
  let mul = 0, add = 0, madd = 0;
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] !== 0xfd) continue;
    const a = bytes[i + 1], b = bytes[i + 2];
    if (a === 0xe6 && b === 0x01) mul++;
    else if (a === 0xe4 && b === 0x01) add++;
    else if (a === 0x85 && b === 0x02) madd++;
  }
  return { f32x4Mul: mul, f32x4Add: add, relaxedMadd: madd };
}

// ─── tfjs-wasm ───────────────────────────────────────────────────────────────────────────────

export type Tf = typeof import('@tensorflow/tfjs-core');

export interface TfjsInfo {
  engine: 'tfjs-wasm';
  version: string;
  backend: string;
  simdFlag: boolean;
  multithreadFlag: boolean;
  threadsRequested: number;
  threads: number;
  /** The .wasm that was instantiated. */
  binary?: WasmBinaryInfo;
}

/**
 * Starts tfjs on the wasm backend with `threads` XNNPACK threads. In Node, tfjs-backend-wasm 4.22
 * reports no multithread support (its WASM_HAS_MULTITHREAD_SUPPORT flag is false under IS_NODE),
 * so it loads the single-threaded SIMD binary whatever the count; getThreadsCount() tells.
 * `nodeThreadsShim` (threads > 1) makes it start its threaded-SIMD build anyway (tfjs-threads.ts).
 * `forceSimd: false` loads the scalar build (for the SIMD-speedup check only).
 */
export async function initTfjs(threads: number, opts: { forceSimd?: boolean; nodeThreadsShim?: boolean } = {}): Promise<{ tf: Tf; info: TfjsInfo }> {
  hookWasmInstantiation();
  const tf = await import('@tensorflow/tfjs-core');
  const tfw = await import('@tensorflow/tfjs-backend-wasm');
  if (opts.forceSimd === false) tf.env().set('WASM_HAS_SIMD_SUPPORT', false);
  let restore = (): void => {};
  if (threads > 1 && opts.nodeThreadsShim) {
    const { installTfjsNodeThreads } = await import('./tfjs-threads.js');
    restore = installTfjsNodeThreads().restore;
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  }
  tfw.setThreadsCount(threads);
  const before = instantiated.length;
  try {
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend did not start');
    await tf.ready();
  } finally {
    restore();
  }
  const binaries = instantiatedBinaries().slice(before);
  return {
    tf,
    info: {
      engine: 'tfjs-wasm',
      version: tfw.version_wasm,
      backend: tf.getBackend(),
      simdFlag: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
      multithreadFlag: Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')),
      threadsRequested: threads,
      threads: tfw.getThreadsCount(),
      binary: binaries[binaries.length - 1],
    },
  };
}

// ─── onnxruntime-web ─────────────────────────────────────────────────────────────────────────

export type Ort = typeof import('onnxruntime-web');

export interface OrtInfo {
  engine: 'onnxruntime-web';
  version: string;
  threads: number;
  simd: boolean;
  binary?: WasmBinaryInfo;
}

let ortModule: Ort | undefined;

/** onnxruntime-web with the wasm EP; the thread count is fixed at the first session. */
export async function initOrt(threads: number): Promise<{ ort: Ort; info: () => OrtInfo }> {
  hookWasmInstantiation();
  const ort = ortModule ?? (ortModule = await import('onnxruntime-web'));
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  ort.env.logLevel = 'error';
  return {
    ort,
    info: () => ({
      engine: 'onnxruntime-web',
      version: ort.env.versions.web ?? packageVersion('onnxruntime-web'),
      threads: ort.env.wasm.numThreads ?? threads,
      simd: ort.env.wasm.simd !== false,
      binary: instantiatedBinaries().find((b) => b.file?.includes('onnxruntime-web')),
    }),
  };
}

export const ORT_SESSION_OPTIONS = { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' } as const;
