/**
 * WebGPU test support: whether this process has an adapter, and the rule for when it has none —
 * under CI (CI=true, where .ci/run installs SwiftShader and sets the Vulkan loader variables) the
 * WebGPU tests fail; elsewhere they skip, saying why and how to enable them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import '../src/node/index.js'; // registers Node's GPU (the webgpu package) behind defaultGpu
import { defaultGpu } from '../src/backend/webgpu-device.js';

/** SwiftShader's Vulkan driver from Debian's chromium package (test machines; the package hard-codes no path). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Time limit of one WebGPU test: CPU Vulkan drivers have no watchdog. */
export const GPU_TEST_TIMEOUT_MS = 300_000;

export const UNDER_CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

/**
 * Environment for a child process that should see SwiftShader: this process's, plus Debian's
 * SwiftShader when VK_ICD_FILENAMES is unset and the driver is installed.
 */
export function gpuChildEnv(): Record<string, string> {
  if (process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER_ICD)) return {};
  const lib = '/usr/lib/chromium';
  return { VK_ICD_FILENAMES: SWIFTSHADER_ICD, LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ? `${lib}:${process.env.LD_LIBRARY_PATH}` : lib };
}

export type Probe = { ok: true; adapter: string } | { ok: false; reason: string };

let probe: Promise<Probe> | undefined;

/** Whether this process can get a WebGPU adapter (asked once). */
export function probeWebGpu(): Promise<Probe> {
  probe ??= (async (): Promise<Probe> => {
    const gpu = await defaultGpu().catch((e: Error) => `webgpu: ${e.message}`);
    if (typeof gpu === 'string') return { ok: false, reason: gpu };
    const adapter = await gpu.requestAdapter().catch(() => null);
    if (!adapter) return { ok: false, reason: 'webgpu: no adapter' };
    return { ok: true, adapter: adapter.info?.description || adapter.info?.vendor || 'adapter' };
  })();
  return probe;
}

const HOW = `install Debian's chromium package and run with VK_ICD_FILENAMES=${SWIFTSHADER_ICD} LD_LIBRARY_PATH=/usr/lib/chromium (as .ci/run does)`;

/**
 * True when WebGPU is here. Otherwise: under CI the test fails; elsewhere it is skipped with the reason.
 */
export async function needWebGpu(t: TestContext): Promise<boolean> {
  const p = await probeWebGpu();
  if (p.ok) return true;
  if (UNDER_CI) assert.fail(`WebGPU is required under CI, and there is none: ${p.reason}; ${HOW}`);
  t.skip(`${p.reason} — ${HOW}`);
  return false;
}
