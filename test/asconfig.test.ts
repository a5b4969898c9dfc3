/**
 * asconfig.json, the AssemblyScript project file: it holds a target for every kernel build
 * (codegen/compile.ts compiles each with it), and asc builds the hand-written core
 * (assembly/index.ts) with each target from the files on disk, as `npx asc assembly/index.ts
 * --config asconfig.json --target T` does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ascTarget } from '../codegen/compile.js';
import { ROOT, tempDir } from './helpers.js';

const asconfig = JSON.parse(readFileSync(join(ROOT, 'asconfig.json'), 'utf8')) as { targets: Record<string, Record<string, unknown>>; entries?: unknown };
const builds = (['simd128', 'relaxed'] as const).flatMap((simd) => [
  { simd, threads: false, wasi: false }, { simd, threads: true, wasi: false }, { simd, threads: false, wasi: true },
]);

test('asconfig.json: one target per kernel build, and no other', () => {
  const names = builds.map((b) => ascTarget(b.simd, b.threads, b.wasi));
  assert.deepEqual(Object.keys(asconfig.targets).sort(), [...names].sort());
  assert.equal(asconfig.entries, undefined, 'no entries: they would be compiled into every kernel module');
  for (const b of builds) {
    const t = asconfig.targets[ascTarget(b.simd, b.threads, b.wasi)]!;
    const want = ['simd', ...(b.simd === 'relaxed' ? ['relaxed-simd'] : []), ...(b.threads ? ['threads'] : [])];
    assert.deepEqual(t.enable, want, `${ascTarget(b.simd, b.threads, b.wasi)}: features`);
    assert.equal(t.importMemory, b.wasi ? undefined : true, 'the host supplies the memory, except to a WASI module');
  }
});

test('asc builds the hand-written core with every target of asconfig.json', async () => {
  const { default: asc } = await import('assemblyscript/asc');
  const dir = tempDir();
  const core = ['storeLanes', 'gelu4', 'layerNormRows', 'softmaxRows', 'transposeHead', 'patchGather', 'addRowsGathered', 'unshuffle', 'packPanels'];
  for (const target of Object.keys(asconfig.targets)) {
    const out = join(dir, `${target}.wasm`);
    const stderr = asc.createMemoryStream();
    const r = await asc.main(['assembly/index.ts', '--config', 'asconfig.json', '--target', target, '--outFile', out, '--baseDir', ROOT, '--disableWarning', '112'], { stderr, stdout: asc.createMemoryStream() });
    assert.equal(r.error, null, `${target}: ${stderr.toString()}`);
    const mod = new WebAssembly.Module(readFileSync(out));
    const exports = WebAssembly.Module.exports(mod).map((e) => e.name);
    for (const name of core) assert.ok(exports.includes(name), `${target}: exports ${name}`);
    const memoryImport = WebAssembly.Module.imports(mod).some((i) => i.kind === 'memory');
    assert.equal(memoryImport, !target.endsWith('-wasi'), `${target}: ${target.endsWith('-wasi') ? 'its own' : 'an imported'} memory`);
  }
});
