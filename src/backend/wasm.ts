/**
 * The WebAssembly backend: the generated kernel module instantiated on a memory the host sizes at
 * load (initial = maximum, so it never grows and typed-array views never detach), weights packed
 * into it once, and the encoder/decoder programs run as precompiled kernel calls — on this thread,
 * or split over N threads that share the memory (a module built with threads, one instance per
 * worker, panels and heads divided between them, barriers between steps).
 */
import type { MaeConfig } from '../config.js';
import { checkFitsWasm32, lenKeep, shapesOf } from '../config.js';
import { KernelError, MaskRatioError } from '../errors.js';
import { describeServedRatios } from '../mask-ratios.js';
import type { Manifest } from '../manifest.js';
import { ARENA_BASE, type KernelPlan, type KernelSpec, type MemoryLayout, type Tiling, defaultBatch, kernelName, largestBatch, layoutOf, linearShapes, memoryPages, planKernels } from '../plan.js';
import { kernelParams } from '../kernel-params.js';
import { packTasks } from '../pack.js';
import { type Step, decoderProgram, encoderProgram } from '../program.js';
import type { MaeWeights } from '../weights.js';
import type { MaeBackend } from './backend.js';
import { CTRL } from './barrier.js';
import { isWasmMemory } from '../wasm-brand.js';
import { type KernelExports, type RunProgram, compileProgram, specsOf } from './program-runner.js';

/** A compiled kernel module and its manifest. */
export interface KernelModule {
  readonly module: WebAssembly.Module;
  readonly manifest: Manifest;
  /**
   * For a module that defines and exports its memory (a WASI build, `edge-mae build --wasi`): an
   * instance of it the caller made and initialised under a WASI runtime (node:wasi: instantiate
   * with `wasi.getImportObject()`, then `wasi.initialize(instance)`). The host runs its kernels on
   * its exported memory. Absent: the host instantiates the module itself (see instantiateExported).
   */
  readonly instance?: WebAssembly.Instance;
}

/** Memory being made resident: `resident(from, to)` resolves once bytes [from, to) may be written. */
export interface Prefault {
  resident(from: number, to: number): Promise<void>;
  readonly done: Promise<void>;
}

/** Kernel threads other than the calling one (workers), started by the platform's entry point. */
export interface WorkerPool {
  /** Sends a message to every worker and resolves when each has acknowledged it. */
  broadcast(message: WorkerMessage): Promise<void>;
  terminate(): void;
}

/** What the host tells a kernel worker. */
export type WorkerMessage =
  | { type: 'program'; id: number; steps: Step[]; specs: Record<string, KernelSpec> }
  | { type: 'module'; module: WebAssembly.Module; encoderLengths: number[] };

/** What a kernel worker starts with. */
export interface WorkerInit {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly ctrl: Int32Array;
  readonly index: number;
  readonly threads: number;
  readonly config: MaeConfig;
  readonly tiling: Tiling;
  /** Images per program call the memory was laid out for. */
  readonly batch: number;
  /** The memory's layout when it is not the inference one (training: src/training/layout.ts). */
  readonly layout?: MemoryLayout;
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
  /** Threads (> 1 needs a module built with threads and a way to start workers). */
  readonly threads?: number;
  /**
   * The most images one program call runs (the activations are laid out for them at load; larger
   * batches are run in calls of this many). Default: as many as 64 MiB of activations hold, at most 64.
   */
  readonly batch?: number;
  readonly startWorkers?: (init: Omit<WorkerInit, 'index'>) => Promise<WorkerPool>;
  /**
   * Starts making the fresh memory resident (Node: the kernel faults its pages in on every core,
   * writing zeros; see src/node/prefault.ts), range by range in the order given, while the weights
   * are packed region by region as each becomes resident. Absent: the packing's writes fault them.
   */
  readonly prefault?: (memory: WebAssembly.Memory, ranges: ReadonlyArray<readonly [number, number]>) => Prefault;
  /**
   * Lends the weights' byte source the staging region while the weights are packed (undefined
   * after): a file source then reads each tensor straight into it (see src/node/file-source.ts).
   */
  readonly scratch?: (region: Uint8Array | undefined) => void;
}

