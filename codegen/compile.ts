/**
 * Generated AssemblyScript → .wasm with the AssemblyScript compiler API, cached on disk by config
 * hash and toolchain digest: a second run for the same config does not recompile (nor load
 * ts-morph). Node-only (file system, hashing).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MaeConfig } from '../src/config.js';
import { KernelError } from '../src/errors.js';
import type { Manifest } from '../src/manifest.js';
import { type Tiling, defaultEncoderLengths } from '../src/plan.js';
import type { SimdVariant } from '../src/simd-support.js';
import { configHash } from './config-hash.js';
import { PACKAGE_ROOT } from '../src/node/paths.js';
import { listShimFiles, readShimFile, wasiAscArgs, wasiShimDigest } from './wasi.js';

const here = dirname(fileURLToPath(import.meta.url));

const CORE_DIR = join(PACKAGE_ROOT, 'assembly');

/**
 * The compiler options of every build target live in the package's asconfig.json (asc's project
 * file): `<simd>[-threads|-wasi]`, e.g. `simd128`, `relaxed-threads`, `simd128-wasi`. Only what
 * depends on the build goes on the command line: file names, a WASI module's memory size and the
 * WASI shim's library (codegen/wasi.ts).
 */
const ASCONFIG_PATH = join(PACKAGE_ROOT, 'asconfig.json');

let asconfig: string | undefined;
function asconfigText(): string {
  asconfig ??= readFileSync(ASCONFIG_PATH, 'utf8');
  return asconfig;
}

/** The asconfig.json target of a build. */
export function ascTarget(simd: SimdVariant, threads: boolean, wasi: boolean): string {
  return `${simd}${threads ? '-threads' : ''}${wasi ? '-wasi' : ''}`;
}

export interface CompiledKernels {
  readonly wasm: Uint8Array;
  readonly manifest: Manifest;
  /** Folder holding kernels.ts, manifest.json and kernels.wasm. */
  readonly dir: string;
  /** True when this call compiled; false when it came from the cache. */
  readonly compiled: boolean;
}

export function defaultCacheDir(): string {
  return process.env.EDGE_MAE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'edge-mae', 'kernels');
}

const digests = new Map<string, string>();
/**
 * Digest of everything that shapes the output besides the config: core sources, generator code,
 * compiler and its options (`asconfig`: asconfig.json's text, the package's by default).
 */
export function toolchainDigest(asconfig: string = asconfigText()): string {
  const known = digests.get(asconfig);
  if (known) return known;
  const ascVersion = (JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.resolve('assemblyscript/asc'))), '..', 'package.json'), 'utf8')) as { version: string }).version;
  // asconfig.json's bytes: a changed compiler option is a new cache entry.
  const h = createHash('sha256').update(ascVersion).update(asconfig);
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) h.update(e.name).update(readFileSync(p));
    }
  };
  walk(CORE_DIR);
  walk(here);
  // What decides the kernels' sources outside codegen/: the plan, the parameter lists, the training programs.
  for (const f of ['plan.js', 'kernel-params.js', join('training', 'program.js'), join('training', 'specs.js')]) h.update(readFileSync(join(PACKAGE_ROOT, 'dist', 'src', f)));
  const digest = h.digest('hex').slice(0, 12);
  digests.set(asconfig, digest);
  return digest;
}

function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Compiles AssemblyScript source (plus the core under core/) to wasm bytes. With `wasi`, a WASI
 * reactor that exports a fixed memory of `wasi.pages` pages instead of importing one (codegen/wasi.ts).
 */
export async function compileAssemblyScript(source: string, simd: SimdVariant = 'simd128', threads = false, wasi?: { pages: number }): Promise<Uint8Array> {
  if (wasi && threads) throw new KernelError('a WASI kernel module is single-threaded: build it without threads');
  // Loaded here, not at the top: a cache hit never pays for the compiler (binaryen) start-up.
  const { default: asc } = await import('assemblyscript/asc');
  const outputs: Record<string, Uint8Array | string> = {};
  const stderr = asc.createMemoryStream();
  const result = await asc.main(['kernels.ts', '--outFile', 'kernels.wasm', '--config', 'asconfig.json', '--target', ascTarget(simd, threads, wasi !== undefined),
    ...(wasi ? wasiAscArgs(wasi.pages) : [])], {
    stderr,
    stdout: asc.createMemoryStream(),
    readFile: (name: string, baseDir: string) => {
      if (name === 'kernels.ts') return source;
      if (name === 'asconfig.json' && baseDir === '.') return asconfigText();
      const m = /^core\/(\w+\.ts)$/.exec(name.replace(/\\/g, '/'));
      if (m && existsSync(join(CORE_DIR, m[1]))) return readFileSync(join(CORE_DIR, m[1]), 'utf8');
      return wasi ? readShimFile(name, baseDir) : null;
    },
    writeFile: (name: string, contents: Uint8Array | string) => { outputs[name] = contents; },
    listFiles: (dir: string, baseDir: string) => (wasi ? listShimFiles(dir, baseDir) : []),
  });
  const wasm = outputs['kernels.wasm'];
  if (result.error || !(wasm instanceof Uint8Array)) {
    const msg = stderr.toString().split('\n').find((l) => /ERROR/.test(l)) ?? String(result.error);
    throw new KernelError(`AssemblyScript compilation failed: ${msg.trim()}`);
  }
  return wasm;
}

