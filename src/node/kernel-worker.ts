/** Node worker_threads entry of a kernel thread (see src/backend/kernel-thread.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { KernelThread } from '../backend/kernel-thread.js';
import type { WorkerInit, WorkerMessage } from '../backend/wasm.js';

const thread = await KernelThread.start(workerData as WorkerInit);
parentPort!.on('message', async (msg: WorkerMessage) => {
  if (msg.type === 'program') thread.addProgram(msg.id, msg.steps);
  else if (msg.type === 'module') await thread.setModule(msg.module);
  parentPort!.postMessage({ ack: msg.type });
});
parentPort!.postMessage({ ready: true });