/** Instantiates a kernel module on a memory and checks it fits the arena. */
export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort: () => { throw new KernelError('kernel module aborted'); },
    },
  });
  const exports = instance.exports as unknown as KernelExports;
  if (exports.heap_base() > ARENA_BASE) throw new KernelError(`kernel module's static data (${exports.heap_base()} bytes) overlaps the arena at ${ARENA_BASE}`);
  return exports;
}

/** instantiateKernels for a thread that may not wait for a promise (a worker blocked in Atomics.wait). */
export function instantiateKernelsSync(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new KernelError('kernel module aborted'); } } });
  return instance.exports as unknown as KernelExports;
}

/** Whether a kernel module imports its memory (the normal build) rather than exporting its own (a WASI build). */
export function importsMemory(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
}

/**
 * A module that defines and exports its memory (a WASI build): the caller's instance of it, or one
 * made here — its imports (WASI functions, which the kernels never call; the shim's abort would)
 * then fail as an abort, and its reactor start `_initialize` is called once, before any kernel.
 * Checks that the memory holds `pages` pages and the static data lies below the arena.
 */
export async function instantiateExported(module: WebAssembly.Module, pages: number, instance?: WebAssembly.Instance): Promise<{ exports: KernelExports; memory: WebAssembly.Memory }> {
  if (!instance) {
    const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
    for (const i of WebAssembly.Module.imports(module)) {
      if (i.kind !== 'function') throw new KernelError(`kernel module imports ${i.kind} ${i.module}.${i.name}, which this host cannot supply`);
      (imports[i.module] ??= {})[i.name] = () => { throw new KernelError(`kernel module aborted (called ${i.module}.${i.name})`); };
    }
    instance = await WebAssembly.instantiate(module, imports);
    const start = instance.exports._initialize;
    if (typeof start === 'function') start();
  }
  const memory = instance.exports.memory;
  if (!isWasmMemory(memory)) throw new KernelError('kernel module neither imports nor exports its memory');
  if (memory.buffer.byteLength < pages * 65536) throw new KernelError(`kernel module's memory (${memory.buffer.byteLength / 65536} pages) is smaller than this model needs (${pages} pages): build it for this config`);
  const exports = instance.exports as unknown as KernelExports;
  if (exports.heap_base() > ARENA_BASE) throw new KernelError(`kernel module's static data (${exports.heap_base()} bytes) overlaps the arena at ${ARENA_BASE}`);
  return { exports, memory };
}

export class WasmBackend implements MaeBackend {
  readonly kind = 'wasm';
  // Set in the constructor, or for a module that exports its memory (WASI) when it is instantiated.
  private memory!: WebAssembly.Memory;
  private f32!: Float32Array;
  private i32!: Int32Array;
  private ownMemory = false;
  private readonly layout: MemoryLayout;
  private readonly threads: number;
  private readonly tiling: Tiling;
  readonly maxBatch: number;
  private readonly ctrl?: Int32Array;
  private pool?: WorkerPool;
  private exports!: KernelExports;
  private plan!: KernelPlan;
  private specs: ReadonlyMap<string, KernelSpec> = new Map();
  private simd = 'simd128';
  private readonly programs = new Map<string, { id: number; run: RunProgram }>();
  private nextProgramId = 1;
  private disposed = false;

