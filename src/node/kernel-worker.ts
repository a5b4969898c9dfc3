/**
 * Node worker_threads entry of a kernel thread (see src/backend/kernel-thread.ts): it sleeps in
 * Atomics.wait between jobs and takes its messages synchronously (receiveMessageOnPort) when the
 * host wakes it for them. (Atomics.waitAsync wake-ups were found to stall while the host thread
 * is busy, which serialised the threads.)
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { KernelThread } from '../backend/kernel-thread.js';
import type { WorkerInit, WorkerMessage } from '../backend/wasm.js';

const thread = await KernelThread.create(workerData as WorkerInit);
parentPort!.postMessage({ ready: true });
thread.serveBlocking(() => receiveMessageOnPort(parentPort!)?.message as WorkerMessage | undefined);
