/** Kernel threads in Node: worker_threads running src/node/kernel-worker.ts on the shared memory. */
import { Worker } from 'node:worker_threads';
import { KernelError } from '../errors.js';
import type { WorkerInit, WorkerMessage, WorkerPool } from '../backend/wasm.js';

function once(worker: Worker, key: 'ready' | 'ack'): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (key in m) { cleanup(); resolve(); }
    };
    const onError = (e: Error): void => { cleanup(); reject(new KernelError(`kernel worker failed: ${e.message}`)); };
    const cleanup = (): void => { worker.off('message', onMessage); worker.off('error', onError); };
    worker.on('message', onMessage);
    worker.on('error', onError);
  });
}

/** Starts threads − 1 workers (the calling thread is thread 0). */
export async function startNodeWorkers(init: Omit<WorkerInit, 'index'>): Promise<WorkerPool> {
  const workers: Worker[] = [];
  for (let index = 1; index < init.threads; index++) {
    const worker = new Worker(new URL('./kernel-worker.js', import.meta.url), { workerData: { ...init, index } satisfies WorkerInit });
    worker.unref(); // a pool left undisposed does not keep the process alive
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => once(w, 'ready')));
  return {
    async broadcast(message: WorkerMessage): Promise<void> {
      await Promise.all(workers.map((w) => { const acked = once(w, 'ack'); w.postMessage(message); return acked; }));
    },
    terminate(): void {
      for (const w of workers) void w.terminate();
    },
  };
}