/**
 * The kernel module for a config: from the cache when present, else generated (ts-morph, loaded
 * only then), compiled and cached.
 */
export async function buildKernels(cfg: MaeConfig, opts: { encoderLengths?: readonly number[]; cacheDir?: string; force?: boolean; simd?: SimdVariant; threads?: boolean; wasi?: boolean; training?: boolean } = {}): Promise<CompiledKernels> {
  const simd = opts.simd ?? 'simd128';
  const threads = opts.threads ?? false;
  // WASI (codegen/wasi.ts): imports only wasi_snapshot_preview1, exports a fixed memory; own cache folder.
  const wasi = opts.wasi ?? false;
  if (wasi && threads) throw new KernelError('a WASI kernel module is single-threaded: build it without threads');
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const lengths = [...new Set(opts.encoderLengths ?? defaultEncoderLengths(cfg))].sort((a, b) => a - b);
  const hash = configHash(cfg, lengths);
  // Tiles recorded by `edge-mae build --tune` for this config apply to every build after it.
  const tuned = readTuning(cacheDir, cfg, simd);
  const tilesTag = tuned ? `-tuned${createHash('sha256').update(JSON.stringify(tuned.tiles)).digest('hex').slice(0, 6)}` : '';
  const training = opts.training ?? false;
  if (training && wasi) throw new KernelError('training kernels are built for the imported-memory module, not WASI');
  const dir = join(cacheDir, `${hash}-${simd}${threads ? '-threads' : ''}${wasi ? `-wasi${wasiShimDigest()}` : ''}${training ? '-train' : ''}${tilesTag}-${toolchainDigest()}`);
  const wasmPath = join(dir, 'kernels.wasm');
  const manifestPath = join(dir, 'manifest.json');
  if (!opts.force && existsSync(wasmPath) && existsSync(manifestPath)) {
    return { wasm: new Uint8Array(readFileSync(wasmPath)), manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest, dir, compiled: false };
  }
  const { generateKernels } = await import('./generate.js');
  const gen = generateKernels(cfg, lengths, simd, threads, tuned?.tiles, tuned?.tuning, training);
  const manifest: Manifest = wasi ? { ...gen.manifest, wasi: true } : gen.manifest;
  const wasm = wasi ? await compileWasiIsolated(gen.source, simd, manifest.memory.pages) : await compileAssemblyScript(gen.source, simd, threads);
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, 'kernels.ts'), gen.source);
  writeAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  writeAtomic(wasmPath, wasm);
  return { wasm, manifest, dir, compiled: true };
}

/** Tiles chosen by timing for a config and variant (see codegen/tune.ts). */
export interface TuningRecord {
  readonly tiles: Tiling;
  readonly tuning: unknown;
}

/** Where `build --tune` records its choice for a config (independent of lengths and threads). */
export function tuningPath(cacheDir: string, cfg: MaeConfig, simd: SimdVariant): string {
  return join(cacheDir, `${configHash(cfg, [])}-${simd}.tiles.json`);
}

function readTuning(cacheDir: string, cfg: MaeConfig, simd: SimdVariant): TuningRecord | undefined {
  const path = tuningPath(cacheDir, cfg, simd);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TuningRecord;
  } catch {
    return undefined; // a damaged record only loses the tuning
  }
}

export function writeTuning(cacheDir: string, cfg: MaeConfig, simd: SimdVariant, record: TuningRecord): string {
  mkdirSync(cacheDir, { recursive: true });
  const path = tuningPath(cacheDir, cfg, simd);
  writeAtomic(path, JSON.stringify(record, null, 2) + '\n');
  return path;
}

/** A WASI compile in its own worker thread (codegen/compile-worker.ts says why). */
function compileWasiIsolated(source: string, simd: SimdVariant, pages: number): Promise<Uint8Array> {
  return new Promise((resolveWasm, reject) => {
    const worker = new Worker(new URL('./compile-worker.js', import.meta.url), { workerData: { source, simd, pages } });
    worker.once('message', (m: { wasm?: Uint8Array; error?: string }) => {
      void worker.terminate();
      if (m.wasm) resolveWasm(m.wasm);
      else reject(new KernelError(m.error ?? 'WASI compile failed'));
    });
    worker.once('error', (e) => reject(new KernelError(`WASI compile failed: ${e.message}`)));
  });
}
