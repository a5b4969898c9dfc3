/**
 * Thread scaling of edge-mae alone: vit-mae-base (random weights) at 1 and 2 kernel threads in a
 * process with no other engine (peer engines' thread pools keep spinning between their runs and
 * take cores from ours in the shared forward section). Medians of repeated calls after warm-up.
 * Writes its JSON to --out.
 */
import v8 from 'node:v8';
import { MaeModel } from '../src/node/index.js';
import { writeFileAtomic } from '../src/node/atomic-write.js';
import { ensureBaseAssets } from './assets.js';
import { log, parseArgs } from './timing.js';

// Relaxed SIMD is behind a flag in Node 20; set before any module is compiled.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const args = parseArgs();
const dir = ensureBaseAssets().dir;
const pixels = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.01));
const repeats = args.quick ? 3 : 7;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows: Array<{ simd: string; threads: number; backend: string; forwardMs: number; encodeAllMs: number }> = [];
for (const simd of ['simd128', 'relaxed'] as const) {
  for (const threads of [1, 2]) {
    const model = await MaeModel.load({ model: dir, threads, simd });
    try {
      const time = async (run: () => Promise<unknown>): Promise<number> => {
        await run();
        const ms: number[] = [];
        for (let i = 0; i < repeats; i++) { const t0 = performance.now(); await run(); ms.push(performance.now() - t0); }
        return +median(ms).toFixed(1);
      };
      const forward = await time(() => model.forward(pixels, { batch: 1, seed: 1 }));
      const encode = await time(() => model.encode(pixels, { batch: 1 }));
      rows.push({ simd, threads, backend: model.backendDescription, forwardMs: forward, encodeAllMs: encode });
      log(`threads: ${simd} ${threads}: forward ${forward} ms, encoder all patches ${encode} ms`);
    } finally {
      model.dispose();
    }
  }
}
const speedups = (['simd128', 'relaxed'] as const).map((simd) => {
  const one = rows.find((r) => r.simd === simd && r.threads === 1)!;
  const two = rows.find((r) => r.simd === simd && r.threads === 2)!;
  return { simd, forward: +(one.forwardMs / two.forwardMs).toFixed(2), encodeAll: +(one.encodeAllMs / two.encodeAllMs).toFixed(2) };
});
const result = { rows, speedups };
if (args.flags.out) writeFileAtomic(args.flags.out, JSON.stringify(result, null, 2) + '\n');
else process.stdout.write(JSON.stringify(result, null, 2) + '\n');