  private constructor(private readonly cfg: MaeConfig, private readonly opts: WasmBackendOptions) {
    this.threads = opts.threads ?? 1;
    if (this.threads > 1 && !opts.kernels.manifest.threads) throw new KernelError(`threads: ${this.threads} needs a kernel module built with threads`);
    // The module fixes the tiles, and so the packed weights' sizes; another module for more
    // lengths (extend) is built with the same tiling.
    this.tiling = opts.kernels.manifest.tiles ?? {};
    if (opts.batch !== undefined && !(Number.isInteger(opts.batch) && opts.batch >= 1)) throw new KernelError(`batch must be a positive integer, got ${opts.batch}`);
    let batch = opts.batch ?? defaultBatch(cfg, this.threads, this.tiling);
    if (!importsMemory(opts.kernels.module)) {
      // A WASI module brings a memory of fixed size: the batch is what it holds.
      const fits = largestBatch(cfg, opts.kernels.manifest.memory.pages, this.threads, this.tiling);
      if (opts.batch === undefined) batch = Math.max(1, Math.min(batch, fits));
      else if (opts.batch > fits) throw new KernelError(`batch: ${opts.batch} images per call need more memory than this WASI module's ${opts.kernels.manifest.memory.pages} pages hold (at most ${fits})`);
    }
    checkFitsWasm32(cfg, this.threads, 'config', batch, this.tiling);
    this.maxBatch = batch;
    this.layout = layoutOf(cfg, this.threads, this.tiling, batch);
    const pages = memoryPages(this.layout);
    if (importsMemory(opts.kernels.module)) this.useMemory(new WebAssembly.Memory({ initial: pages, maximum: pages, shared: this.threads > 1 }));
    if (this.threads > 1) this.ctrl = new Int32Array(new SharedArrayBuffer(CTRL.size * 4));
  }

  get description(): string {
    const pages = memoryPages(this.layout);
    // The variant selected, not what the engine makes of it: relaxed_madd may or may not fuse
    // (JavaScriptCore's results are bit-identical to SIMD128's).
    const simd = this.simd === 'relaxed' ? 'relaxed SIMD' : 'SIMD128';
    return `wasm: ${simd}, ${this.threads} thread${this.threads > 1 ? 's' : ''}, ${this.maxBatch} image${this.maxBatch > 1 ? 's' : ''} per call, ${(pages * 65536 / 2 ** 20).toFixed(1)} MiB memory${this.ownMemory ? ' (WASI module\'s own)' : ''}`;
  }

  private useMemory(memory: WebAssembly.Memory): void {
    this.memory = memory;
    this.f32 = new Float32Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
  }

  static async create(opts: WasmBackendOptions): Promise<WasmBackend> {
    const b = new WasmBackend(opts.config, opts);
    await b.instantiate(opts.kernels);
    const staging = ARENA_BASE + b.layout.buffers.staging.offset;
    const stagingEnd = staging + b.layout.buffers.staging.length * 4;
    // Staging first (every Linear passes through it; it overlays the first activations), then the
    // weights, then the rest. Below the arena lies the module's static data, already written.
    const prefault = opts.prefault?.(b.memory, [[staging, stagingEnd], [ARENA_BASE, staging], [stagingEnd, b.memory.buffer.byteLength]]);
    await prefault?.resident(staging, stagingEnd);
    const pack = (out: Float32Array, w: Float32Array, n: number, k: number, nr: number): void => {
      // Into the staging region (unless it was read there), then the module's pack_panels lays it
      // out (faster than JS).
      if (w.buffer !== b.memory.buffer || w.byteOffset !== staging) b.f32.set(w, staging >> 2);
      b.exports.pack_panels(staging, out.byteOffset, n, k, nr);
    };
    opts.scratch?.(new Uint8Array(b.memory.buffer, staging, stagingEnd - staging));
    try {
      for (const task of packTasks(opts.config, opts.weights, pack, b.tiling)) {
        const r = b.layout.weights[task.name];
        if (!r || r.length !== task.length) throw new KernelError(`memory layout has no region of ${task.length} floats for weight '${task.name}'`);
        const at = ARENA_BASE + r.offset;
        await prefault?.resident(at, at + r.length * 4);
        task.write(b.f32.subarray(at >> 2, (at >> 2) + r.length));
      }
    } finally {
      opts.scratch?.(undefined);
    }
    await prefault?.done;
    b.warmUp(staging);
    // Staging overlays the activations (plan.ts): leave them zero, as a fresh memory is.
    b.f32.fill(0, staging >> 2, stagingEnd >> 2);
    if (b.threads > 1) {
      if (!opts.startWorkers) throw new KernelError(`threads: ${b.threads} needs workers, and this platform entry cannot start them`);
      b.pool = await opts.startWorkers({ module: opts.kernels.module, memory: b.memory, ctrl: b.ctrl!, threads: b.threads, config: opts.config, tiling: b.tiling, batch: b.maxBatch });
    }
    return b;
  }

