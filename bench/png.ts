/**
 * PNG encoding time (src/image/encode-png.ts) of reconstruction figures, in Node and inside a
 * node:vm context — how Vercel's edge runtime runs code: the module bundled (esbuild) and
 * evaluated in a fresh context, its globals (Math, typed arrays) that context's, the pixels in
 * that realm as a request's would be. Two figures of the bundled model: the one row that
 * `POST /reconstruct` answers (352×120) and `npm run demo`'s eight rows (352×932).
 * Part of the edge section; alone: `node dist/bench/png.js [--quick]` prints its JSON.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'esbuild';
import { MaeModel } from '../src/node/index.js';
import { decodeImage } from '../src/image/decode.js';
import { encodePng } from '../src/image/encode-png.js';
import { preprocess } from '../src/jobs/preprocess.js';
import { reconstruct } from '../src/jobs/reconstruct.js';
import { renderFigure } from '../src/jobs/figure.js';
import type { Image8 } from '../src/jobs/display.js';
import { DEFAULT_MODEL_DIR } from '../src/node/paths.js';
import { interleave, sectionMain } from './timing.js';

const HERE = dirname(fileURLToPath(import.meta.url));

type Encode = typeof encodePng;

/** encodePng evaluated in a fresh node:vm context, and a maker of Uint8Arrays of that realm. */
async function encoderInVm(): Promise<{ encode: Encode; bytes: (n: number) => Uint8Array }> {
  const r = await build({
    entryPoints: [join(HERE, '..', 'src', 'image', 'encode-png.js')], bundle: true, format: 'iife', globalName: 'png',
    platform: 'neutral', mainFields: ['module', 'main'], write: false, logLevel: 'silent',
  });
  const ctx = vm.createContext({});
  vm.runInContext(r.outputFiles[0].text, ctx);
  return { encode: vm.runInContext('png.encodePng', ctx) as Encode, bytes: vm.runInContext('(n) => new Uint8Array(n)', ctx) as (n: number) => Uint8Array };
}

async function figures(): Promise<Array<[string, Image8]>> {
  const dir = join(DEFAULT_MODEL_DIR, 'samples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
  const model = await MaeModel.load(DEFAULT_MODEL_DIR);
  try {
    const px = preprocess(model, files.map((f) => decodeImage(new Uint8Array(readFileSync(join(dir, f))), f)));
    const rows = await reconstruct(model, px, model.preprocessor, { batch: files.length, seed: 0 });
    return [['/reconstruct figure (1 row)', renderFigure([rows[0]!], {})], [`demo figure (${rows.length} rows)`, renderFigure(rows, {})]];
  } finally {
    model.dispose();
  }
}

export interface PngRow { figure: string; width: number; height: number; bytes: number; node: { bestMs: number; medianMs: number }; vm: { bestMs: number; medianMs: number } }

export async function pngEncoding(quick: boolean): Promise<PngRow[]> {
  const inVm = await encoderInVm();
  const rows: PngRow[] = [];
  for (const [figure, fig] of await figures()) {
    const vmPixels = inVm.bytes(fig.data.length);
    vmPixels.set(fig.data);
    const png = encodePng(fig.data, fig.width, fig.height, 3);
    if (!Buffer.from(inVm.encode(vmPixels, fig.width, fig.height, 3)).equals(Buffer.from(png))) throw new Error(`${figure}: the VM's PNG differs from Node's`);
    const s = await interleave([
      { name: 'node', run: () => encodePng(fig.data, fig.width, fig.height, 3) },
      { name: 'vm', run: () => inVm.encode(vmPixels, fig.width, fig.height, 3) },
    ], { warmup: 5, samples: quick ? 10 : 30, targetMs: 0, oneCallPerSample: true });
    const ms = (k: string) => ({ bestMs: +s[k]!.best.toFixed(2), medianMs: +s[k]!.median.toFixed(2) });
    rows.push({ figure, width: fig.width, height: fig.height, bytes: png.length, node: ms('node'), vm: ms('vm') });
  }
  return rows;
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  await sectionMain('png', (args) => pngEncoding(args.quick));
}
