/**
 * Kernel threads in browsers: module Web Workers running src/browser/kernel-worker.ts on the
 * shared memory (the browser twin of src/node/threads.ts). Needs a cross-origin isolated page
 * (COOP/COEP headers) so that the memory can be shared, and must be started from a worker: the
 * calling thread is kernel thread 0 and waits at barriers with Atomics.wait, which a page's main
 * thread may not do.
 */
import { KernelError } from '../errors.js';
import type { WorkerInit, WorkerMessage, WorkerPool } from '../backend/wasm.js';

/** What a kernel worker first receives (the platform's workerData). */
export interface KernelWorkerStart {
  readonly type: 'start';
  readonly init: WorkerInit;
}

function once(worker: Worker, key: 'ready' | 'ack'): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent): void => {
      const m = e.data as Record<string, unknown>;
      if (m && typeof m === 'object' && 'error' in m) { cleanup(); reject(new KernelError(`kernel worker failed: ${String(m.error)}`)); }
      else if (m && typeof m === 'object' && key in m) { cleanup(); resolve(); }
    };
    const onError = (e: ErrorEvent): void => { e.preventDefault(); cleanup(); reject(new KernelError(`kernel worker failed: ${e.message || 'could not start (is the page cross-origin isolated?)'}`)); };
    const onMessageError = (): void => { cleanup(); reject(new KernelError('kernel worker failed: a message could not be cloned (shared memory needs a cross-origin isolated page)')); };
    const cleanup = (): void => {
      worker.removeEventListener('message', onMessage);
      worker.removeEventListener('error', onError);
      worker.removeEventListener('messageerror', onMessageError);
    };
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', onError);
    worker.addEventListener('messageerror', onMessageError);
  });
}

/** The compiled kernel worker next to this module (bundlers: emit it as its own entry point with this name). */
export const DEFAULT_KERNEL_WORKER_URL = (): URL => new URL('./kernel-worker.js', import.meta.url);

/** Whether this context can share WebAssembly memory with workers. */
export function canShareMemory(): boolean {
  return typeof SharedArrayBuffer === 'function' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof Worker === 'function';
}

/**
 * Starts threads − 1 kernel workers (the calling thread is thread 0); pass as `startWorkers` to
 * MaeModel.load. `workerUrl`: where the kernel worker script is (default: kernel-worker.js next to
 * this module).
 */
export function browserWorkers(workerUrl: URL | string = DEFAULT_KERNEL_WORKER_URL()): (init: Omit<WorkerInit, 'index'>) => Promise<WorkerPool> {
  return async (init) => {
    if (!canShareMemory()) throw new KernelError(`threads: ${init.threads} needs a cross-origin isolated page (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp)`);
    const workers: Worker[] = [];
    try {
      // Started together, then awaited together.
      const ready: Array<Promise<unknown>> = [];
      for (let index = 1; index < init.threads; index++) {
        const worker = new Worker(workerUrl, { type: 'module', name: `edge-mae kernel thread ${index}` });
        workers.push(worker);
        ready.push(once(worker, 'ready'));
        worker.postMessage({ type: 'start', init: { ...init, index } } satisfies KernelWorkerStart);
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return {
      async broadcast(message: WorkerMessage): Promise<void> {
        await Promise.all(workers.map((w) => { const acked = once(w, 'ack'); w.postMessage(message); return acked; }));
      },
      terminate(): void {
        for (const w of workers) w.terminate();
      },
    };
  };
}
