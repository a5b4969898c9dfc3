/**
 * `edge-mae serve`'s static server: cross-origin isolation headers on every response, content
 * types (application/wasm for compileStreaming), GET/HEAD only, and nothing outside the folder —
 * raw '..' segments, encoded ones, encoded slashes, symbolic links.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type StaticServer, startStaticServer } from '../src/cli/serve.js';
import { ROOT, runCli } from './helpers.js';

interface Got { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request with the path sent exactly as written (fetch would normalise '..'). */
function get(url: string, path: string, method = 'GET'): Promise<Got> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static server (edge-mae serve)', () => {
  let dir: string;
  let server: StaticServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-mae-serve-'));
    const root = join(dir, 'web');
    mkdirSync(join(root, 'model', 'kernels'), { recursive: true });
    mkdirSync(join(root, 'empty'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(root, 'main.js'), 'export {};');
    writeFileSync(join(root, 'style.css'), 'body{}');
    writeFileSync(join(root, 'model', 'index.json'), '{}');
    writeFileSync(join(root, 'model', 'kernels', 'kernels.wasm'), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    writeFileSync(join(root, 'model', 'model.safetensors'), new Uint8Array(16));
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    symlinkSync(join(dir, 'secret.txt'), join(root, 'link.txt'));
    server = await startStaticServer({ root, port: 0 });
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('listens on loopback and serves files with COOP/COEP and their content types', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const types: Record<string, string> = {
      '/': 'text/html; charset=utf-8',
      '/index.html': 'text/html; charset=utf-8',
      '/main.js': 'text/javascript; charset=utf-8',
      '/style.css': 'text/css; charset=utf-8',
      '/model/index.json': 'application/json; charset=utf-8',
      '/model/kernels/kernels.wasm': 'application/wasm',
      '/model/model.safetensors': 'application/octet-stream',
      '/model/index.json?v=1': 'application/json; charset=utf-8',
    };
    for (const [path, type] of Object.entries(types)) {
      const r = await get(server.url, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', path);
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
    }
    assert.equal((await get(server.url, '/model/kernels/kernels.wasm')).body.length, 8);
    const head = await get(server.url, '/main.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '10');
    assert.equal(head.body, '');
  });

  test('nothing outside the folder, no listings, GET and HEAD only', async () => {
    const refused = [
      '/../secret.txt', '/model/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/model/..%2F..%2Fsecret.txt',
      '/%2e%2e%5csecret.txt', '/..\\secret.txt', '/link.txt', '/index.html%00.png', '/%E0%A4%A',
    ];
    for (const path of refused) {
      const r = await get(server.url, path);
      assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
      assert.ok(!r.body.includes('secret'), `${path} leaked the file`);
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', `${path}: headers on errors too`);
    }
    assert.equal((await get(server.url, '/empty/')).status, 404, 'a folder without index.html is not listed');
    assert.equal((await get(server.url, '/nope.js')).status, 404);
    const post = await get(server.url, '/', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('the CLI prints the URL and serves until stopped', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'edge-mae.js'), 'serve', '--port', '0', '--dir', join(dir, 'web')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 20_000);
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (c: string) => {
          out += c;
          if (out.includes('\n')) { clearTimeout(timer); resolve(out.split('\n')[0]); }
        });
        child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited (${code}): ${out}`)); });
      });
      const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(line)?.[0];
      assert.ok(url, line);
      const r = await fetch(new URL('model/kernels/kernels.wasm', url));
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/wasm');
      assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    assert.equal(child.exitCode, 0, 'SIGTERM stops it cleanly');
  });

  test('without a built page it says how to build one', () => {
    const r = runCli(['serve', '--dir', join(dir, 'missing')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^edge-mae: no web page in .*missing.*npm run web:build/);
  });
});
