/**
 * The CLI against what an attacker (or a slip) hands it: device files, FIFOs and sockets as
 * inputs, device nodes, links and FIFOs as outputs, flags far past what the machine has, configs
 * beyond wasm32 memory. Each is refused at once with one line, a non-zero exit, and nothing
 * replaced or half-written. Every run is killed after RUN_LIMIT_MS, so a regression (a FIFO that
 * blocks, /dev/zero read for ever, 1000 threads) fails instead of hanging the suite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, ftruncateSync, lstatSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MaeModel, InputError } from '../src/node/index.js';
import { score } from '../src/jobs/score.js';
import { GOLDEN, ROOT, tempDir } from './helpers.js';

const MODEL = join(ROOT, 'models', 'mae-fashion-mnist');
const SAMPLES = join(MODEL, 'samples');
const SAMPLE = join(SAMPLES, readdirSync(SAMPLES).filter((f) => f.endsWith('.png')).sort()[0]);
const TINY = join(GOLDEN, 'tiny');
const CFG = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')) as Record<string, unknown>;

/** Safety bound of one run: the fixed CLI answers in well under a second (plus the model load). */
const RUN_LIMIT_MS = 20_000;
/** "In under a few seconds": a wide bound over the ~0.3–1 s a refusal takes, far under the broken behaviours (minutes, or for ever). */
const REFUSAL_MS = 10_000;
const TEST = { timeout: 3 * RUN_LIMIT_MS };

interface Run { status: number | null; stdout: string; stderr: string; ms: number }

function run(args: string[]): Run {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'edge-mae.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: RUN_LIMIT_MS, killSignal: 'SIGKILL' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/** No temporary file beside an output. */
function assertNoTemporaries(dir: string): void {
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], `no temporary file left in ${dir}`);
}

