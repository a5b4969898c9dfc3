/**
 * The WebGPU backend: the whole encoder and decoder on the device. At load, every weight is packed
 * (src/pack.ts, WebGPU tiling: padded Wᵀ, see webgpu-layout.ts) straight into its own buffer's
 * mapped memory and uploaded once, and one buffer per activation is allocated. A call writes the
 * image's inputs (pixels and ids, or latent and ids_restore), records the program's dispatches
 * (webgpu-program.ts) and one copy of the output into a readback buffer, submits once and maps the
 * readback buffer: one upload and one readback per call, activations never leave the device in
 * between. Programs (pipelines, bind groups, uniforms) are built once per kept-patch count and
 * reused, as are all buffers. Calls run one at a time. dispose() destroys the device, and with it
 * every buffer.
 */
import type { MaeConfig } from '../config.js';
import { lenKeep, shapesOf } from '../config.js';
import { KernelError } from '../errors.js';
import { packWeights } from '../pack.js';
import { type BufferName, type KernelPlan, type KernelSpec, kernelName, planKernels } from '../plan.js';
import { decoderProgram, encoderProgram } from '../program.js';
import type { MaeWeights } from '../weights.js';
import type { MaeBackend } from './backend.js';
import type { WgslKernel } from '../../codegen/ops/index.js';
import { MiB } from './webgpu-device.js';
import { bufferBytes, gpuActivationSizes, gpuTiling } from './webgpu-layout.js';
import { type GpuProgram, compileGpuProgram } from './webgpu-program.js';
import { BUFFER_USAGE, MAP_MODE_READ, type GpuBuffer, type GpuComputePipeline, type GpuDevice } from './webgpu-types.js';

export interface WebGpuBackendOptions {
  readonly config: MaeConfig;
  readonly weights: MaeWeights;
  readonly device: GpuDevice;
  /** The adapter, in words (webgpu-device.ts). */
  readonly adapter: string;
  /**
   * Longest wait for one call's GPU work (ms). CPU Vulkan drivers have no watchdog: a runaway
   * shader would otherwise hang the caller. Default 300 s.
   */
  readonly timeoutMs?: number;
}


