/**
 * The Node HTTP adapter against hostile clients, over raw TCP (node:net, so nothing is normalised
 * on the way): malformed request lines, targets and headers get a 4xx and the server keeps
 * answering; a full queue gets 503 with Retry-After; connections beyond the bound are closed;
 * slow headers (slowloris) and half-sent bodies are cut off by the timeouts.
 * The server runs in a child process, so a request that kills it fails the test, not the runner.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_SAMPLES_DIR } from '../src/node/paths.js';
import { type ApiServer, startApiServer } from './support/handler-load.js';

const sample = new Uint8Array(readFileSync(join(DEFAULT_SAMPLES_DIR, readdirSync(DEFAULT_SAMPLES_DIR).filter((f) => f.endsWith('.png'))[0])));

interface Reply {
  /** The status of the first response, if one came. */
  status?: number;
  head: string;
  body: string;
  /** Whether the server closed the connection before `waitMs`. */
  closed: boolean;
  ms: number;
}

interface ExchangeOptions {
  /** Pause between chunks, ms. */
  gapMs?: number;
  /** Give up waiting for the server to close after this long, ms. */
  waitMs?: number;
  /** Once everything is written: 'end' half-closes, 'reset' sends a TCP RST, 'stay' (default) waits. */
  then?: 'end' | 'reset' | 'stay';
}

/** Writes `chunks` on a new connection and collects what comes back until the server closes it (or `waitMs`). */
function exchange(port: number, chunks: Array<string | Uint8Array>, o: ExchangeOptions = {}): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(received).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), head, body: split < 0 ? '' : text.slice(split + 4), closed, ms: performance.now() - t0 });
    };
    const timer = setTimeout(finish, o.waitMs ?? 3000);
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', () => undefined); // a reset from the server is an answer too: it is closed
    socket.on('close', () => { closed = true; finish(); });
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (closed || socket.destroyed) return;
        socket.write(c);
        if (o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
      }
      if (o.then === 'end') socket.end();
      else if (o.then === 'reset') socket.resetAndDestroy();
    });
  });
}

/** GET /healthz on a fresh connection (Connection: close, so no connection lingers). */
async function healthz(port: number): Promise<Reply> {
  return exchange(port, ['GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'], { then: 'stay' });
}

async function assertAlive(server: ApiServer, after: string): Promise<void> {
  assert.equal(server.child.exitCode, null, `the server process exited after ${after}`);
  const h = await healthz(server.port);
  assert.equal(h.status, 200, `/healthz after ${after}: ${h.head}`);
}

