/**
 * The WebAssembly backend: the generated kernel module instantiated on a memory the host sizes at
 * load (initial = maximum, so it never grows and typed-array views never detach), weights packed
 * into it once, and the encoder/decoder programs run as precomputed kernel calls.
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../config.js';
import { KernelError } from '../errors.js';
import type { Manifest } from '../manifest.js';
import { ARENA_BASE, type KernelPlan, type MemoryLayout, layoutOf, memoryPages, planKernels } from '../plan.js';
import { packWeights } from '../pack.js';
import { type Step, decoderProgram, encoderProgram } from '../program.js';
import type { MaeWeights } from '../weights.js';
import type { MaeBackend } from './backend.js';

/** A compiled kernel module and its manifest. */
export interface KernelModule {
  readonly module: WebAssembly.Module;
  readonly manifest: Manifest;
}

export interface WasmBackendOptions {
  readonly config: MaeConfig;
  readonly kernels: KernelModule;
  readonly weights: MaeWeights;
  /**
   * Supplies a module that also has attention kernels for more encoder lengths (a mask ratio the
   * module was not built for). Absent at the edge, where modules are precompiled.
   */
  readonly extend?: (encoderLengths: number[]) => Promise<KernelModule>;
}

type Exports = Record<string, (...args: number[]) => unknown> & { heap_base(): number };
type Call = () => void;

export class WasmBackend implements MaeBackend {
  readonly kind = 'wasm';
  private memoryNote: string;
  private simd = 'simd128';

  get description(): string {
    return `wasm: ${this.simd === 'relaxed' ? 'relaxed SIMD (FMA)' : 'SIMD128'}, ${this.memoryNote}`;
  }
  private readonly memory: WebAssembly.Memory;
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;
  private readonly layout: MemoryLayout;
  private exports!: Exports;
  private plan!: KernelPlan;
  private readonly programs = new Map<string, Call[]>();
  private disposed = false;

  private constructor(private readonly cfg: MaeConfig, private readonly extend: WasmBackendOptions['extend']) {
    this.layout = layoutOf(cfg);
    const pages = memoryPages(this.layout);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.f32 = new Float32Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.memoryNote = `1 thread, ${(pages * 65536 / 2 ** 20).toFixed(1)} MiB memory`;
  }

  static async create(opts: WasmBackendOptions): Promise<WasmBackend> {
    const b = new WasmBackend(opts.config, opts.extend);
    await b.instantiate(opts.kernels);
    packWeights(opts.config, opts.weights, (name, length) => {
      const r = b.layout.weights[name];
      if (!r || r.length !== length) throw new KernelError(`memory layout has no region of ${length} floats for weight '${name}'`);
      return b.f32.subarray(b.f32Index(r.offset), b.f32Index(r.offset) + length);
    });
    return b;
  }

  private async instantiate(k: KernelModule): Promise<void> {
    if (k.manifest.memory.arenaBase !== ARENA_BASE || k.manifest.memory.pages !== memoryPages(this.layout)) {
      throw new KernelError(`kernel module ${k.manifest.configHash} was built for another memory layout than this config's`);
    }
    const instance = await WebAssembly.instantiate(k.module, {
      env: {
        memory: this.memory,
        abort: () => { throw new KernelError('kernel module aborted'); },
      },
    });
    const exports = instance.exports as unknown as Exports;
    if (exports.heap_base() > ARENA_BASE) throw new KernelError(`kernel module's static data (${exports.heap_base()} bytes) overlaps the arena at ${ARENA_BASE}`);
    const plan = planKernels(this.cfg, k.manifest.encoderLengths);
    for (const s of plan.specs) {
      if (s.op === 'gemm' && s.m !== null) continue;
      const name = k.manifest.kernels.find((x) => x.spec === s || JSON.stringify(x.spec) === JSON.stringify(s))?.name;
      if (!name || typeof exports[name] !== 'function') throw new KernelError(`kernel module ${k.manifest.configHash} lacks a kernel this config needs (${JSON.stringify(s)})`);
    }
    this.exports = exports;
    this.plan = plan;
    this.simd = k.manifest.simd;
    this.programs.clear();
  }