/** Refused at once: one `edge-mae: …` line (besides progress) matching `pattern`, a non-zero exit, no stack trace. */
function expectRefused(args: string[], pattern: RegExp): Run {
  const r = run(args);
  assert.notEqual(r.status, null, `edge-mae ${args.join(' ')} was still running after ${RUN_LIMIT_MS} ms (killed)`);
  assert.notEqual(r.status, 0, `expected a refusal, got exit 0:\n${r.stdout}\n${r.stderr}`);
  // Progress lines (`score: 1/1 images`, on stderr when it is not a terminal) are not part of the error.
  const lines = r.stderr.trim().split('\n').filter((l) => !/^(score|encode): \d+\/\d+ images$/.test(l));
  assert.equal(lines.length, 1, `one line expected on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^edge-mae: /);
  assert.match(lines[0], pattern);
  assert.ok(r.ms < REFUSAL_MS, `refused after ${r.ms.toFixed(0)} ms, expected < ${REFUSAL_MS} ms`);
  return r;
}

function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

// ---------------------------------------------------------------------------------------------
// Inputs: regular files only, of bounded size

test('an image that is /dev/zero: refused by name before anything is read', TEST, () => {
  const out = join(tempDir(), 'fig.png');
  expectRefused(['reconstruct', '/dev/zero', '--out', out], /image '\/dev\/zero': is a character device, expected a regular file/);
  assert.ok(!existsSync(out));
});

test('an image that is a FIFO: refused, never opened (opening one blocks)', TEST, () => {
  const dir = tempDir();
  const fifo = mkfifo(join(dir, 'x.png'));
  expectRefused(['score', fifo], /image '.*x\.png': is a FIFO/);
});

test('an image that is a socket: refused as a socket', TEST, async () => {
  const dir = tempDir();
  const sock = join(dir, 's.png');
  const server = createServer();
  await new Promise<void>((done) => server.listen(sock, done));
  try {
    expectRefused(['score', sock], /image '.*s\.png': is a socket/);
  } finally {
    server.close();
  }
});

test('a folder holding a FIFO named like an image: the FIFO is passed over, the image scored', TEST, () => {
  const dir = tempDir();
  copyFileSync(SAMPLE, join(dir, 'a.png'));
  mkfifo(join(dir, 'b.png'));
  const r = run(['score', dir]);
  assert.equal(r.status, 0, `exit ${r.status}:\n${r.stderr}`);
  const rows = r.stdout.trim().split('\n');
  assert.equal(rows.length, 2, `a header and one row:\n${r.stdout}`);
  assert.match(rows[1], /a\.png,/);
});

for (const [what, args] of [
  ['--inputs /dev/zero', (dir: string) => ['forward', '--model', TINY, '--inputs', '/dev/zero', '--out', join(dir, 'o.safetensors')]],
  ['--weights FIFO', (dir: string) => ['forward', '--config', join(TINY, 'config.json'), '--weights', mkfifo(join(dir, 'w.safetensors')), '--inputs', join(TINY, 'io.safetensors'), '--out', join(dir, 'o.safetensors')]],
  ['--config FIFO', (dir: string) => ['build', '--config', mkfifo(join(dir, 'config.json'))]],
] as const) {
  test(`tensor and config inputs: ${what} is refused`, TEST, () => {
    const dir = tempDir();
    expectRefused(args(dir), /'.*': is a (character device|FIFO)/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('o.')), [], 'no output');
  });
}

test('an image file over the size limit is refused unread', TEST, () => {
  const dir = tempDir();
  const big = join(dir, 'big.png');
  const fd = openSync(big, 'w');
  ftruncateSync(fd, 64 * 2 ** 20 + 1); // sparse: 64 MiB + 1 byte
  closeSync(fd);
  expectRefused(['score', big], /image '.*big\.png': is 67108865 bytes, more than the 64 MiB limit/);
});

test('a config.json over the size limit is refused unread', TEST, () => {
  const path = join(tempDir(), 'config.json');
  writeFileSync(path, JSON.stringify({ ...CFG, padding: 'x'.repeat(2 ** 20) }));
  expectRefused(['build', '--config', path], /config '.*config\.json': is \d+ bytes, more than the 1 MiB limit/);
});

// ---------------------------------------------------------------------------------------------
// Outputs: only over a regular file or a new name

/**
 * A character device of our own with /dev/full's numbers (1, 7), made as root: the test checks what
 * `--out /dev/full` would do without putting the machine's /dev/full at risk should the check regress.
 */
function privateDevice(dir: string): string {
  const path = join(dir, 'full.csv');
  try {
    execFileSync('mknod', [path, 'c', '1', '7'], { stdio: 'ignore' });
    return path;
  } catch {
    return '/dev/full'; // not root: a rename over it could not succeed anyway
  }
}

test('--out a device node: refused before any work, the device still a device', TEST, () => {
  const dir = tempDir();
  const device = privateDevice(dir);
  const before = lstatSync(device);
  expectRefused(['score', SAMPLE, '--out', device], /cannot write '.*': is a character device; outputs replace only a regular file/);
  const after = lstatSync(device);
  assert.ok(after.isCharacterDevice(), `${device} is still a character device`);
  assert.equal(after.rdev, before.rdev);
  assertNoTemporaries(dir);
});

for (const [command, name] of [['score', 'scores.csv'], ['reconstruct', 'fig.png'], ['encode', 'e.jsonl'], ['preprocess', 'p.safetensors']] as const) {
  test(`${command} --out a symbolic link: refused, the link and its target unchanged`, TEST, () => {
    const dir = tempDir();
    const target = join(dir, 'target');
    writeFileSync(target, 'keep me');
    const link = join(dir, name);
    symlinkSync(target, link);
    expectRefused([command, SAMPLE, '--out', link], /cannot write '.*': is a symbolic link; outputs replace only a regular file/);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), target);
    assert.equal(readFileSync(target, 'utf8'), 'keep me');
    assertNoTemporaries(dir);
  });
}

test('--out a FIFO: refused (never opened), the FIFO still a FIFO', TEST, () => {
  const dir = tempDir();
  const fifo = mkfifo(join(dir, 'scores.csv'));
  expectRefused(['score', SAMPLE, '--out', fifo], /cannot write '.*scores\.csv': is a FIFO/);
  assert.ok(lstatSync(fifo).isFIFO());
  assertNoTemporaries(dir);
});

test('build --out a folder holding a symbolic link: refused before compiling, the link unchanged', TEST, () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'target'), 'keep me');
  symlinkSync(join(dir, 'target'), join(dir, 'manifest.json'));
  expectRefused(['build', '--config', MODEL, '--out', dir], /cannot write '.*manifest\.json': is a symbolic link/);
  assert.ok(lstatSync(join(dir, 'manifest.json')).isSymbolicLink());
  assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'keep me');
  assert.deepEqual(readdirSync(dir).sort(), ['manifest.json', 'target']);
});

// ---------------------------------------------------------------------------------------------
// Knobs

test('--threads above the cores here is refused with the bound', TEST, () => {
  const r = expectRefused(['score', SAMPLE, '--threads', '1000'], /--threads.*'1000' is invalid.*from 1 to (\d+) \(the cores here\)/);
  assert.equal(Number(/from 1 to (\d+)/.exec(r.stderr)![1]), availableParallelism());
});

test('--repeats 1e9 is refused with the bound', TEST, () => {
  expectRefused(['score', SAMPLE, '--repeats', '1e9'], /--repeats.*'1e9' is invalid.*from 1 to 1024/);
});

test('--batch far past the bound is refused', TEST, () => {
  expectRefused(['score', SAMPLE, '--batch', '100000'], /--batch.*'100000' is invalid.*from 1 to 1024/);
});

for (const value of ['', ' ']) {
  test(`--mask-ratio ${JSON.stringify(value)} is refused, not read as 0`, TEST, () => {
    expectRefused(['score', SAMPLE, '--mask-ratio', value], /--mask-ratio.*is invalid.*\[0, 1\)/);
  });
}

test('score --mask-ratio 0: nothing removed, nothing to score: one line', TEST, () => {
  expectRefused(['score', SAMPLE, '--mask-ratio', '0'], /mask ratio 0 removes no patch of 49: there is nothing to score/);
});

test('reconstruct of 200 images at --scale 64: the figure is refused before the model work', TEST, () => {
  const dir = tempDir();
  for (let i = 0; i < 200; i++) symlinkSync(SAMPLE, join(dir, `i${String(i).padStart(3, '0')}.png`));
  const out = join(tempDir(), 'fig.png');
  // 200 rows of 3 panels of 28·64 = 1792 px with 4-px gaps: 5392 × 359204 RGB pixels, 5.8 GB.
  expectRefused(['reconstruct', dir, '--scale', '64', '--out', out], /5392×359204 pixels.*limit is 256 MiB/);
  assert.ok(!existsSync(out));
});

// ---------------------------------------------------------------------------------------------
// Configs beyond wasm32

function configFile(edit: Record<string, unknown>): string {
  const path = join(tempDir(), 'config.json');
  writeFileSync(path, JSON.stringify({ ...CFG, ...edit }));
  return path;
}

test('build of a config needing more than 4 GiB: refused before compiling, naming the pages and the limit', TEST, () => {
  const cache = tempDir();
  // Six encoder layers of width 4096 and MLP 16384: 6·(4·4096² + 2·4096·16384) floats = 4.5 GiB of weights.
  const path = configFile({ hidden_size: 4096, num_attention_heads: 32, intermediate_size: 16384, num_hidden_layers: 6 });
  expectRefused(['build', '--config', path, '--cache', cache], /needs \d+ pages .* more than wasm32's 65536 pages \(4 GiB\)/);
  assert.deepEqual(readdirSync(cache), [], 'nothing generated');
});

for (const [field, value, limit] of [['image_size', 1e6, 8192], ['num_hidden_layers', 1e6, 1024], ['hidden_size', 2 ** 20, 65536]] as const) {
  test(`build of a config with ${field} ${value}: refused naming the field and its limit`, TEST, () => {
    const cache = tempDir();
    expectRefused(['build', '--config', configFile({ [field]: value }), '--cache', cache], new RegExp(`field '${field}' is ${value}, more than the limit of ${limit}`));
    assert.deepEqual(readdirSync(cache), [], 'nothing generated');
  });
}

test('build of a config whose mask ratio keeps no patch: refused before compiling', TEST, () => {
  const cache = tempDir();
  // 49 patches, int(49·(1 − 0.99)) = 0 kept.
  expectRefused(['build', '--config', configFile({ mask_ratio: 0.99 }), '--cache', cache], /field 'mask_ratio' \(0\.99\) keeps no patch of the 49/);
  assert.deepEqual(readdirSync(cache), []);
});

// ---------------------------------------------------------------------------------------------
// Folders that cannot be read

test('a subfolder that cannot be listed is one failing item named by its path; the other images still load', TEST, () => {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  copyFileSync(SAMPLE, join(dir, 'a.png'));
  mkdirSync(join(dir, 'locked'));
  copyFileSync(SAMPLE, join(dir, 'locked', 'b.png'));
  chmodSync(join(dir, 'locked'), 0);
  // Root reads through chmod 000: the walk then runs as root without the capabilities that bypass
  // file modes (util-linux's setpriv), so the folder is closed to it yet the clone stays readable
  // however its parent folders are locked down (running as `nobody` failed under a 0700 temp dir).
  const asRoot = process.getuid?.() === 0;
  const script = `
    import { imageFiles } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'src', 'node', 'image-files.js')).href)};
    for (const item of imageFiles([${JSON.stringify(dir)}])) {
      try { item.load(); console.log('loaded ' + item.name); } catch (e) { console.log(e.name + ' ' + e.message); }
    }`;
  const node = [process.execPath, '--input-type=module', '-e', script];
  const argv = asRoot ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-all', ...node] : node;
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: RUN_LIMIT_MS });
  assert.equal(r.error, undefined, `could not start ${argv[0]}: ${r.error?.message}`);
  chmodSync(join(dir, 'locked'), 0o755);
  assert.equal(r.status, 0, `the walk failed:\n${r.stderr}`);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    `loaded ${join(dir, 'a.png')}`,
    `FileError folder '${join(dir, 'locked')}': cannot be read (permission denied)`,
  ]);
});

// ---------------------------------------------------------------------------------------------
// The score job (shared by the CLI and the HTTP handler)

test('score(): repeats beyond 1024 and a mask ratio that removes nothing are InputErrors, before any forward pass', TEST, async () => {
  const model = await MaeModel.load(MODEL);
  try {
    const pixels = new Float32Array(28 * 28);
    const forward = model.forward.bind(model);
    // Refusals come before the model runs: a forward pass here fails the test (and cannot run for ever).
    model.forward = () => Promise.reject(new Error('the model ran'));
    const refusal = (pattern: RegExp) => (e: unknown): boolean => e instanceof InputError && pattern.test(e.message);
    await assert.rejects(score(model, pixels, { batch: 1, repeats: 1e9 }), refusal(/^repeats must be an integer from 1 to 1024, got 1000000000$/));
    await assert.rejects(score(model, pixels, { batch: 1, repeats: 1025 }), refusal(/from 1 to 1024, got 1025/));
    await assert.rejects(score(model, pixels, { batch: 1, maskRatio: 0 }), refusal(/^mask ratio 0 removes no patch of 49: there is nothing to score$/));
    model.forward = forward;
    // 0.01 of 49 patches: int(49·0.99) = 48 kept, one removed: scored.
    const [s] = await score(model, pixels, { batch: 1, maskRatio: 0.01 });
    assert.ok(Number.isFinite(s.score));
  } finally {
    model.dispose();
  }
});
