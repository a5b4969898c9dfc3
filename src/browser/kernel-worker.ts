/**
 * Browser (module Web Worker) entry of a kernel thread (see src/backend/kernel-thread.ts): the
 * twin of src/node/kernel-worker.ts. The first message carries what Node passes as workerData.
 */
import { KernelThread } from '../backend/kernel-thread.js';
import type { WorkerMessage } from '../backend/wasm.js';
import type { KernelWorkerStart } from './threads.js';

/** The part of DedicatedWorkerGlobalScope used here (the DOM lib types `self` as a window). */
interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

const scope = self as unknown as WorkerScope;
let thread: KernelThread | undefined;
// Messages are handled one at a time, in order (a module swap finishes before the next program).
let queue: Promise<void> = Promise.resolve();

scope.onmessage = (e: MessageEvent): void => {
  const msg = e.data as KernelWorkerStart | WorkerMessage;
  queue = queue.then(async () => {
    try {
      if (msg.type === 'start') {
        thread = await KernelThread.start(msg.init);
        scope.postMessage({ ready: true });
        return;
      }
      if (!thread) throw new Error(`kernel worker: '${msg.type}' before 'start'`);
      if (msg.type === 'program') thread.addProgram(msg.id, msg.steps, msg.specs);
      else if (msg.type === 'module') await thread.setModule(msg.module);
      scope.postMessage({ ack: msg.type });
    } catch (err) {
      scope.postMessage({ error: err instanceof Error ? err.message : String(err) });
    }
  });
};