  private f32Index(byteOffset: number): number {
    return (ARENA_BASE + byteOffset) >> 2;
  }

  /** Turns a program into closures over resolved pointers: no lookups per call. */
  private compile(steps: Step[]): Call[] {
    const ptr = (byteOffset: number): number => ARENA_BASE + byteOffset;
    return steps.map((step): Call => {
      if ('copy' in step) {
        const src = this.layout.weights[step.copy.weight];
        const dst = this.f32Index(this.layout.buffers[step.copy.to].offset);
        const from = this.f32Index(src.offset);
        return () => this.f32.copyWithin(dst, from, from + src.length);
      }
      const fn = this.exports[step.kernel];
      if (typeof fn !== 'function') throw new KernelError(`kernel '${step.kernel}' is not exported by the module`);
      const args = step.args.map((a) => {
        if ('buffer' in a) return ptr(this.layout.buffers[a.buffer].offset + (a.row ?? 0) * (a.width ?? 0) * 4);
        if ('weight' in a) {
          const r = this.layout.weights[a.weight];
          if (!r) throw new KernelError(`program refers to unknown weight '${a.weight}'`);
          return ptr(r.offset);
        }
        if ('int' in a) return a.int;
        return 0;
      });
      return () => { fn(...args); };
    });
  }

  private async program(kind: 'encoder' | 'decoder', keep: number): Promise<Call[]> {
    const key = `${kind}:${keep}`;
    let p = this.programs.get(key);
    if (p) return p;
    if (kind === 'encoder' && !this.plan.encoder.attention[1 + keep]) {
      if (!this.extend) throw new KernelError(`this kernel module has no encoder attention for ${keep} kept patches (built for ${this.plan.encoderLengths.map((t) => t - 1).join(', ')}); build one for this mask ratio`);
      await this.instantiate(await this.extend([...this.plan.encoderLengths, 1 + keep]));
    }
    p = this.compile(kind === 'encoder' ? encoderProgram(this.cfg, this.plan, keep) : decoderProgram(this.cfg, this.plan, keep));
    this.programs.set(key, p);
    return p;
  }

  private write(buffer: 'pixels' | 'ids' | 'latent', data: Float32Array | Int32Array): void {
    const r = this.layout.buffers[buffer];
    if (data.length > r.length) throw new KernelError(`${buffer}: ${data.length} values exceed the buffer's ${r.length}`);
    (data instanceof Int32Array ? this.i32 : this.f32).set(data, this.f32Index(r.offset));
  }

  private read(buffer: 'latent' | 'pred', from: number, length: number): Float32Array {
    const at = this.f32Index(this.layout.buffers[buffer].offset) + from;
    return this.f32.slice(at, at + length);
  }

  async encode(pixels: Float32Array, ids: Int32Array): Promise<Float32Array> {
    this.checkLive();
    const calls = await this.program('encoder', ids.length);
    this.write('pixels', pixels);
    this.write('ids', ids);
    for (const c of calls) c();
    return this.read('latent', 0, (1 + ids.length) * this.cfg.hiddenSize);
  }

  async decode(latent: Float32Array, idsRestore: Int32Array, keep: number): Promise<Float32Array> {
    this.checkLive();
    const calls = await this.program('decoder', keep);
    this.write('latent', latent);
    this.write('ids', idsRestore);
    for (const c of calls) c();
    const { numPatches, patchDim } = shapesOf(this.cfg);
    return this.read('pred', patchDim, numPatches * patchDim);
  }

  private checkLive(): void {
    if (this.disposed) throw new KernelError('the model was disposed');
  }

  dispose(): void {
    this.disposed = true;
    this.programs.clear();
  }
}
