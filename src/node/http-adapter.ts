/**
 * Node's http server in front of a fetch-style handler (src/serve/handler.ts), built for clients
 * that may be hostile: nothing a client sends can end the process (a request Node's parser refuses
 * gets Node's own 400/431; one it accepts but that cannot become a fetch Request gets a 400 JSON
 * error), and connections and slow clients are bounded (HttpServerLimits).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import type { Handler } from '../serve/handler.js';

export interface HttpServerLimits {
  /** Most open connections; one more is closed as it arrives (default 256). */
  maxConnections: number;
  /** Time for a request's headers to arrive, ms (default 10 s); a slower client gets 408. */
  headersTimeoutMs: number;
  /** Time for a whole request, headers and body, to arrive, ms (default 30 s); a slower client gets 408. */
  requestTimeoutMs: number;
  /**
   * A connection with no traffic for this long while its request arrives or its answer is written
   * is closed, ms (default 60 s). Waiting for the model, which the handler's queue bounds, is not idle.
   */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpServerLimits = { maxConnections: 256, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 60_000 };

/** The handler routes on path and query only, so every request gets this origin: Host is the client's to choose. */
const ORIGIN = 'http://localhost';

/** A client error found here, before the handler: answered 4xx JSON. */
class BadRequest extends Error {}

/** Host is uri-host [":" port] (RFC 9112 §3.2), or empty; several Host lines are refused too. */
function checkHost(req: IncomingMessage): void {
  const lines = req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i].toLowerCase() === 'host').length;
  if (lines > 1) throw new BadRequest(`${lines} Host headers, expected one`);
  const host = req.headers.host;
  if (!host) return;
  let valid = !/[\s/?#@\\]/.test(host);
  try {
    new URL(`http://${host}`);
  } catch {
    valid = false;
  }
  if (!valid) throw new BadRequest(`invalid Host header '${host}'`);
}

/** The request's path and query on ORIGIN; an absolute-form target (RFC 9112 §3.2.2) gives up its authority. */
function requestUrl(target: string): URL {
  let url: URL | undefined;
  try {
    if (target.startsWith('/')) return new URL(ORIGIN + target);
    url = new URL(target);
  } catch {
    // not a URL: refused below
  }
  // http(s) URLs' paths start with '/', so appended to ORIGIN they stay paths ('//x' too).
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw new BadRequest(`invalid request target '${target}'`);
  return new URL(ORIGIN + url.pathname + url.search);
}

function toRequest(req: IncomingMessage): Request {
  checkHost(req);
  const url = requestUrl(req.url ?? '/');
  const headers = new Headers();
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  try {
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) v.forEach((x) => headers.append(k, x));
      else if (v !== undefined) headers.set(k, v);
    }
    return new Request(url, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
      // Node's fetch needs this for a streamed request body.
      ...(hasBody ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (e) {
    // Node's parser lets through what fetch refuses: methods such as TRACE, header values above U+00FF.
    throw new BadRequest(`malformed request: ${(e as Error).message}`);
  }
}

async function send(res: ServerResponse, response: Response): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer());
  res.statusCode = response.status;
  response.headers.forEach((v, k) => res.setHeader(k, v));
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  try {
    const body = JSON.stringify({ error: message });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } catch {
    // The answer had begun (headers sent): the only honest way to fail now is to cut the connection.
    res.destroy();
  }
}

function positiveInteger(limits: HttpServerLimits, name: keyof HttpServerLimits): number {
  const v = limits[name];
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`createHttpServer: limits.${name} must be a positive integer, got ${v}`);
  return v;
}

/** An http.Server answering with the handler; call listen() on it. */
export function createHttpServer(handler: Handler, limits: Partial<HttpServerLimits> = {}): Server {
  const l: HttpServerLimits = { ...DEFAULT_HTTP_LIMITS, ...limits };
  for (const name of Object.keys(DEFAULT_HTTP_LIMITS) as Array<keyof HttpServerLimits>) positiveInteger(l, name);
  if (l.headersTimeoutMs > l.requestTimeoutMs) {
    throw new UsageError(`createHttpServer: limits.headersTimeoutMs (${l.headersTimeoutMs}) must not exceed limits.requestTimeoutMs (${l.requestTimeoutMs})`);
  }
  /** Sockets whose request has arrived and whose answer is not yet being written (the model's turn). */
  const awaitingAnswer = new WeakSet<Socket>();

  const server = createServer({
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    // How often Node looks for requests past those timeouts (its default, 30 s, would let them run long).
    connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
  }, (req, res) => {
    const socket = req.socket;
    // Set once the answer is being written: a body that ends after that (a refused upload, drained
    // below) must not mark the socket as waiting again, or the idle timeout would never close it.
    let answered = false;
    const arrived = (): void => { if (!answered) awaitingAnswer.add(socket); };
    const answering = (): void => { answered = true; awaitingAnswer.delete(socket); };
    if (req.complete) arrived();
    else req.once('end', arrived);
    let request: Request;
    try {
      request = toRequest(req);
    } catch (e) {
      answering();
      req.resume();
      return sendError(res, 400, (e as Error).message);
    }
    handler.fetch(request)
      .then((response) => { answering(); return send(res, response); })
      .catch(() => sendError(res, 500, 'internal error'))
      .finally(() => {
        answering();
        // A refused body (413) may be unread: drain it so the connection is not reset mid-upload.
        req.resume();
      });
  });
  server.maxConnections = l.maxConnections;
  server.timeout = l.idleTimeoutMs;
  // With this listener Node no longer closes idle sockets itself: close all but those waiting on the model.
  server.on('timeout', (socket: Socket) => {
    if (!awaitingAnswer.has(socket)) socket.destroy();
  });
  return server;
}