/** Rejects after `ms` with a KernelError naming `what` (the GPU work itself cannot be cancelled). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KernelError(`webgpu: ${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class WebGpuBackend implements MaeBackend {
  readonly kind = 'webgpu';
  private readonly device: GpuDevice;
  private readonly weightBuffers = new Map<string, { buffer: GpuBuffer; length: number }>();
  private readonly buffers = new Map<BufferName, GpuBuffer>();
  private readonly readback: GpuBuffer;
  private readonly pipelines = new Map<string, Promise<GpuComputePipeline>>();
  private readonly programs = new Map<string, Promise<GpuProgram>>();
  private readonly timeoutMs: number;
  private bytes = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private lost?: string;
  private disposed = false;

  private constructor(private readonly cfg: MaeConfig, private readonly opts: WebGpuBackendOptions) {
    this.device = opts.device;
    this.timeoutMs = opts.timeoutMs ?? 300_000;
    void this.device.lost.then((info) => { this.lost = info.message || info.reason || 'device lost'; });
    const usage = BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST | BUFFER_USAGE.COPY_SRC;
    for (const [name, floats] of Object.entries(gpuActivationSizes(cfg)) as Array<[BufferName, number]>) {
      this.buffers.set(name, this.create(name, bufferBytes(floats), usage));
    }
    const { numPatches, patchDim } = shapesOf(cfg);
    this.readback = this.create('readback', bufferBytes(Math.max((1 + numPatches) * cfg.hiddenSize, (1 + numPatches) * patchDim)), BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST);
  }

  private create(label: string, size: number, usage: number, mappedAtCreation = false): GpuBuffer {
    this.bytes += size;
    return this.device.createBuffer({ label, size, usage, mappedAtCreation });
  }

  get description(): string {
    return `webgpu: ${this.opts.adapter}, generated WGSL kernels, ${MiB(this.bytes)} of buffers`;
  }

  /** Uploads the weights and builds the programs for the config's mask ratio and for encode (all patches). */
  static async create(opts: WebGpuBackendOptions): Promise<WebGpuBackend> {
    const b = new WebGpuBackend(opts.config, opts);
    try {
      b.device.pushErrorScope('out-of-memory');
      b.device.pushErrorScope('validation');
      b.upload(opts.weights);
      const validation = await b.device.popErrorScope();
      const oom = await b.device.popErrorScope();
      if (validation || oom) throw new KernelError(`webgpu: uploading the weights failed: ${(validation ?? oom)!.message.split('\n')[0]}`);
      const L = shapesOf(opts.config).numPatches;
      const keep = lenKeep(L, opts.config.maskRatio);
      await Promise.all([b.program('encoder', keep), b.program('encoder', L), b.program('decoder', keep)]);
    } catch (e) {
      b.dispose();
      throw e;
    }
    return b;
  }

  /** Each weight packed straight into its buffer's mapped memory, unmapped once written. */
  private upload(weights: MaeWeights): void {
    let mapped: GpuBuffer | undefined;
    packWeights(this.cfg, weights, (name, length) => {
      mapped?.unmap();
      const buffer = this.create(name, bufferBytes(length), BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC, true);
      this.weightBuffers.set(name, { buffer, length });
      mapped = buffer;
      return new Float32Array(buffer.getMappedRange(), 0, length);
    }, undefined, gpuTiling(this.cfg));
    mapped?.unmap();
  }

  private pipeline(k: WgslKernel): Promise<GpuComputePipeline> {
    let p = this.pipelines.get(k.name);
    if (!p) {
      p = (async () => {
        const module = this.device.createShaderModule({ label: k.name, code: k.code });
        try {
          return await this.device.createComputePipelineAsync({ label: k.name, layout: 'auto', compute: { module, entryPoint: 'main' } });
        } catch (e) {
          const info = await module.getCompilationInfo?.().catch(() => undefined);
          const first = info?.messages.find((m) => m.type === 'error');
          const why = first ? `line ${first.lineNum}: ${first.message}` : (e as Error).message.split('\n')[0];
          throw new KernelError(`webgpu: kernel ${k.name} did not compile: ${why}`);
        }
      })();
      this.pipelines.set(k.name, p);
    }
    return p;
  }

  private program(kind: 'encoder' | 'decoder', keep: number): Promise<GpuProgram> {
    const key = `${kind}:${keep}`;
    let p = this.programs.get(key);
    if (!p) {
      // WGSL is generated at run time: any kept-patch count gets its attention kernel here.
      const plan: KernelPlan = planKernels(this.cfg, [1 + keep], gpuTiling(this.cfg));
      const specs = new Map<string, KernelSpec>(plan.specs.map((s) => [kernelName(s), s]));
      const steps = kind === 'encoder' ? encoderProgram(this.cfg, plan, keep) : decoderProgram(this.cfg, plan, keep);
      p = compileGpuProgram(steps, specs, {
        device: this.device,
        buffer: (name) => {
          const b = this.buffers.get(name);
          if (!b) throw new KernelError(`webgpu: no device buffer '${name}'`);
          return b;
        },
        weight: (name) => this.weightEntry(name).buffer,
        weightLength: (name) => this.weightEntry(name).length,
        pipeline: (k) => this.pipeline(k),
      });
      this.programs.set(key, p);
      p.catch(() => this.programs.delete(key));
    }
    return p;
  }

  private weightEntry(name: string): { buffer: GpuBuffer; length: number } {
    const w = this.weightBuffers.get(name);
    if (!w) throw new KernelError(`program refers to unknown weight '${name}'`);
    return w;
  }

  /** One call at a time: the calls share the activation and readback buffers. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private checkLive(): void {
    if (this.disposed) throw new KernelError('the model was disposed');
    if (this.lost) throw new KernelError(`webgpu: the device was lost (${this.lost})`);
  }

  /** Writes the inputs, runs the program, reads `length` floats of `out` from element `from`. */
  private async run(p: GpuProgram, inputs: Array<[BufferName, Float32Array | Int32Array]>, out: BufferName, from: number, length: number): Promise<Float32Array> {
    this.checkLive();
    const { device } = this;
    for (const [name, data] of inputs) {
      const b = this.buffers.get(name)!;
      if (data.byteLength > b.size) throw new KernelError(`${name}: ${data.length} values exceed the device buffer`);
      device.queue.writeBuffer(b, 0, data);
    }
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: 'edge-mae' });
    p.record(encoder);
    encoder.copyBufferToBuffer(this.buffers.get(out)!, from * 4, this.readback, 0, length * 4);
    device.queue.submit([encoder.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new KernelError(`webgpu: the device rejected the work: ${err.message.split('\n')[0]}`);
    await withTimeout(this.readback.mapAsync(MAP_MODE_READ, 0, length * 4), this.timeoutMs, `a ${p.dispatches}-dispatch program`);
    try {
      return new Float32Array(this.readback.getMappedRange(0, length * 4).slice(0));
    } finally {
      this.readback.unmap();
    }
  }

  /** One image per call: the device buffers hold one image's activations. */
  readonly maxBatch = 1;

  encode(pixels: Float32Array, ids: Int32Array, n: number): Promise<Float32Array> {
    if (n !== 1) throw new KernelError(`webgpu: one image per call, got ${n}`);
    return this.serial(async () => {
      this.checkLive();
      const p = await this.program('encoder', ids.length);
      return this.run(p, [['pixels', pixels], ['ids', ids]], 'latent', 0, (1 + ids.length) * this.cfg.hiddenSize);
    });
  }

  decode(latent: Float32Array, idsRestore: Int32Array, keep: number, n: number): Promise<Float32Array> {
    if (n !== 1) throw new KernelError(`webgpu: one image per call, got ${n}`);
    return this.serial(async () => {
      this.checkLive();
      const p = await this.program('decoder', keep);
      const { numPatches, patchDim } = shapesOf(this.cfg);
      return this.run(p, [['latent', latent], ['ids', idsRestore]], 'pred', patchDim, numPatches * patchDim);
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.programs.values()) p.then((x) => x.dispose(), () => undefined);
    this.programs.clear();
    this.pipelines.clear();
    // Destroying the device releases every buffer made on it.
    this.device.destroy();
  }
}
