/** A reader that goes away early (`edge-mae score … | head -1`) ends the command quietly: exit 0, no stack trace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

test('a closed stdout pipe ends the CLI quietly', async () => {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'edge-mae.js'), 'score', join(ROOT, 'models', 'mae-fashion-mnist', 'samples'), '--repeats', '64'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  // Close our end before the CSV arrives, as `head -0` would.
  child.stdout.destroy();
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|at .*\.js:\d+/);
});
