/**
 * The Cloudflare Worker example's size budget: the script bundle (esbuild, the package's edge
 * entry), the kernel module and the weights, raw and gzip, against Workers' limits (128 MB of
 * memory per isolate; 3 MB free / 10 MB paid of compressed upload, weights included when bundled
 * as a Data module), for the bundled model and for vit-mae-base.
 * Run: node dist/scripts/worker-budget.js [--json OUT]
 */
import { build } from 'esbuild';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { preset } from '../src/config.js';
import { layoutOf, memoryPages, weightSizes } from '../src/plan.js';
import { readConfig } from '../src/node/load.js';
import { DEFAULT_MODEL_DIR, PACKAGE_ROOT } from '../src/node/paths.js';
import { buildKernels } from '../codegen/compile.js';
import { writeFileAtomic } from '../src/node/atomic-write.js';

const MB = 2 ** 20;
const LIMITS = { isolateMemory: 128 * MB, freeUpload: 3 * MB, paidUpload: 10 * MB };

const defaultKernels = await buildKernels(readConfig(DEFAULT_MODEL_DIR), { simd: 'simd128' });
const bundle = await build({
  entryPoints: [join(PACKAGE_ROOT, 'examples', 'cloudflare-worker', 'src', 'worker.ts')],
  bundle: true,
  write: false,
  format: 'esm',
  minify: true,
  platform: 'browser',
  conditions: ['worker'],
  external: ['*.wasm', '*.safetensors'],
  alias: { 'edge-mae': join(PACKAGE_ROOT, 'dist', 'src', 'index.js') },
  loader: { '.json': 'json' },
  logLevel: 'silent',
  // The example's assets/ folder may not exist yet: its JSON files come from the model folder and the build.
  plugins: [{
    name: 'assets',
    setup(b) {
      b.onResolve({ filter: /assets\/(config|preprocessor_config|manifest)\.json$/ }, (args) => ({ path: args.path.split('/').pop()!, namespace: 'assets' }));
      b.onLoad({ filter: /.*/, namespace: 'assets' }, (args) => ({
        contents: args.path === 'manifest.json' ? JSON.stringify(defaultKernels.manifest) : readFileSync(join(DEFAULT_MODEL_DIR, args.path), 'utf8'),
        loader: 'json',
      }));
    },
  }],
});

const rows = [];
for (const [name, cfg] of [['mae-fashion-mnist (bundled)', readConfig(DEFAULT_MODEL_DIR)], ['vit-mae-base', preset('vit-mae-base')]] as const) {
  const kernels = await buildKernels(cfg, { simd: 'simd128' });
  // vit-mae-base's weights are not in the repo: F32 parameter count × 4 (gzip ratio of F32 weights ≈ 0.93, as the bundled model's).
  const weightsBytes = name.startsWith('mae-fashion') ? statSync(join(DEFAULT_MODEL_DIR, 'model.safetensors')).size : weightSizes(cfg).reduce((sum, [, n]) => sum + 4 * n, 0);
  const weightsGzip = name.startsWith('mae-fashion') ? gzipSync(readFileSync(join(DEFAULT_MODEL_DIR, 'model.safetensors'))).length : Math.round(weightsBytes * 0.93);
  const memoryBytes = memoryPages(layoutOf(cfg)) * 65536;
  const script = bundle.outputFiles[0];
  const scriptGzip = gzipSync(script.contents).length;
  const wasmGzip = gzipSync(kernels.wasm).length;
  const upload = scriptGzip + wasmGzip + weightsGzip;
  // Isolate memory: the wasm memory (weights packed + activations), the weights' bytes kept by the module, and a JS heap allowance.
  const memory = memoryBytes + weightsBytes + 10 * MB;
  rows.push({
    model: name,
    script: { raw: script.contents.length, gzip: scriptGzip },
    wasm: { raw: kernels.wasm.length, gzip: wasmGzip },
    weights: { raw: weightsBytes, gzip: weightsGzip, estimated: !name.startsWith('mae-fashion') },
    uploadGzip: upload,
    isolateMemory: memory,
    fits: { free: upload <= LIMITS.freeUpload && memory <= LIMITS.isolateMemory, paid: upload <= LIMITS.paidUpload && memory <= LIMITS.isolateMemory },
  });
}
const mb = (b: number): string => `${(b / MB).toFixed(2)} MB`;
for (const r of rows) {
  process.stdout.write(`${r.model}: script ${(r.script.raw / 1024).toFixed(0)} KB (${(r.script.gzip / 1024).toFixed(0)} KB gz), kernels.wasm ${(r.wasm.raw / 1024).toFixed(0)} KB (${(r.wasm.gzip / 1024).toFixed(0)} KB gz), weights ${mb(r.weights.raw)} (${mb(r.weights.gzip)} gz${r.weights.estimated ? ', estimated' : ''}); upload ${mb(r.uploadGzip)} gz, isolate memory ≈ ${mb(r.isolateMemory)} → free plan: ${r.fits.free ? 'fits' : 'does not fit'}, paid plan: ${r.fits.paid ? 'fits' : 'does not fit'}\n`);
}
const out = process.argv.indexOf('--json');
if (out > 0) writeFileAtomic(process.argv[out + 1], JSON.stringify({ limits: LIMITS, rows }, null, 2) + '\n');
