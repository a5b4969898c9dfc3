/**
 * tfjs-backend-wasm with more than one thread in Node — which 4.22 does not do by itself: its
 * WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired to false under Node (tfjs issue #3830), and its
 * threaded build starts pthread workers from Blob URLs, which Node's worker_threads cannot load.
 * For the 2-thread measurement only, this shim makes the threaded-SIMD build start:
 * - the flag is set to true (so the threaded-SIMD binary is chosen);
 * - Blobs made while it is installed remember their text, and URL.createObjectURL writes that text
 *   to a temporary .js file and returns its path (the worker script; the main script);
 * - the worker script gets a prelude defining the bundle-level names the emscripten factory
 *   closes over (require$$0 … for fs, path, perf_hooks, os; commonjsGlobal; _scriptDir);
 * - the 'load' message's Blob (the main script) is replaced by its file path;
 * - tfjs caps its thread pool at emscripten_num_logical_cores() / 2 (it guesses 2 hardware threads
 *   per core; that function is os.cpus().length in Node), i.e. at 1 thread on a 2-vCPU machine:
 *   while the backend starts, os.cpus() reports each CPU twice.
 * `restore()` (call it once the backend is ready: its 8 pthread workers exist by then) puts
 * os.cpus, Blob and URL.createObjectURL back; the postMessage hook stays (it only rewrites a
 * 'load' message that carries a Blob).
 * Nothing in tfjs is edited; whether it worked is checked by tfjs's own getThreadsCount() and by
 * the binary that was instantiated (engines.ts), and the model's outputs are compared like every
 * other engine's. If any step fails, the 2-thread tfjs row says why instead.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

const PRELUDE = [
  "globalThis.require$$0 = require('fs');",
  "globalThis.require$$1 = require('path');",
  "globalThis.require$$3 = require('perf_hooks');",
  "globalThis.require$$4 = require('os');",
  'globalThis.commonjsGlobal = globalThis;',
  'globalThis._scriptDir = __filename;',
].join('\n');

let installed = false;

export function installTfjsNodeThreads(): { dir: string; restore: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'edge-mae-bench-tfjs-threads-'));
  const realCpus = os.cpus;
  os.cpus = () => { const c = realCpus(); return [...c, ...c]; };
  const Original = globalThis.Blob;
  const originalCreate = URL.createObjectURL;
  const restore = (): void => {
    os.cpus = realCpus;
    globalThis.Blob = Original;
    URL.createObjectURL = originalCreate;
  };
  const texts = new WeakMap<Blob, string>();
  const paths = new WeakMap<Blob, string>();
  class RememberingBlob extends Original {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts && parts.every((p) => typeof p === 'string')) texts.set(this, (parts as string[]).join(''));
    }
  }
  globalThis.Blob = RememberingBlob as typeof Blob;
  let n = 0;
  URL.createObjectURL = (obj: Blob | MediaSource): string => {
    const text = obj instanceof Original ? texts.get(obj) : undefined;
    if (text === undefined) return originalCreate.call(URL, obj as Blob);
    let path = paths.get(obj as Blob);
    if (!path) {
      const isWorker = text.includes('ENVIRONMENT_IS_PTHREAD') && !text.startsWith('var WasmBackendModuleThreadedSimd');
      path = join(dir, `blob-${n++}.cjs`);
      writeFileSync(path, isWorker ? `${PRELUDE}\n${text}` : text);
      paths.set(obj as Blob, path);
    }
    return path;
  };
  if (installed) return { dir, restore };
  installed = true;
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: readonly unknown[]) {
    const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
    if (m && m.cmd === 'load' && m.urlOrBlob instanceof Original) {
      let path = paths.get(m.urlOrBlob);
      if (!path) {
        const text = texts.get(m.urlOrBlob);
        if (text === undefined) throw new Error('tfjs threads shim: the main script Blob was not captured');
        path = join(dir, `main-${n++}.cjs`);
        writeFileSync(path, text);
        paths.set(m.urlOrBlob, path);
      }
      m.urlOrBlob = path;
    }
    return post.call(this, message, transfer as never);
  } as typeof Worker.prototype.postMessage;
  return { dir, restore };
}
