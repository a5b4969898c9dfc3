/**
 * The package served by other JavaScript runtimes, as a user would set them up — shared by
 * test/runtimes.test.ts and bench/edge.ts:
 * - Deno and Bun (the binaries of their npm packages, devDependencies): a project with the package
 *   from its `npm pack` tarball runs a script that imports `edge-mae/edge`, loads the model from
 *   bytes and serves createHandler with Deno.serve / Bun.serve on an ephemeral loopback port;
 * - Vercel's edge-runtime: an esbuild IIFE bundle of the edge entry (condition 'edge-light') in an
 *   EdgeRuntime VM, given the kernel module compiled in the host realm (as Vercel does for
 *   `?module` imports; the VM itself may not compile WebAssembly), answering its fetch events
 *   behind edge-runtime's runServer;
 * - Node, for comparison: the same bytes behind createHttpServer, in this process.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { EdgeRuntime, runServer } from 'edge-runtime';
import { MaeModel, createHandler, createHttpServer } from '../../src/node/index.js';
import { DEFAULT_MODEL_DIR } from '../../src/node/paths.js';
import { ROOT, runCli, tempDir } from '../helpers.js';

export type RuntimeName = 'deno' | 'bun' | 'edge-runtime' | 'node';

/** A runtime serving the handler on loopback. */
export interface RuntimeServer {
  readonly runtime: RuntimeName;
  readonly url: string;
  /** The model's backendDescription as that runtime reports it. */
  readonly backend: string;
  /** Stops the server (ends the runtime's process, if it has one). */
  stop(): Promise<void>;
}

/** What a runtime loads: the files of a model and of its kernel module, in one folder. */
export interface ModelAssets {
  readonly dir: string;
  /** The mask ratios the module was built for beyond the config's own (--mask-ratios). */
  readonly maskRatios: readonly number[];
}

const MODEL_FILES = ['config.json', 'model.safetensors', 'preprocessor_config.json'];

/**
 * `edge-mae build --simd simd128 --out DIR` for the bundled model (plus `--mask-ratios`), with the
 * model's files copied beside kernels.wasm and manifest.json.
 */
export function buildAssets(maskRatios: readonly number[] = []): ModelAssets {
  const dir = tempDir('edge-mae-assets-');
  const extra = maskRatios.length ? ['--mask-ratios', maskRatios.join(',')] : [];
  const r = runCli(['build', '--config', DEFAULT_MODEL_DIR, '--simd', 'simd128', '--out', dir, ...extra]);
  if (r.status !== 0) throw new Error(`edge-mae build failed: ${r.stderr}`);
  for (const f of MODEL_FILES) if (existsSync(join(DEFAULT_MODEL_DIR, f))) copyFileSync(join(DEFAULT_MODEL_DIR, f), join(dir, f));
  return { dir, maskRatios };
}

/** A runtime's binary from this package's node_modules, its version, or why there is none. */
export type Binary = { path: string; version: string } | { missing: string };

function probe(path: string): string | null {
  if (!existsSync(path)) return null;
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim().split('\n')[0] : null;
}

/**
 * deno: node_modules/.bin/deno (the native binary once its postinstall ran, else the package's
 * Node launcher of the platform package). bun: node_modules/.bin/bun is a placeholder until bun's
 * postinstall replaces it; without that, the platform package's binary (@oven/bun-<platform>).
 */
export function runtimeBinary(name: 'deno' | 'bun'): Binary {
  const candidates = [join(ROOT, 'node_modules', '.bin', name)];
  if (name === 'bun') {
    const oven = join(ROOT, 'node_modules', '@oven');
    if (existsSync(oven)) for (const p of readdirSync(oven)) candidates.push(join(oven, p, 'bin', 'bun'));
  }
  for (const path of candidates) {
    const version = probe(path);
    if (version) return { path, version };
  }
  return { missing: `no working ${name} binary in node_modules (tried ${candidates.join(', ')}): run npm ci (${name} is a devDependency; its postinstall is allowed in package.json "allowScripts")` };
}

/**
 * A project with the package installed from its `npm pack` tarball: the tarball unpacked into
 * node_modules/edge-mae as npm would, its dependencies linked to this checkout's node_modules (no
 * registry: npm's offline install cannot resolve them without cached metadata).
 */