  /**
   * Runs each weight GEMM once over two rows of staging: engines with tiered compilation (V8:
   * Liftoff first, TurboFan once a function has run enough) then optimise the kernels while the
   * load finishes, instead of running the first forward's GEMMs in baseline code.
   */
  private warmUp(staging: number): void {
    const keep = lenKeep(shapesOf(this.cfg).numPatches, this.cfg.maskRatio);
    const steps = [...encoderProgram(this.cfg, this.plan, keep), ...decoderProgram(this.cfg, this.plan, keep)];
    const done = new Set<string>();
    // A: two rows at the start of staging; C: two rows after the widest A row.
    const c = staging + 4 * 2 * Math.max(...linearShapes(this.cfg).flat());
    for (const step of steps) {
      if (!('kernel' in step) || done.has(step.kernel)) continue;
      const spec = this.specs.get(step.kernel);
      if (spec?.op !== 'gemm' || !spec.packed) continue;
      done.add(step.kernel);
      const at = (name: string): number => {
        const a = step.args[name];
        return a && 'weight' in a ? ARENA_BASE + this.layout.weights[a.weight].offset : 0;
      };
      const value: Record<string, number> = { a: staging, b: at('b'), bias: at('bias'), c, res: c, m: 2 };
      this.exports[step.kernel](...kernelParams(spec).operands.map(([name]) => value[name]!), 0, step.parts!);
    }
  }

  private async instantiate(k: KernelModule): Promise<void> {
    if (k.manifest.memory.arenaBase !== ARENA_BASE) throw new KernelError(`kernel module ${k.manifest.configHash} was built for another memory layout`);
    let exports: KernelExports;
    if (importsMemory(k.module)) {
      if (k.instance) throw new KernelError(`kernel module ${k.manifest.configHash} imports its memory: pass the module alone (an instance is taken only for a module that exports its memory, edge-mae build --wasi)`);
      exports = await instantiateKernels(k.module, this.memory);
    } else {
      // A WASI build brings its memory; a second one (extend) could not see the packed weights.
      if (this.memory !== undefined) throw new KernelError(`kernel module ${k.manifest.configHash} exports its own memory, so it cannot replace the module the weights were packed into: build one with every encoder length needed`);
      const own = await instantiateExported(k.module, memoryPages(this.layout), k.instance);
      this.useMemory(own.memory);
      this.ownMemory = true;
      exports = own.exports;
    }
    if (JSON.stringify(k.manifest.tiles ?? {}) !== JSON.stringify(this.tiling)) throw new KernelError(`kernel module ${k.manifest.configHash} has other GEMM tiles than the weights were packed for`);
    const plan = planKernels(this.cfg, k.manifest.encoderLengths, this.tiling);
    const names = new Set(k.manifest.kernels.map((x) => x.name));
    for (const s of plan.specs) {
      if (s.op === 'gemm' && s.m !== null) continue;
      const entry = k.manifest.kernels.find((x) => JSON.stringify(x.spec) === JSON.stringify(s));
      if (!entry || !names.has(entry.name) || typeof exports[entry.name] !== 'function') {
        throw new KernelError(`kernel module ${k.manifest.configHash} lacks a kernel this config needs (${JSON.stringify(s)}); rebuild it (edge-mae build --force)`);
      }
    }
    this.exports = exports;
    this.plan = plan;
    this.specs = new Map(plan.specs.map((x) => [kernelName(x), x]));
    this.simd = k.manifest.simd;
    this.programs.clear();
    if (this.pool) await this.pool.broadcast({ type: 'module', module: k.module, encoderLengths: [...k.manifest.encoderLengths] });
  }

