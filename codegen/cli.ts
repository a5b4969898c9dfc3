/**
 * `npm run build`'s generator step: generates and compiles the kernel module of every bundled
 * model (models/<name>/config.json) into the kernel cache, so the first run does not compile.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernels } from './compile.js';
import { PACKAGE_ROOT } from '../src/node/paths.js';
import { readConfig } from '../src/node/load.js';

const modelsDir = join(PACKAGE_ROOT, 'models');
const names = existsSync(modelsDir) ? readdirSync(modelsDir).filter((n) => existsSync(join(modelsDir, n, 'config.json'))) : [];
for (const name of names) {
  const t0 = performance.now();
  const built = await buildKernels(readConfig(join(modelsDir, name, 'config.json')));
  const ms = (performance.now() - t0).toFixed(0);
  process.stdout.write(`kernels for ${name}: ${built.compiled ? 'compiled' : 'cached'} ${built.dir} (${(built.wasm.length / 1024).toFixed(1)} KiB) in ${ms} ms\n`);
}
