/**
 * `edge-mae build --tune`: for each Linear shape of a config, times candidate register tiles of
 * the generated GEMM on this machine (rows = the encoder's and decoder's token counts, medians
 * of repeated runs) and keeps the fastest. The choice is recorded beside the kernel cache and in
 * the manifest of every module built afterwards for the config.
 */
import { type MaeConfig, lenKeep, shapesOf } from '../src/config.js';
import { type GemmSpec, type Tiling, kernelName, linearShapes, linearSpec, panelCount, tileKey } from '../src/plan.js';
import type { SimdVariant } from '../src/simd-support.js';
import { emitModuleSource } from './generate.js';
import { compileAssemblyScript } from './compile.js';

/** Tiles tried: rows × columns (columns a multiple of 4). */
export const TILE_CANDIDATES: ReadonlyArray<{ mr: number; nr: number }> = [
  { mr: 1, nr: 16 }, { mr: 2, nr: 8 }, { mr: 2, nr: 16 }, { mr: 3, nr: 8 }, { mr: 4, nr: 8 }, { mr: 4, nr: 4 }, { mr: 6, nr: 8 },
];

export interface TuneResult {
  readonly tiles: Tiling;
  /** GFLOP/s per shape and candidate, and the machine it ran on. */
  readonly tuning: { readonly when: string; readonly rows: number[]; readonly gflops: Record<string, Record<string, number>> };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function tuneTiles(cfg: MaeConfig, simd: SimdVariant, log: (line: string) => void = () => {}): Promise<TuneResult> {
  const { numPatches } = shapesOf(cfg);
  const rows = [1 + lenKeep(numPatches, cfg.maskRatio), 1 + numPatches];
  const shapes = [...new Map(linearShapes(cfg).map(([n, k]) => [tileKey(k, n), [k, n] as const])).values()];
  const specs: GemmSpec[] = [];
  for (const [k, n] of shapes) for (const t of TILE_CANDIDATES) specs.push({ ...linearSpec(k, n), mr: t.mr, nr: t.nr });
  const { source } = emitModuleSource(specs, 'for tuning', { simd });
  const wasm = await compileAssemblyScript(source, simd);

  // One arena big enough for the largest shape: A [rows, k], packed B, bias, C.
  const bytesFor = (k: number, n: number): number => 4 * (Math.max(...rows) * k + panelCount(n, 16) * 16 * k + n + Math.max(...rows) * n) + 4096;
  const need = Math.max(...shapes.map(([k, n]) => bytesFor(k, n)));
  const memory = new WebAssembly.Memory({ initial: Math.ceil((65536 + need) / 65536), maximum: Math.ceil((65536 + need) / 65536) });
  const { instance } = await WebAssembly.instantiate(wasm as Uint8Array<ArrayBuffer>, { env: { memory } });
  const f32 = new Float32Array(memory.buffer);
  for (let i = 16384; i < f32.length; i++) f32[i] = ((i * 2654435761) >>> 0) / 2 ** 32 - 0.5;
  const fns = instance.exports as unknown as Record<string, (...a: number[]) => void>;

  const tiles: Record<string, { mr: number; nr: number }> = {};
  const gflops: Record<string, Record<string, number>> = {};
  for (const [k, n] of shapes) {
    const a = 65536;
    const b = a + 4 * Math.max(...rows) * k + 64;
    const bias = b + 4 * panelCount(n, 16) * 16 * k + 64;
    const c = bias + 4 * n + 64;
    const flops = rows.reduce((sum, m) => sum + 2 * m * k * n, 0);
    // Enough calls per sample for ~5 ms, so timer resolution does not matter.
    const calls = Math.max(1, Math.ceil(5e-3 * 20e9 / flops));
    const results: Record<string, number> = {};
    for (const t of TILE_CANDIDATES) {
      const fn = fns[kernelName({ ...linearSpec(k, n), mr: t.mr, nr: t.nr })];
      const panels = panelCount(n, t.nr);
      const run = (): void => { for (const m of rows) fn(a, b, bias, c, 0, m, 0, panels); };
      run();
      const samples: number[] = [];
      for (let r = 0; r < 7; r++) {
        const t0 = performance.now();
        for (let i = 0; i < calls; i++) run();
        samples.push((performance.now() - t0) / calls);
      }
      results[`${t.mr}x${t.nr}`] = +(flops / (median(samples) * 1e6)).toFixed(2);
    }
    const best = Object.entries(results).sort((x, y) => y[1] - x[1])[0][0];
    const [mr, nr] = best.split('x').map(Number);
    tiles[tileKey(k, n)] = { mr, nr };
    gflops[tileKey(k, n)] = results;
    log(`tune ${k}x${n}: ${Object.entries(results).map(([t, g]) => `${t} ${g}`).join(', ')} GFLOP/s → ${best}`);
  }
  return { tiles, tuning: { when: new Date().toISOString(), rows, gflops } };
}