  private async program(kind: 'encoder' | 'decoder', keep: number, n: number): Promise<{ id: number; run: RunProgram }> {
    const key = `${kind}:${keep}:${n}`;
    let p = this.programs.get(key);
    if (p) return p;
    if (kind === 'encoder' && !this.plan.encoder.attention[1 + keep]) {
      if (!this.opts.extend) {
        const L = shapesOf(this.cfg).numPatches;
        throw new MaskRatioError(`this kernel module has no encoder for ${keep} kept patches of ${L}; it serves mask ratios ${describeServedRatios(this.plan.encoderLengths, L)}: build it with \`edge-mae build --mask-ratios …\` to serve others`);
      }
      await this.instantiate(await this.opts.extend([...this.plan.encoderLengths, 1 + keep]));
    }
    const steps = kind === 'encoder' ? encoderProgram(this.cfg, this.plan, keep, n) : decoderProgram(this.cfg, this.plan, keep, n);
    const id = this.nextProgramId++;
    if (this.pool) await this.pool.broadcast({ type: 'program', id, steps, specs: specsOf(steps, this.specs) });
    p = { id, run: compileProgram(steps, this.exports, this.layout, this.cfg, this.f32, { index: 0, count: this.threads, ctrl: this.ctrl }, this.specs) };
    this.programs.set(key, p);
    return p;
  }

  /** Runs a program here, and on the workers when threaded (they are woken through the control words). */
  private execute(p: { id: number; run: RunProgram }): void {
    if (this.ctrl) {
      Atomics.store(this.ctrl, CTRL.program, p.id);
      Atomics.add(this.ctrl, CTRL.job, 1);
      Atomics.notify(this.ctrl, CTRL.job);
    }
    p.run();
  }

  private write(buffer: 'pixels' | 'ids' | 'latent', data: Float32Array | Int32Array): void {
    const r = this.layout.buffers[buffer];
    if (data.length > r.length) throw new KernelError(`${buffer}: ${data.length} values exceed the buffer's ${r.length}`);
    (data instanceof Int32Array ? this.i32 : this.f32).set(data, (ARENA_BASE + r.offset) >> 2);
  }

  private read(buffer: 'latent', from: number, length: number): Float32Array {
    const at = ((ARENA_BASE + this.layout.buffers[buffer].offset) >> 2) + from;
    return this.f32.slice(at, at + length);
  }

  private checkBatch(n: number): void {
    if (!(Number.isInteger(n) && n >= 1 && n <= this.maxBatch)) throw new KernelError(`a call runs 1 to ${this.maxBatch} images (the batch the memory was laid out for), got ${n}`);
  }

  async encode(pixels: Float32Array, ids: Int32Array, n: number): Promise<Float32Array> {
    this.checkLive();
    this.checkBatch(n);
    const keep = ids.length / n;
    const p = await this.program('encoder', keep, n);
    this.write('pixels', pixels);
    this.write('ids', ids);
    this.execute(p);
    return this.read('latent', 0, n * (1 + keep) * this.cfg.hiddenSize);
  }

  async decode(latent: Float32Array, idsRestore: Int32Array, keep: number, n: number): Promise<Float32Array> {
    this.checkLive();
    this.checkBatch(n);
    const p = await this.program('decoder', keep, n);
    this.write('latent', latent);
    this.write('ids', idsRestore);
    this.execute(p);
    // pred [n, 1 + L, P] → [n, L, P]: each image's cls row dropped.
    const { numPatches: L, patchDim: P } = shapesOf(this.cfg);
    const out = new Float32Array(n * L * P);
    const at = (ARENA_BASE + this.layout.buffers.pred.offset) >> 2;
    for (let i = 0; i < n; i++) out.set(this.f32.subarray(at + (i * (1 + L) + 1) * P, at + (i + 1) * (1 + L) * P), i * L * P);
    return out;
  }

  private checkLive(): void {
    if (this.disposed) throw new KernelError('the model was disposed');
  }

  dispose(): void {
    this.disposed = true;
    this.programs.clear();
    this.pool?.terminate();
    this.pool = undefined;
  }
}
