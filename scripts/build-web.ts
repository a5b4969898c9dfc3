/**
 * `npm run web:build`: the static browser page (web/) bundled with esbuild, plus the bundled
 * model's files and its kernel modules (SIMD128, one on unshared memory and one for kernel
 * threads, with attention kernels for every mask ratio of the page's slider) into dist/web/.
 *
 * Run: node dist/scripts/build-web.js [--out DIR] [--model DIR] [--no-check] [--no-training]
 * (--no-check skips type-checking web/ with web/tsconfig.json; --no-training leaves out the
 * training modules and so the page's training panel).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { buildKernels } from '../codegen/compile.js';
import { type MaeConfig } from '../src/config.js';
import { shapesOf } from '../src/shapes.js';
import { keptPatches } from '../src/training/masking-strategies.js';
import { encoderLengthsFor } from '../src/mask-ratios.js';
import { readConfig } from '../src/node/load.js';
import { DEFAULT_MODEL_DIR, DEFAULT_WEB_DIR, PACKAGE_ROOT } from '../src/node/paths.js';
import { type BundledKernels, type WebModelIndex, webMaskRatios } from '../src/browser/bundle.js';

const WEB_SRC = join(PACKAGE_ROOT, 'web');

export interface BuildWebOptions {
  /** Output folder (default dist/web). */
  out?: string;
  /** Model folder to bundle (default the bundled mae-fashion-mnist). */
  model?: string;
  /** Type-check web/ first (tsc -p web/tsconfig.json). Default true. */
  check?: boolean;
  /** Build the training modules for the training panel (default true). */
  training?: boolean;
  /** Kernel cache folder (default the usual one). */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface WebFileSize {
  file: string;
  bytes: number;
  gzip: number;
}

export interface BuildWebResult {
  out: string;
  /** The page's own files: HTML, CSS, the JavaScript bundles. */
  page: WebFileSize[];
  /** Model files: weights, kernel modules, configs, samples. */
  model: WebFileSize[];
}

function sizeOf(out: string, file: string): WebFileSize {
  const bytes = readFileSync(join(out, file));
  return { file, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

function typecheck(): void {
  const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(WEB_SRC, 'tsconfig.json')], { encoding: 'utf8', cwd: PACKAGE_ROOT });
  if (r.status !== 0) throw new Error(`type errors in web/:\n${r.stdout}${r.stderr}`);
}

/**
 * Kernel modules for the page: attention for every slider position's kept length, and for all
 * patches; with `training`, the training modules (the page cannot run the AssemblyScript compiler),
 * whose lengths also cover grid masking's fixed keep.
 */