const post = (path: string, body: Uint8Array, extra = ''): Uint8Array =>
  Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n`, 'latin1'), body]);

describe('malformed requests', () => {
  let server: ApiServer;
  before(async () => { server = await startApiServer(); });
  after(() => server?.stop());

  // [what, bytes sent, the status a conforming server gives (RFC 9110/9112), and for the 400s this
  // adapter writes (Node's parser accepted the bytes), the JSON error it names].
  const close = 'Connection: close\r\n';
  const cases: Array<[string, string | Uint8Array, number, RegExp?]> = [
    ['a Host with an out-of-range port', `GET /healthz HTTP/1.1\r\nHost: x:99999\r\n${close}\r\n`, 400, /invalid Host header 'x:99999'/],
    ['a Host with an unclosed IPv6 bracket', `GET /healthz HTTP/1.1\r\nHost: [::1\r\n${close}\r\n`, 400, /invalid Host header/],
    ['a Host with a path', `GET /healthz HTTP/1.1\r\nHost: a/b\r\n${close}\r\n`, 400, /invalid Host header/],
    ['two Host headers', `GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n${close}\r\n`, 400, /2 Host headers/],
    ['an absolute-form target that is not a URL', `GET http://[::1/healthz HTTP/1.1\r\nHost: a\r\n${close}\r\n`, 400, /invalid request target/],
    ['the asterisk target on GET', `GET * HTTP/1.1\r\nHost: a\r\n${close}\r\n`, 400, /invalid request target/],
    ['a method fetch refuses (TRACE)', `TRACE /healthz HTTP/1.1\r\nHost: a\r\n${close}\r\n`, 400, /malformed request/],
    ['TRACK, which Node refuses itself', `TRACK /score HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n${close}\r\nabcde`, 400],
    ['a target of another scheme', `GET ftp://a/healthz HTTP/1.1\r\nHost: a\r\n${close}\r\n`, 400, /invalid request target 'ftp:\/\/a\/healthz'/],
    ['an unknown method', `BREW /healthz HTTP/1.1\r\nHost: a\r\n${close}\r\n`, 400],
    ['NUL in the request line', `GET /heal\0thz HTTP/1.1\r\nHost: a\r\n${close}\r\n`, 400],
    ['NUL in a header value', `GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n${close}\r\n`, 400],
    ['a header line without a colon', `GET /healthz HTTP/1.1\r\nHost: a\r\nnonsense\r\n${close}\r\n`, 400],
    ['binary garbage', Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37) % 256)), 400],
    ['a 64 KiB header', `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n${close}\r\n`, 431],
    ['a 64 KiB request target', `GET /${'a'.repeat(64 * 1024)} HTTP/1.1\r\nHost: a\r\n${close}\r\n`, 431],
    ['a non-numeric Content-Length', `POST /score HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n${close}\r\n`, 400],
    ['a negative Content-Length', `POST /score HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n${close}\r\n`, 400],
    ['two different Content-Lengths', `POST /score HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n${close}\r\nabcd`, 400],
    ['Content-Length with Transfer-Encoding', `POST /score HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n${close}\r\n0\r\n\r\n`, 400],
    ['a chunk size that is not hex', `POST /score HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n${close}\r\nzz\r\nabc\r\n0\r\n\r\n`, 400],
    ['a chunk longer than its size', `POST /score HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n${close}\r\n2\r\nabcdef\r\n0\r\n\r\n`, 400],
  ];

  for (const [what, bytes, status, error] of cases) {
    test(`${what}: ${status}, and the server keeps answering`, { timeout: 20_000 }, async () => {
      const r = await exchange(server.port, [typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes]);
      assert.equal(r.status, status, `${what}: ${r.head.split('\r\n')[0] || '(no response)'}`);
      if (error) {
        assert.match(r.head, /content-type: application\/json/i);
        assert.match((JSON.parse(r.body) as { error: string }).error, error);
      }
      await assertAlive(server, what);
    });
  }

  test('HTTP/0.9-style and unknown-version request lines do no harm', { timeout: 20_000 }, async () => {
    for (const line of ['GET /healthz\r\n\r\n', 'GET /healthz\r\nHost: a\r\n\r\n', `GET /healthz HTTP/9.9\r\nHost: a\r\n${close}\r\n`, `GET /healthz HTTP/1.1 extra\r\nHost: a\r\n${close}\r\n`]) {
      const r = await exchange(server.port, [line]);
      assert.ok(r.status === undefined || r.status < 500, `${JSON.stringify(line)}: ${r.head}`);
      await assertAlive(server, JSON.stringify(line));
    }
  });

  test('the target decides the route, not Host or an absolute-form authority', { timeout: 20_000 }, async () => {
    assert.equal((await exchange(server.port, [`GET http://elsewhere.example/healthz HTTP/1.1\r\nHost: elsewhere.example\r\n${close}\r\n`])).status, 200);
    const r = await exchange(server.port, [`GET //healthz/x HTTP/1.1\r\nHost: a\r\n${close}\r\n`]);
    assert.equal(r.status, 404, 'an origin-form path starting with // is a path, not an authority');
    assert.match((JSON.parse(r.body) as { error: string }).error, /no route \/\/healthz\/x/);
    await assertAlive(server, 'absolute-form targets');
  });

  test('clients that go away mid-upload (FIN or RST) leave the server answering', { timeout: 20_000 }, async () => {
    const head = `POST /score HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n`;
    for (const then of ['end', 'reset'] as const) {
      await exchange(server.port, [head, sample.subarray(0, 100)], { then, waitMs: 1000 });
      await exchange(server.port, [head.replace('Content-Length: 100000', 'Transfer-Encoding: chunked'), '64\r\n', sample.subarray(0, 50)], { then, waitMs: 1000 });
      await assertAlive(server, `a client that went away mid-upload (${then})`);
    }
    // Many at once, while a valid request is answered beside them.
    await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(server.port, [head, sample.subarray(0, 100)], { then: i % 2 ? 'reset' : 'end', waitMs: 1000 })));
    const ok = await exchange(server.port, [post('/score', sample)]);
    assert.equal(ok.status, 200, ok.head);
    await assertAlive(server, '20 clients that went away mid-upload');
  });
});

