/**
 * The built web page in Debian's Chromium, as test/browser.test.ts drives it: playwright-core (no
 * browser download), the page built (`web:build`) into a temporary folder and served cross-origin
 * isolated by `edge-mae serve`'s server on a loopback port. For test/browser.test.ts,
 * test/browser-train.test.ts and bench/browser-train.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { type StaticServer, startStaticServer } from '../../src/cli/serve.js';
import { buildWeb } from '../../scripts/build-web.js';

export const CHROMIUM = process.env.EDGE_MAE_CHROMIUM ?? '/usr/lib/chromium/chromium';
export const IN_CI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());
/** Why Chromium cannot run here, or undefined. */
export const chromiumMissing = existsSync(CHROMIUM) ? undefined : `Chromium not found at ${CHROMIUM} (Debian: apt-get install chromium; or set EDGE_MAE_CHROMIUM)`;

/** Chromium flags for headless runs in containers (see shared notes: webgpu.md). */
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--disable-dev-shm-usage',
];

export interface OpenPage {
  /** Temporary folder (the build, the profile, downloads): removed by close(). */
  dir: string;
  server: StaticServer;
  context: BrowserContext;
  page: Page;
  /** Uncaught errors and console errors of the page. */
  errors: string[];
  close(): Promise<void>;
}

/** Builds the page, serves it, starts Chromium and opens the page (not yet navigated: page.goto(server.url)). */
export async function openBuiltPage(opts: { stepMs: number; viewport?: { width: number; height: number }; check?: boolean }): Promise<OpenPage> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-mae-browser-'));
  let server: StaticServer | undefined;
  let context: BrowserContext | undefined;
  const close = async (): Promise<void> => {
    await context?.close().catch(() => {});
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await buildWeb({ out: join(dir, 'web'), check: opts.check ?? false });
    server = await startStaticServer({ root: join(dir, 'web'), port: 0, host: '127.0.0.1' });
    const { chromium } = await import('playwright-core');
    mkdirSync(join(dir, 'runtime'), { mode: 0o700 });
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: opts.stepMs, acceptDownloads: true,
      env: { ...process.env, XDG_RUNTIME_DIR: join(dir, 'runtime') } as Record<string, string>,
      viewport: opts.viewport ?? { width: 1100, height: 1000 },
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(opts.stepMs);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    return { dir, server, context, page, errors, close };
  } catch (e) {
    await close();
    throw e;
  }
}
