/** Node's http server in front of a fetch-style handler (src/serve/handler.ts). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Handler } from '../serve/handler.js';

function toRequest(req: IncomingMessage, origin: string): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) v.forEach((x) => headers.append(k, x));
    else if (v !== undefined) headers.set(k, v);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(new URL(req.url ?? '/', origin), {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    // Node's fetch needs this for a streamed request body.
    ...(hasBody ? { duplex: 'half' } : {}),
  } as RequestInit);
}

async function send(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((v, k) => res.setHeader(k, v));
  res.end(new Uint8Array(await response.arrayBuffer()));
}

/** An http.Server answering with the handler; call listen() on it. */
export function createHttpServer(handler: Handler): Server {
  return createServer((req, res) => {
    const origin = `http://${req.headers.host ?? '127.0.0.1'}`;
    handler.fetch(toRequest(req, origin)).then((r) => send(res, r)).catch(() => {
      res.statusCode = 500;
      res.end('{"error":"internal error"}');
    }).finally(() => {
      // A refused body (413) may be unread: drain it so the connection is not reset mid-upload.
      req.resume();
    });
  });
}
