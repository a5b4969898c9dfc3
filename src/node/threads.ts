/** Kernel threads in Node: worker_threads running src/node/kernel-worker.ts on the shared memory. */
import { Worker } from 'node:worker_threads';
import { KernelError } from '../errors.js';
import type { WorkerInit, WorkerMessage, WorkerPool } from '../backend/wasm.js';
import { CTRL, MESSAGES_JOB } from '../backend/barrier.js';

function once(worker: Worker, key: 'ready'): Promise<void> {
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
  const { ctrl } = init;
  return {
    async broadcast(message: WorkerMessage): Promise<void> {
      // Workers sleep in Atomics.wait: post, then wake them with a messages-only job and wait for
      // every acknowledgement (the host thread may block in Node).
      const before = Atomics.load(ctrl, CTRL.ack);
      for (const w of workers) w.postMessage(message);
      Atomics.store(ctrl, CTRL.program, MESSAGES_JOB);
      Atomics.add(ctrl, CTRL.job, 1);
      Atomics.notify(ctrl, CTRL.job);
      const deadline = Date.now() + 60_000;
      for (let acked = Atomics.load(ctrl, CTRL.ack); acked - before < workers.length; acked = Atomics.load(ctrl, CTRL.ack)) {
        if (Date.now() > deadline) throw new KernelError('kernel workers did not acknowledge a message within 60 s');
        Atomics.wait(ctrl, CTRL.ack, acked, 100);
      }
    },
    terminate(): void {
      for (const w of workers) void w.terminate();
    },
  };
}
