/**
 * `edge-mae serve`: the built web page (dist/web, `npm run web:build`) from a static server on
 * loopback, cross-origin isolated (COOP/COEP), so the page can share WebAssembly memory with
 * kernel-thread workers. Files only: GET and HEAD, no listings, nothing outside the folder.
 */
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { UsageError } from '../errors.js';
import { DEFAULT_WEB_DIR } from '../node/paths.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

/** Headers on every response: cross-origin isolation, and no guessing of types. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

export interface StaticServerOptions {
  /** Folder to serve. */
  root: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
}

export interface StaticServer {
  /** http://host:port/ */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

function within(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The file a request path names, or an HTTP status when there is none to serve. */
export function resolveRequestPath(root: string, url: string | undefined): string | number {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url ?? '/', 'http://localhost').pathname);
  } catch {
    return 400;
  }
  if (pathname.includes('\0') || pathname.includes('\\')) return 400;
  // After decoding, '..' may appear again (%2e%2e, %2f): resolve and check it stays inside.
  let file = resolve(root, '.' + (pathname.startsWith('/') ? pathname : '/' + pathname));
  if (!within(root, file)) return 403;
  if (!existsSync(file)) return 404;
  // Symbolic links must not lead out of the folder either.
  const real = realpathSync(file);
  if (!within(realpathSync(root), real)) return 403;
  if (statSync(real).isDirectory()) {
    file = join(file, 'index.html');
    if (!existsSync(file)) return 404;
  }
  return statSync(file).isFile() ? file : 404;
}

function sendError(res: ServerResponse, status: number, extra: Record<string, string> = {}): void {
  const text = `${status} ${{ 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed' }[status] ?? 'Error'}\n`;
  res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function handle(root: string, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, { Allow: 'GET, HEAD' });
  const file = resolveRequestPath(root, req.url);
  if (typeof file === 'number') return sendError(res, file);
  const size = statSync(file).size;
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

/** Starts the server; resolves once it listens. */
export function startStaticServer(o: StaticServerOptions): Promise<StaticServer> {
  const root = resolve(o.root);
  const host = o.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    try {
      handle(root, req, res);
    } catch {
      if (!res.headersSent) sendError(res, 404);
      else res.destroy();
    }
  });
  return new Promise((resolveStart, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolveStart({
        url: `http://${shown}:${port}/`,
        server,
        close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}

export interface ServeArgs {
  dir?: string;
  port?: number;
  host?: string;
}

/** Serves until SIGINT/SIGTERM. */
export async function runServe(a: ServeArgs, log: (line: string) => void): Promise<void> {
  const root = resolve(a.dir ?? DEFAULT_WEB_DIR);
  if (!existsSync(join(root, 'index.html'))) {
    throw new UsageError(`no web page in '${root}': build it first with \`npm run web:build\`${a.dir ? '' : ' (or pass --dir)'}`);
  }
  let s: StaticServer;
  try {
    s = await startStaticServer({ root, port: a.port ?? 8080, host: a.host ?? '127.0.0.1' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot listen on ${a.host ?? '127.0.0.1'}:${a.port ?? 8080}: ${code === 'EADDRINUSE' ? 'the port is in use (pick another with --port, or 0 for any free one)' : (e as Error).message}`);
  }
  log(`serving ${root} at ${s.url} (cross-origin isolated; Ctrl-C stops)`);
  await new Promise<void>((done) => {
    const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); void s.close().then(done); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
