/**
 * The handler's loopback load, shared by its test and the edge benchmark: the bundled model behind
 * the Node http adapter in a child process (test/support/api-server), and the mix of valid and
 * invalid requests sent to it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SAMPLES_DIR } from '../../src/node/paths.js';

export interface ServerMemory { rss: number; heapUsed: number; external: number }

export interface ApiServer {
  readonly base: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** The server process's resident memory, from /healthz. */
  rss(): Promise<number>;
  /** The server process's memory, from /healthz: after a full GC when started with `--expose-gc`. */
  memory(): Promise<ServerMemory>;
  stop(): void;
}

export interface ApiServerOptions {
  /** Node flags for the server process, e.g. `--expose-gc`. */
  nodeArgs?: string[];
  /** Extra environment: MAX_BODY_BYTES, HANDLER_LIMITS, HTTP_LIMITS (see api-server.ts). */
  env?: Record<string, string>;
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const child = spawn(process.execPath, [...opts.nodeArgs ?? [], join(dirname(fileURLToPath(import.meta.url)), 'api-server.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...opts.env },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(String(d)); if (m) resolve(Number(m[1])); });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const memory = async (): Promise<ServerMemory> => (await (await fetch(`${base}/healthz`)).json()) as ServerMemory;
  return {
    base,
    port,
    child,
    rss: async () => (await memory()).rss,
    memory,
    stop: () => { child.kill('SIGTERM'); },
  };
}

export interface LoadRequest {
  readonly path: string;
  readonly body: () => Uint8Array<ArrayBuffer>;
  /** A valid request must get 200; an invalid one a 4xx JSON error. */
  readonly valid: boolean;
}

/** Three valid kinds and five invalid ones (a bad PNG, not an image, a bad parameter, a body over the server's 64 KiB limit, no such route). */
export function loadRequests(): LoadRequest[] {
  const samples = readdirSync(DEFAULT_SAMPLES_DIR).filter((f) => f.endsWith('.png')).map((f) => new Uint8Array(readFileSync(join(DEFAULT_SAMPLES_DIR, f))) as Uint8Array<ArrayBuffer>);
  return [
    { path: '/reconstruct?seed=3', body: () => samples[0], valid: true },
    { path: '/encode', body: () => samples[1], valid: true },
    { path: '/score?repeats=2', body: () => samples[2], valid: true },
    { path: '/reconstruct', body: () => new Uint8Array([0x89, 0x50, 0x4e, 0x47]), valid: false },
    { path: '/encode', body: () => new TextEncoder().encode('not an image'), valid: false },
    { path: '/score?repeats=999', body: () => samples[3], valid: false },
    { path: '/reconstruct', body: () => new Uint8Array(70 * 1024), valid: false },
    { path: '/missing', body: () => samples[4], valid: false },
  ];
}

/** Sends `total` requests, `concurrency` at a time, cycling through the kinds; `onResponse` sees each. */
export async function runLoad(base: string, total: number, concurrency: number, onResponse: (kind: LoadRequest, res: Response, body: Uint8Array, ms: number, done: number) => Promise<void> | void, kinds = loadRequests()): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const k = kinds[next++ % kinds.length];
      const t0 = performance.now();
      let res: Response;
      try {
        res = await fetch(base + k.path, { method: 'POST', body: k.body() });
      } catch (e) {
        throw new Error(`${k.path} (${k.body().length} bytes): ${(e as Error).message} ${String((e as { cause?: unknown }).cause)}`);
      }
      const body = new Uint8Array(await res.arrayBuffer());
      await onResponse(k, res, body, performance.now() - t0, ++done);
    }
  }));
}
