/**
 * The WASI variant of the kernel module (`edge-mae build --wasi`): compiled with
 * `@assemblyscript/wasi-shim`, so that its only imports are `wasi_snapshot_preview1` functions (the
 * shim routes abort through fd_write + proc_exit). It cannot import `env.memory`, so it defines and
 * exports its memory, sized at build time from the config's layout (src/plan.ts layoutOf /
 * memoryPages) with maximum = initial: it never grows, and the host's typed-array views on it stay
 * valid. It is a WASI reactor (a library, no main): the start function is exported as
 * `_initialize`, which a WASI host (node:wasi `wasi.initialize(instance)`) or edge-mae's host calls
 * once before any kernel. Node-only (reads the shim's files).
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

let shimDir: string | undefined;
/** Folder of the installed @assemblyscript/wasi-shim package. */
export function wasiShimDir(): string {
  shimDir ??= dirname(fileURLToPath(import.meta.resolve('@assemblyscript/wasi-shim/asconfig.json')));
  return shimDir;
}

/**
 * asc arguments of a WASI build, beside its asconfig.json target (`<simd>-wasi`: features and the
 * reactor start `_initialize`): the shim's own asconfig options — its library folder and its
 * `--use` aliases (abort through fd_write, …), read from the installed shim, since asc applies one
 * project file — and an exported memory of `pages` pages that cannot grow. The shim's
 * `exportStart: _start` (a command) is left out: a library module is a reactor.
 */
export function wasiAscArgs(pages: number): string[] {
  const shim = JSON.parse(readFileSync(resolve(wasiShimDir(), 'asconfig.json'), 'utf8')) as { options?: { lib?: string | string[]; use?: string[] } };
  const libs = [shim.options?.lib ?? []].flat();
  return [
    ...libs.flatMap((l) => ['--lib', resolve(wasiShimDir(), l)]),
    ...(shim.options?.use ?? []).flatMap((u) => ['--use', u]),
    '--initialMemory', String(pages), '--maximumMemory', String(pages),
  ];
}

/** Whether `path` lies inside the shim's package (the only files a WASI build reads beyond kernels.ts and core/). */
function inShim(path: string): boolean {
  const root = wasiShimDir();
  return path === root || path.startsWith(root + sep);
}

/** asc's readFile for the shim's files (asconfig.json and its library); null elsewhere. */
export function readShimFile(name: string, baseDir: string): string | null {
  const path = resolve(baseDir, name);
  if (!inShim(path)) return null;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** asc's listFiles for the shim's library folder: its top-level .ts files (not .d.ts). */
export function listShimFiles(dir: string, baseDir: string): string[] | null {
  const path = resolve(baseDir, dir);
  if (!inShim(path)) return null;
  try {
    return readdirSync(path).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort();
  } catch {
    return null;
  }
}

let digest: string | undefined;
/** Digest of the shim (version and sources): part of a WASI build's cache folder name. */
export function wasiShimDigest(): string {
  if (digest) return digest;
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = resolve(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|json)$/.test(e.name)) h.update(e.name).update(readFileSync(p));
    }
  };
  h.update(readFileSync(resolve(wasiShimDir(), 'package.json')));
  h.update(readFileSync(resolve(wasiShimDir(), 'asconfig.json')));
  walk(resolve(wasiShimDir(), 'assembly'));
  digest = h.digest('hex').slice(0, 6);
  return digest;
}
