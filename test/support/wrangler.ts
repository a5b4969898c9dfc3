/**
 * The Cloudflare example (examples/cloudflare-worker) served as a user runs it: its own
 * `npm run assets`, then its own wrangler (`wrangler dev --local`: workerd on loopback, no network
 * calls). Used by test/cloudflare-worker.test.ts and the edge bench's per-runtime latency.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

export const EXAMPLE = join(ROOT, 'examples', 'cloudflare-worker');
export const WRANGLER = join(EXAMPLE, 'node_modules', '.bin', 'wrangler');
/** wrangler's start (bundling, workerd). */
const READY_MS = 40_000;

/** Why the example cannot run here, or undefined. */
export const wranglerMissing = (): string | undefined =>
  existsSync(WRANGLER) ? undefined : `the example's wrangler is not installed (cd examples/cloudflare-worker && npm ci)`;

/** Wrangler without its network calls: no metrics, no Request.cf download, no update check (banner). */
const WRANGLER_ENV = { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_HIDE_BANNER: 'true', CI: 'true' };

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

/** Resolves when wrangler prints its "Ready on" line; rejects when it exits first or takes too long. */
function waitReady(child: ChildProcess, log: () => string): Promise<void> {
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev not ready after ${READY_MS} ms:\n${log()}`)), READY_MS);
    const onData = (): void => {
      if (/Ready on http/.test(log())) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`wrangler dev exited (${code ?? signal}) before it was ready:\n${log()}`));
    });
  });
}

export interface WranglerServer {
  readonly url: string;
  /** What wrangler printed so far. */
  output(): string;
  /** Stops wrangler and its workerd (the whole process group). */
  stop(): Promise<void>;
}

/** `npm run assets` in the example, then its `wrangler dev --local` on free loopback ports. */
export async function startWrangler(): Promise<WranglerServer> {
  const missing = wranglerMissing();
  if (missing) throw new Error(missing);
  const assets = spawnSync('npm', ['run', 'assets'], { cwd: EXAMPLE, encoding: 'utf8' });
  if (assets.status !== 0) throw new Error(`npm run assets failed:\n${assets.stdout}\n${assets.stderr}`);
  const [port, inspectorPort] = [await freePort(), await freePort()];
  // Its own process group: wrangler starts workerd, and the whole group is stopped at the end.
  const child = spawn(WRANGLER, ['dev', '--local', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort), '--show-interactive-dev-session=false'], {
    cwd: EXAMPLE, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...WRANGLER_ENV },
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const stop = async (): Promise<void> => {
    if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid, 'SIGTERM');
    const killTimer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await exited;
    clearTimeout(killTimer);
    // workerd may outlive wrangler by a moment: nothing of the group may stay behind.
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is gone */ }
  };
  try {
    await waitReady(child, () => output);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `http://127.0.0.1:${port}`, output: () => output, stop };
}
