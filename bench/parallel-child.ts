/**
 * One process of the machine's parallel-capacity probe (threads.ts): vit-mae-base at 1 thread,
 * forwards for `--seconds` after warm-up, the median ms printed as one JSON line. Two of these at
 * once, against one alone, show how much two cores of this machine give two independent copies of
 * the same work — the ceiling for any 2-thread speed-up at that time.
 * `node dist/bench/parallel-child.js --dir=DIR --seconds=S`
 */
import { MaeModel } from '../src/node/index.js';
import { parseArgs } from './timing.js';

const args = parseArgs();
const model = await MaeModel.load({ model: args.flags.dir, threads: 1, simd: 'simd128' });
const pixels = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.01));
for (let i = 0; i < 2; i++) await model.forward(pixels, { batch: 1, seed: 1 });
const ms: number[] = [];
const end = performance.now() + 1000 * Number(args.flags.seconds ?? 5);
while (performance.now() < end) {
  const t0 = performance.now();
  await model.forward(pixels, { batch: 1, seed: 1 });
  ms.push(performance.now() - t0);
}
ms.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ medianMs: ms[Math.floor(ms.length / 2)], runs: ms.length }) + '\n');
