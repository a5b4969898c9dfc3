/**
 * onnxruntime-web: read the vit-mae-base forward .onnx (weights as initializers), create the
 * session (wasm EP, 1 thread), run one masked forward.
 * Spawned by load-rss.ts: `node --expose-gc dist/bench/ort-load.js --onnx=FILE`.
 */
import { readFileSync } from 'node:fs';
import { mark, report } from './load-child.js';
import { parseArgs } from './timing.js';

const args = parseArgs();
const { initOrt } = await import('./engines.js');
const { OrtMae } = await import('./ort-mae.js');
const { preset } = await import('../src/config.js');
const { benchInput } = await import('./shared.js');
mark('imports');
const { ort, info } = await initOrt(1);
const cfg = preset('vit-mae-base');
const file = readFileSync(args.flags.onnx);
const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
mark('model file read');
const model = await OrtMae.create(ort, cfg, { forward: bytes });
mark('session created');
const input = benchInput(cfg);
const r = await model.forward(input.pixels, input.idsKeep, input.idsRestore, input.mask);
report('onnxruntime-web', { info: info(), loss: r.loss }, [model, r]);
