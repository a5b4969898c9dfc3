/** The manifest written beside each compiled kernel module: what it was built for and what it holds. */
import type { KernelSpec, MemoryLayout, Tiling } from './plan.js';
import type { SimdVariant } from './simd-support.js';

export interface Manifest {
  readonly format: 'edge-mae-kernels/1';
  /** Hash of the config's shape fields, the encoder lengths and the generator version. */
  readonly configHash: string;
  readonly generatorVersion: number;
  /** The config in Hugging Face field names. */
  readonly config: Record<string, unknown>;
  readonly encoderLengths: number[];
  /** simd128, or relaxed (GEMMs on f32x4.relaxed_madd). */
  readonly simd: SimdVariant;
  /** GEMM tile of every Linear shape (`${k}x${n}`); tuned ones come from `edge-mae build --tune`. */
  readonly tiles: Tiling;
  /** How the tiles were chosen: 'default' heuristics, or timings on a machine. */
  readonly tuning?: unknown;
  /** Built for shared memory and threads (one instance per kernel thread). */
  readonly threads: boolean;
  /**
   * A WASI build (`edge-mae build --wasi`): imports only `wasi_snapshot_preview1`, defines and
   * exports its memory (`memory.pages`, never grows) and is a reactor (`_initialize`). Absent otherwise.
   */
  readonly wasi?: boolean;
  readonly kernels: Array<{ name: string; exported: boolean; spec: KernelSpec }>;
  readonly memory: { arenaBase: number; pages: number; layout: MemoryLayout };
  /** SHA-256 of the generated AssemblyScript source. */
  readonly sourceSha256: string;
}
