/** Shared test utilities: fixture paths, tensor comparison with stated bounds, running the CLI. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../src/safetensors.js';
import { type MaeConfig, parseConfig } from '../src/config.js';

/** Repository root (tests run from dist/test/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const GOLDEN = join(FIXTURES, 'golden');

export function readTensors(path: string): SafetensorsFile {
  return SafetensorsFile.parse(new Uint8Array(readFileSync(path)), path);
}

export function tempDir(prefix = 'edge-mae-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Largest |x − ref| / (1 + |ref|). */
export function maxScaledError(actual: ArrayLike<number>, ref: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(actual[i] - ref[i]) / (1 + Math.abs(ref[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/** Every element within tol·(1 + |ref|), and the same length. */
export function assertClose(actual: ArrayLike<number>, ref: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, ref.length, `${what}: length ${actual.length}, expected ${ref.length}`);
  const worst = maxScaledError(actual, ref);
  assert.ok(worst <= tol, `${what}: max |x − ref|/(1 + |ref|) = ${worst.toExponential(2)} > ${tol}`);
}

export function assertExact(actual: ArrayLike<number | bigint>, ref: ArrayLike<number | bigint>, what: string): void {
  assert.deepEqual(Array.from(actual, Number), Array.from(ref, Number), `${what} differs`);
}

export interface CliResult { status: number; stdout: string; stderr: string }

/** Runs bin/edge-mae.js as a user would. */
export function runCli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'edge-mae.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: ROOT });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Bounds: tensors 5e-5·(1+|ref|); losses 1e-6·(1+|ref|). The measured loss error is ≤ 1.2e-7
 * (scripts/accuracy.ts), while a tanh GELU or a LayerNorm eps of 1e-5 instead of 1e-6 moves the
 * loss of the golden and bundled models by 1.5e-6 to 1.6e-5 (float64 reference): 1e-5 let some through.
 */
export const TENSOR_TOL = 5e-5;
export const LOSS_TOL = 1e-6;

/** A golden case's config and io tensors (test/fixtures/golden/<name>). */
export function goldenCase(name: string): { cfg: MaeConfig; io: SafetensorsFile } {
  const cfg = parseConfig(JSON.parse(readFileSync(join(GOLDEN, name, 'config.json'), 'utf8')), `${name}/config.json`);
  return { cfg, io: readTensors(join(GOLDEN, name, 'io.safetensors')) };
}

let nonResizing: string | undefined;
/**
 * A copy of the bundled model whose preprocessor_config.json says do_resize: false (the bundled one
 * resizes any image to 28×28): for the checks that a model which does not resize refuses an image
 * of another size. Made once per process, in a temporary folder.
 */
export function nonResizingModel(): string {
  if (nonResizing) return nonResizing;
  const from = join(ROOT, 'models', 'mae-fashion-mnist');
  const dir = tempDir('edge-mae-no-resize-');
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(from, f), join(dir, f));
  const pp = JSON.parse(readFileSync(join(from, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ ...pp, do_resize: false }, null, 2));
  nonResizing = dir;
  return dir;
}
