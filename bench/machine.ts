/**
 * What the numbers were measured on: CPU (from /proc/cpuinfo), cores, memory, load, Node/V8, the
 * package versions and the edge-mae commit; and what the other engines' WebAssembly binaries
 * contain (checked here, in a process without the relaxed-SIMD flag).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { relaxedSimdSupported } from '../src/simd-support.js';
import { packageRoot, packageVersion, simdOpcodeCounts } from './engines.js';

export interface MachineInfo {
  cpuModel: string;
  cpuFamily?: string;
  cpuModelNumber?: string;
  /** SIMD-relevant CPU flags. */
  cpuFlags: string[];
  cores: number;
  memGiB: number;
  loadavgStart: number[];
  loadavgEnd?: number[];
  node: string;
  v8: string;
  os: string;
  /** Short name for the results file. */
  slug: string;
}

export function describeMachine(): MachineInfo {
  let cpuinfo = '';
  try { cpuinfo = readFileSync('/proc/cpuinfo', 'utf8'); } catch { /* not Linux */ }
  const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  const cpuModel = field('model name') ?? os.cpus()[0]?.model ?? 'unknown CPU';
  const flags = (field('flags') ?? '').split(/\s+/);
  const cpuFamily = field('cpu family'), cpuModelNumber = field('model');
  const cores = os.cpus().length;
  const slug = `${cpuModel.toLowerCase().replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, '').trim().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}${cpuFamily ? `-f${cpuFamily}m${cpuModelNumber}` : ''}-${cores}c`;
  return {
    cpuModel, cpuFamily, cpuModelNumber,
    cpuFlags: flags.filter((f) => /^(sse4_2|avx|avx2|fma|avx512f|avx512vl|avx_vnni|neon|asimd)$/.test(f)),
    cores,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavgStart: os.loadavg(),
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    slug,
  };
}

export function packageVersions(root: string): Record<string, string> {
  const v: Record<string, string> = {};
  for (const p of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', 'onnxruntime-web', 'onnx-proto', 'assemblyscript', 'typescript']) {
    try { v[p] = packageVersion(p); } catch { v[p] = 'missing'; }
  }
  try {
    const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no', '--', 'src', 'codegen', 'assembly'], { encoding: 'utf8' }).trim() !== '';
    v['edge-mae'] = `${head}${dirty ? '+local changes' : ''}`;
  } catch {
    v['edge-mae'] = 'unknown';
  }
  return v;
}

/**
 * The engines' binaries: do they validate on this engine without relaxed SIMD (then they contain
 * no relaxed instructions), and how many f32x4 mul/add byte patterns they contain.
 */
export function engineBinaries(): Record<string, unknown> {
  const out: Record<string, unknown> = { relaxedSimdEnabledHere: relaxedSimdSupported() };
  const files: Array<[string, string]> = [
    ['@tensorflow/tfjs-backend-wasm', 'dist/tfjs-backend-wasm-simd.wasm'],
    ['@tensorflow/tfjs-backend-wasm', 'dist/tfjs-backend-wasm-threaded-simd.wasm'],
    ['@tensorflow/tfjs-backend-wasm', 'dist/tfjs-backend-wasm.wasm'],
    ['onnxruntime-web', 'dist/ort-wasm-simd-threaded.wasm'],
  ];
  for (const [pkg, rel] of files) {
    try {
      const path = join(packageRoot(pkg), rel);
      if (!existsSync(path)) continue;
      const bytes = new Uint8Array(readFileSync(path));
      out[`${pkg}/${rel}`] = { bytes: bytes.byteLength, validatesWithoutRelaxedSimd: WebAssembly.validate(bytes), ...simdOpcodeCounts(bytes) };
    } catch (e) {
      out[`${pkg}/${rel}`] = { error: (e as Error).message };
    }
  }
  return out;
}
