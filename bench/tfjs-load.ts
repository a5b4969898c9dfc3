/**
 * tfjs-wasm: start the wasm backend (1 thread), read vit-mae-base's model.safetensors (with
 * edge-mae's reader: tfjs has none), make the weight tensors, run one masked forward.
 * Spawned by load-rss.ts: `node --expose-gc dist/bench/tfjs-load.js --dir=DIR`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mark, report } from './load-child.js';
import { parseArgs } from './timing.js';

const args = parseArgs();
const { initTfjs } = await import('./engines.js');
const { TfjsMae } = await import('./tfjs-mae.js');
const { preset } = await import('../src/config.js');
const { SafetensorsFile } = await import('../src/safetensors.js');
const { loadWeights } = await import('../src/weights.js');
const { benchInput } = await import('./shared.js');
mark('imports');
const { tf, info } = await initTfjs(1);
mark('backend ready');
const cfg = preset('vit-mae-base');
const path = join(args.flags.dir, 'model.safetensors');
const file = readFileSync(path); // one Buffer of its own (no copy); tfjs has no streaming reader
const weights = loadWeights(SafetensorsFile.parse(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), path), cfg);
mark('weights read');
const model = new TfjsMae(tf, cfg, weights);
mark('tensors made');
const input = benchInput(cfg);
const r = model.forward(input.pixels, input.idsKeep, input.idsRestore, input.mask);
report('tfjs-wasm', { info, loss: r.loss }, [model, r]);
