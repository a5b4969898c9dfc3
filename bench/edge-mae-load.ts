/**
 * edge-mae: load vit-mae-base (config.json + model.safetensors, kernels from the cache — or, with
 * EDGE_MAE_CACHE pointing at an empty folder, generated and compiled) and run one masked forward.
 * Spawned by load-rss.ts: `node --expose-gc dist/bench/edge-mae-load.js --dir=DIR --simd=simd128|relaxed`.
 */
import v8 from 'node:v8';
import { mark, report } from './load-child.js';
import { parseArgs } from './timing.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const args = parseArgs();
const simd = (args.flags.simd ?? 'simd128') as 'simd128' | 'relaxed';
const { MaeModel } = await import('../src/node/index.js');
const { benchInput } = await import('./shared.js');
mark('imports');
const model = await MaeModel.load({ model: args.flags.dir, simd });
mark('model loaded (weights read, kernels compiled, weights packed)');
const input = benchInput(model.config);
const r = await model.forward(input.pixels, { batch: 1, noise: input.noise });
report(`edge-mae-${simd}`, { description: model.backendDescription, loss: r.loss, cache: process.env.EDGE_MAE_CACHE ?? 'default' }, [model, r]);