async function buildPageKernels(cfg: MaeConfig, out: string, maskRatios: number[], cacheDir: string | undefined, training = false): Promise<{ single: BundledKernels; threads: BundledKernels }> {
  const lengths = encoderLengthsFor(cfg, maskRatios);
  if (training) lengths.push(1 + keptPatches('grid', shapesOf(cfg).grid, cfg.maskRatio));
  const encoderLengths = [...new Set(lengths)].sort((a, b) => a - b);
  const kernels: Record<string, BundledKernels> = {};
  const folder = training ? 'training' : 'kernels';
  for (const [name, threads] of [['single', false], ['threads', true]] as const) {
    const built = await buildKernels(cfg, { encoderLengths, simd: 'simd128', threads, training, cacheDir });
    const dir = join(out, 'model', folder, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kernels.wasm'), built.wasm);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(built.manifest));
    kernels[name] = { wasm: `${folder}/${name}/kernels.wasm`, manifest: `${folder}/${name}/manifest.json`, simd: 'simd128', encoderLengths: built.manifest.encoderLengths };
  }
  return { single: kernels.single!, threads: kernels.threads! };
}

export async function buildWeb(opts: BuildWebOptions = {}): Promise<BuildWebResult> {
  const out = opts.out ?? DEFAULT_WEB_DIR;
  const modelDir = opts.model ?? DEFAULT_MODEL_DIR;
  const log = opts.log ?? (() => {});
  if (opts.check ?? true) typecheck();
  mkdirSync(join(out, 'model', 'samples'), { recursive: true });

  // The page: three entry points, because workers are their own scripts (the model runs in a
  // worker; kernel threads are workers it starts, found next to it as kernel-worker.js).
  await build({
    entryPoints: {
      main: join(WEB_SRC, 'main.ts'),
      'model-worker': join(WEB_SRC, 'model-worker.ts'),
      'kernel-worker': join(PACKAGE_ROOT, 'src', 'browser', 'kernel-worker.ts'),
    },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16.4'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(WEB_SRC, f), join(out, f));

  // The model: files as they are, samples, kernels, and the index the page reads.
  const cfg = readConfig(modelDir);
  const maskRatios = webMaskRatios();
  if (!maskRatios.includes(cfg.maskRatio)) maskRatios.push(cfg.maskRatio);
  maskRatios.sort((a, b) => a - b);
  for (const f of ['config.json', 'preprocessor_config.json', 'model.safetensors']) copyFileSync(join(modelDir, f), join(out, 'model', f));
  const sampleFiles = readdirSync(join(modelDir, 'samples')).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  for (const f of sampleFiles) copyFileSync(join(modelDir, 'samples', f), join(out, 'model', 'samples', f));
  const kernels = await buildPageKernels(cfg, out, maskRatios, opts.cacheDir);
  const training = opts.training === false ? undefined : await buildPageKernels(cfg, out, maskRatios, opts.cacheDir, true);
  const index: WebModelIndex = {
    name: basename(modelDir),
    config: 'config.json',
    preprocessor: 'preprocessor_config.json',
    weights: 'model.safetensors',
    kernels,
    training,
    maskRatios,
    defaultMaskRatio: cfg.maskRatio,
    samples: sampleFiles.map((f) => ({ name: f.replace(/\.[^.]+$/, ''), file: `samples/${f}` })),
  };
  writeFileSync(join(out, 'model', 'index.json'), JSON.stringify(index, null, 2));

  const page = ['index.html', 'style.css', 'main.js', 'model-worker.js', 'kernel-worker.js'].map((f) => sizeOf(out, f));
  const model = ['model/index.json', 'model/config.json', 'model/preprocessor_config.json', 'model/model.safetensors', `model/${kernels.single.wasm}`, `model/${kernels.single.manifest}`, `model/${kernels.threads.wasm}`, ...(training ? [`model/${training.single.wasm}`, `model/${training.threads.wasm}`] : []), ...sampleFiles.map((f) => `model/samples/${f}`)].map((f) => sizeOf(out, f));
  log(`web page built in ${relative(process.cwd(), out) || '.'}:`);
  const row = (s: WebFileSize): string => `  ${s.file.padEnd(36)} ${(s.bytes / 1024).toFixed(1).padStart(8)} KiB  ${(s.gzip / 1024).toFixed(1).padStart(7)} KiB gzip`;
  for (const s of page) log(row(s));
  const js = page.filter((s) => s.file.endsWith('.js'));
  log(`  ${'JavaScript total'.padEnd(36)} ${(js.reduce((a, s) => a + s.bytes, 0) / 1024).toFixed(1).padStart(8)} KiB  ${(js.reduce((a, s) => a + s.gzip, 0) / 1024).toFixed(1).padStart(7)} KiB gzip`);
  for (const s of model.filter((m) => !m.file.includes('/samples/'))) log(row(s));
  return { out, page, model };
}

function parseArgs(argv: string[]): BuildWebOptions {
  const o: BuildWebOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out' && argv[i + 1]) o.out = argv[++i];
    else if (a === '--model' && argv[i + 1]) o.model = argv[++i];
    else if (a === '--no-check') o.check = false;
    else if (a === '--no-training') o.training = false;
    else throw new Error(`build-web: unknown argument '${a}' (use --out DIR, --model DIR, --no-check, --no-training)`);
  }
  return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  try {
    await buildWeb({ ...parseArgs(process.argv.slice(2)), log: (l) => process.stdout.write(l + '\n') });
  } catch (e) {
    process.stderr.write(`web:build: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