export function installPackedPackage(): string {
  const project = tempDir('edge-mae-project-');
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: ROOT, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const tarball = (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0].filename;
  const into = join(project, 'node_modules', 'edge-mae');
  mkdirSync(into, { recursive: true });
  const tar = spawnSync('tar', ['-xzf', join(project, tarball), '-C', into, '--strip-components=1'], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
  const pkg = JSON.parse(readFileSync(join(into, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    const link = join(project, 'node_modules', dep);
    mkdirSync(join(link, '..'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), link, 'dir');
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'edge-mae-runtime-check', private: true, type: 'module', dependencies: { 'edge-mae': `file:${tarball}` } }, null, 2));
  writeFileSync(join(project, 'serve.mjs'), SERVE_SCRIPT);
  return project;
}

/** The user's server script for Deno and Bun (README "At the edge"): model from bytes, then serve. */
const SERVE_SCRIPT = `import { MaeModel, createHandler } from 'edge-mae/edge';

const dir = new URL(\`file://\${globalThis.Deno ? Deno.args[0] : Bun.argv[2]}/\`);
const bytes = async (name) => globalThis.Deno ? await Deno.readFile(new URL(name, dir)) : new Uint8Array(await Bun.file(new URL(name, dir)).arrayBuffer());
const json = async (name) => JSON.parse(new TextDecoder().decode(await bytes(name)));

const model = await MaeModel.load({
  config: await json('config.json'),
  weights: await bytes('model.safetensors'),
  kernels: { module: await WebAssembly.compile(await bytes('kernels.wasm')), manifest: await json('manifest.json') },
  preprocessor: await json('preprocessor_config.json'),
});
const handler = createHandler({ model });
const ready = (port) => console.log(\`listening \${port} \${model.backendDescription}\`);
if (globalThis.Deno) Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: ({ port }) => ready(port) }, (request) => handler.fetch(request));
else ready(Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (request) => handler.fetch(request) }).port);
`;

/** Starts `deno run` or `bun` on the project's serve.mjs and waits for its port. */
export function startProcessRuntime(name: 'deno' | 'bun', binary: string, project: string, assets: ModelAssets): Promise<RuntimeServer> {
  const args = name === 'deno'
    ? ['run', '--allow-read', '--allow-net=127.0.0.1', '--no-prompt', 'serve.mjs', assets.dir]
    : ['--no-install', 'serve.mjs', assets.dir];
  const env = { ...process.env, NO_COLOR: '1', DENO_DIR: join(project, '.deno'), DENO_NO_UPDATE_CHECK: '1', DO_NOT_TRACK: '1' };
  return listening(name, spawn(binary, args, { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * Node or the edge-runtime VM in a process of its own (test/support/runtime-child.ts), as Deno and
 * Bun run: so that a benchmark's client does not share their event loop.
 */
export function startChildRuntime(name: 'node' | 'edge-runtime', project: string, assets: ModelAssets): Promise<RuntimeServer> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'runtime-child.js');
  return listening(name, spawn(process.execPath, [script, name, project, assets.dir], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Waits for a server process's `listening <port> <backend>` line. */
async function listening(name: RuntimeName, child: ChildProcess): Promise<RuntimeServer> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += String(d); });
  const { port, backend } = await new Promise<{ port: number; backend: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} did not listen within 30 s: ${out}${stderr}`)); }, 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += String(d);
      const m = /listening (\d+) (.*)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve({ port: Number(m[1]), backend: m[2] }); }
    });
    child.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${name} exited (${code ?? signal}) before listening: ${out}${stderr}`)); });
  });
  return { runtime: name, url: `http://127.0.0.1:${port}`, backend, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  });
}

/** The Vercel edge function: the edge entry (resolved with the 'edge-light' condition) answering fetch events. */
const EDGE_FUNCTION = `import { MaeModel, createHandler } from 'edge-mae';

const a = globalThis.EDGE_MAE_ASSETS;
const ready = MaeModel.load({ config: a.config, weights: a.weights, kernels: { module: a.module, manifest: a.manifest }, preprocessor: a.preprocessor })
  .then((model) => ({ model, handler: createHandler({ model }) }));
globalThis.EDGE_MAE_BACKEND = ready.then(({ model }) => model.backendDescription);
addEventListener('fetch', (event) => event.respondWith(ready.then(({ handler }) => handler.fetch(event.request))));
`;

/** The edge function bundled as Vercel's build does: one IIFE script, conditions ['edge-light']. */
export async function bundleEdgeFunction(project: string): Promise<string> {
  const r = await build({
    stdin: { contents: EDGE_FUNCTION, resolveDir: project, sourcefile: 'edge-function.mjs' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    conditions: ['edge-light'],
    logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

/** An EdgeRuntime VM running the bundle, the kernel module compiled here (the host realm) and handed in. */
export async function startEdgeRuntime(bundle: string, assets: ModelAssets): Promise<RuntimeServer> {
  const module = await WebAssembly.compile(readFileSync(join(assets.dir, 'kernels.wasm')));
  const given = {
    config: readJson(join(assets.dir, 'config.json')),
    weights: new Uint8Array(readFileSync(join(assets.dir, 'model.safetensors'))),
    module,
    manifest: readJson(join(assets.dir, 'manifest.json')),
    preprocessor: readJson(join(assets.dir, 'preprocessor_config.json')),
  };
  const runtime = new EdgeRuntime({
    extend: (context) => Object.assign(context, { EDGE_MAE_ASSETS: given }),
    initialCode: bundle,
  });
  const backend = await (runtime.evaluate('globalThis.EDGE_MAE_BACKEND') as Promise<string>);
  const server = await runServer({ runtime, port: 0, host: '127.0.0.1' });
  return { runtime: 'edge-runtime', url: server.url.replace(/\/$/, ''), backend, stop: () => server.close() };
}

/** Node: the same bytes through MaeModel.load and createHttpServer, in this process. */
export async function startNode(assets: ModelAssets): Promise<RuntimeServer> {
  const model = await MaeModel.load({
    config: readJson(join(assets.dir, 'config.json')) as Record<string, unknown>,
    weights: new Uint8Array(readFileSync(join(assets.dir, 'model.safetensors'))),
    kernels: { module: await WebAssembly.compile(readFileSync(join(assets.dir, 'kernels.wasm'))), manifest: readJson(join(assets.dir, 'manifest.json')) as never },
    preprocessor: readJson(join(assets.dir, 'preprocessor_config.json')),
  });
  const server = createHttpServer(createHandler({ model }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    runtime: 'node',
    url: `http://127.0.0.1:${port}`,
    backend: model.backendDescription,
    stop: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections?.(); model.dispose(); }),
  };
}