describe('overload', () => {
  let server: ApiServer;
  // Tiny bounds so each test runs in seconds; the defaults are the same mechanisms, larger.
  const limits = { headersTimeoutMs: 500, requestTimeoutMs: 4000, idleTimeoutMs: 4000, maxConnections: 4 };
  before(async () => {
    server = await startApiServer({ env: { HANDLER_LIMITS: JSON.stringify({ maxPendingRequests: 1, maxBodyBytes: 100_000 }), HTTP_LIMITS: JSON.stringify(limits) } });
  });
  after(() => server?.stop());

  test('beyond the queue limit a request gets 503 with Retry-After, then the held one completes', { timeout: 20_000 }, async () => {
    const whole = post('/score', sample);
    const split = whole.length - 100;
    // The held request is admitted and waits for the rest of its body.
    let sendRest!: () => void;
    const rest = new Promise<void>((r) => { sendRest = r; });
    const held = new Promise<Reply>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        const text = Buffer.concat(received).toString('latin1');
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), head: text, body: '', closed: true, ms: 0 });
      });
      socket.on('connect', () => { socket.write(whole.subarray(0, split)); void rest.then(() => socket.write(whole.subarray(split))); });
    });
    await new Promise((r) => setTimeout(r, 200));
    const busy = await exchange(server.port, [post('/encode', sample)]);
    assert.equal(busy.status, 503, busy.head);
    assert.match(busy.head, /\r\nretry-after: 1\r\n/i);
    assert.match((JSON.parse(busy.body) as { error: string }).error, /busy: 1 requests already admitted \(limit 1\)/);
    sendRest();
    assert.equal((await held).status, 200, 'the admitted request is answered');
    assert.equal((await exchange(server.port, [post('/encode', sample)])).status, 200, 'its slot is free again');
  });

  test('slow headers (slowloris, a byte every 100 ms) are cut off by the headers timeout', { timeout: 20_000 }, async () => {
    const bytes = [...'GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ' + 'a'.repeat(200)];
    const r = await exchange(server.port, bytes, { gapMs: 100, waitMs: 10_000 });
    assert.ok(r.closed && r.ms < 5000, `the connection was ${r.closed ? `closed after ${r.ms.toFixed(0)} ms` : 'still open after 10 s'}`);
    assert.equal(r.status, 408, r.head);
    await assertAlive(server, 'a slowloris');
  });

  test('a half-sent body is cut off: trickled (request timeout) or stalled (idle timeout)', { timeout: 30_000 }, async () => {
    const whole = post('/score', sample);
    // One after the other: the queue admits one request at a time.
    const trickled = await exchange(server.port, [whole.subarray(0, 150), ...Array.from({ length: 100 }, (_, i) => whole.subarray(150 + i, 151 + i))], { gapMs: 100, waitMs: 12_000 });
    const stalled = await exchange(server.port, [whole.subarray(0, 150)], { waitMs: 12_000 });
    for (const [what, r] of [['trickled', trickled], ['stalled', stalled]] as const) {
      assert.ok(r.closed && r.ms < 8000, `${what}: the connection was ${r.closed ? `closed after ${r.ms.toFixed(0)} ms` : 'still open after 12 s'}`);
      assert.ok(r.status === undefined || r.status === 408 || r.status === 400, `${what}: ${r.head}`);
    }
    await assertAlive(server, 'half-sent bodies');
  });

  test('a refused upload trickled on after its 413 is still cut off (the drained body does not hold the connection)', { timeout: 20_000 }, async () => {
    // The 413 comes from Content-Length before the body is read; the body, trickled afterwards, is drained.
    const size = 200_000; // over the 100,000-byte limit of this server
    const head = `POST /score HTTP/1.1\r\nHost: a\r\nContent-Type: image/png\r\nContent-Length: ${size}\r\n\r\n`;
    const r = await exchange(server.port, [head, ...Array.from({ length: 150 }, () => new Uint8Array(10))], { gapMs: 100, waitMs: 20_000 });
    assert.equal(r.status, 413, r.head);
    assert.ok(r.closed && r.ms < 8000, `the drained connection was ${r.closed ? `closed after ${r.ms.toFixed(0)} ms` : 'still open after 20 s'} (request timeout ${limits.requestTimeoutMs} ms)`);
    await assertAlive(server, 'a drained upload');
  });

  test(`connections beyond maxConnections (${limits.maxConnections}) are closed unanswered; a freed one is served`, { timeout: 20_000 }, async () => {
    // Hold every connection the server allows, each having had a request answered (so the server has counted it).
    const sockets = await Promise.all(Array.from({ length: limits.maxConnections }, () => new Promise<import('node:net').Socket>((resolve, reject) => {
      const s = connect(server.port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n'));
      s.once('data', () => resolve(s));
      s.once('error', reject);
    })));
    try {
      const extra = await healthz(server.port);
      assert.equal(extra.status, undefined, `a connection beyond the limit was answered: ${extra.head}`);
      assert.ok(extra.closed, 'and closed');
    } finally {
      sockets[0].destroy();
    }
    // The server sees the close shortly after: retry for up to 2 s.
    let freed: Reply | undefined;
    for (let i = 0; i < 20 && freed?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      freed = await healthz(server.port);
    }
    sockets.forEach((s) => s.destroy());
    assert.equal(freed?.status, 200, 'a connection is served once one is freed');
  });
});
