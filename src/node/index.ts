/**
 * The Node entry of the package (export condition "node"): everything of the edge-safe entry,
 * plus loading model folders and files, compiling kernels for a config, kernel threads, and the
 * Fashion-MNIST files.
 */
import { availableParallelism } from 'node:os';
import { MaeModel } from '../model.js';
import { loadModelSource } from './load.js';
import { registerPlatformGpu } from '../backend/webgpu-device.js';
import { nodeGpu } from './webgpu.js';

// What Node supplies to the edge-safe code, registered here so that the edge entry never imports it.
MaeModel.folderLoader = loadModelSource;
MaeModel.availableThreads = availableParallelism;
registerPlatformGpu(nodeGpu);

export * from '../index.js';
export { loadModelSource, compileKernels, readConfig } from './load.js';
export { startNodeWorkers } from './threads.js';
export { loadFashionMnist } from './fashion-mnist.js';
export { writeFileAtomic } from './atomic-write.js';
export { loadProbeHead, findProbeHead } from './probe-head.js';
export { DEFAULT_MODEL_DIR, DEFAULT_SAMPLES_DIR, PACKAGE_ROOT } from './paths.js';
export { createHttpServer, DEFAULT_HTTP_LIMITS, type HttpServerLimits } from './http-adapter.js';
