/**
 * A program (src/program.ts) → WebGPU work, resolved once per program: each kernel step becomes one
 * compute dispatch of its WGSL pipeline (codegen/ops emitWgsl) with a bind group — binding 0 the
 * step's slice of the program's uniform buffer (u32 fields: activation element offsets, row counts),
 * bindings 1.. the step's weight and activation buffers — and its workgroup counts; each copy step
 * becomes a buffer-to-buffer copy between two passes. `split` (the WASM threads' share of panels,
 * heads or rows) does not apply: a dispatch covers the whole step. Programs here are for one image
 * (per-image steps of a count of one); the WGSL emitters read a step's operands in the kernel's
 * parameter order (src/kernel-params.ts).
 */
import { emitWgsl, type WgslKernel } from '../../codegen/ops/index.js';
import { KernelError } from '../errors.js';
import type { BufferName, KernelSpec } from '../plan.js';
import { type Arg, type Step, orderedOperands } from '../program.js';
import { roundUp } from './webgpu-layout.js';
import { BUFFER_USAGE, type GpuBindGroup, type GpuBuffer, type GpuCommandEncoder, type GpuComputePipeline, type GpuDevice } from './webgpu-types.js';

/** What a program is resolved against: the backend's device, buffers and pipeline cache. */
export interface GpuResources {
  readonly device: GpuDevice;
  buffer(name: BufferName): GpuBuffer;
  weight(name: string): GpuBuffer;
  /** Floats a weight holds (its buffer may be padded). */
  weightLength(name: string): number;
  pipeline(kernel: WgslKernel): Promise<GpuComputePipeline>;
}

interface Dispatch { readonly kernel: string; readonly pipeline: GpuComputePipeline; readonly group: GpuBindGroup; readonly workgroups: readonly [number, number, number] }
interface Copy { readonly src: GpuBuffer; readonly dst: GpuBuffer; readonly bytes: number }
type Op = { readonly pass: Dispatch[] } | { readonly copy: Copy };

export interface GpuProgram {
  /** Records the program's passes and copies. */
  record(encoder: GpuCommandEncoder): void;
  /** Dispatches per run. */
  readonly dispatches: number;
  dispose(): void;
}


/** Element offset a buffer argument starts at (weights are whole buffers). */
function offsetOf(a: Arg | undefined, kernel: string, i: number): number {
  if (a && 'buffer' in a) return (a.row ?? 0) * (a.width ?? 0);
  if (a && 'weight' in a) return 0;
  throw new KernelError(`program step ${kernel}: argument ${i} is not a buffer`);
}

function intOf(a: Arg | undefined, kernel: string, i: number): number {
  if (a && 'int' in a) return a.int;
  throw new KernelError(`program step ${kernel}: argument ${i} is not an integer`);
}

/** A GEMM whose residual is its own output (same buffer, same start): x = x + f(x). */
function residualInPlace(spec: KernelSpec, args: readonly Arg[]): boolean {
  if (spec.op !== 'gemm' || !spec.residual) return false;
  const c = args[3], r = args[4];
  return !!c && !!r && 'buffer' in c && 'buffer' in r && c.buffer === r.buffer && offsetOf(c, '', 3) === offsetOf(r, '', 4);
}

export async function compileGpuProgram(steps: readonly Step[], specs: ReadonlyMap<string, KernelSpec>, res: GpuResources): Promise<GpuProgram> {
  const { device } = res;
  const align = Math.max(16, device.limits.minUniformBufferOffsetAlignment ?? 256);
  const limit = device.limits.maxComputeWorkgroupsPerDimension ?? 65535;

  // Resolve every kernel step: its WGSL, its uniform values, its buffers.
  interface Resolved { kernel: WgslKernel; values: Uint32Array; buffers: GpuBuffer[]; workgroups: [number, number, number]; at: number }
  const resolved: Array<Resolved | Copy> = [];
  let uniformBytes = 0;
  for (const step of steps) {
    if ('copy' in step) {
      if ((step.copy.images?.count ?? 1) !== 1) throw new KernelError('program copy step: the WebGPU backend runs one image per program');
      const src = res.weight(step.copy.weight);
      resolved.push({ src, dst: res.buffer(step.copy.to), bytes: res.weightLength(step.copy.weight) * 4 });
      continue;
    }
    const spec = specs.get(step.kernel);
    if (!spec) throw new KernelError(`program refers to kernel '${step.kernel}', which the plan does not have`);
    if ((step.images?.count ?? 1) !== 1) throw new KernelError(`program step ${step.kernel}: the WebGPU backend runs one image per program`);
    const args = orderedOperands(step, spec).map(([, a]) => a);
    const kernel = emitWgsl(spec, { residualInPlace: residualInPlace(spec, args) });
    const named: Record<string, number> = {};
    // u32 uniforms: written through a Uint32Array (never a float view of them).
    const values = new Uint32Array(Math.max(1, kernel.params.length));
    kernel.params.forEach((p, i) => {
      const v = 'int' in p.from ? intOf(args[p.from.int], step.kernel, p.from.int) : offsetOf(args[p.from.offsetOf], step.kernel, p.from.offsetOf);
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new KernelError(`program step ${step.kernel}: ${p.name} = ${v} is not a u32`);
      values[i] = v;
      named[p.name] = v;
    });
    const buffers = kernel.buffers.map(({ arg, write }) => {
      const a = args[arg];
      const b = a && 'buffer' in a ? res.buffer(a.buffer) : a && 'weight' in a ? res.weight(a.weight) : undefined;
      if (!b) throw new KernelError(`program step ${step.kernel}: argument ${arg} is not a buffer`);
      return { b, write };
    });
    // WebGPU forbids a writable binding aliasing another binding in one dispatch.
    buffers.forEach((x, i) => buffers.forEach((y, j) => {
      if (i < j && x.b === y.b && (x.write || y.write)) throw new KernelError(`program step ${step.kernel}: one buffer bound twice, written through one of them`);
    }));
    const workgroups = kernel.workgroups(named);
    if (workgroups.some((n) => n > limit)) throw new KernelError(`program step ${step.kernel}: ${workgroups.join('×')} workgroups exceed the device's ${limit} per dimension`);
    resolved.push({ kernel, values, buffers: buffers.map((x) => x.b), workgroups, at: uniformBytes });
    uniformBytes += roundUp(values.byteLength, align);
  }

  const uniforms = device.createBuffer({ label: 'edge-mae program uniforms', size: Math.max(16, uniformBytes), usage: BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST });
  const ops: Op[] = [];
  let dispatches = 0;
  try {
    // Pipelines compile concurrently (cached by kernel name in the backend).
    const pipelines = await Promise.all(resolved.map((r) => ('kernel' in r ? res.pipeline(r.kernel) : null)));
    device.pushErrorScope('validation');
    resolved.forEach((r, i) => {
      if (!('kernel' in r)) {
        ops.push({ copy: r });
        return;
      }
      device.queue.writeBuffer(uniforms, r.at, r.values);
      const pipeline = pipelines[i]!;
      const group = device.createBindGroup({
        label: r.kernel.name,
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: uniforms, offset: r.at, size: roundUp(r.values.byteLength, 16) } },
          ...r.buffers.map((buffer, j) => ({ binding: j + 1, resource: { buffer } })),
        ],
      });
      const last = ops[ops.length - 1];
      const d: Dispatch = { kernel: r.kernel.name, pipeline, group, workgroups: r.workgroups };
      if (last && 'pass' in last) last.pass.push(d);
      else ops.push({ pass: [d] });
      dispatches++;
    });
    const err = await device.popErrorScope();
    if (err) throw new KernelError(`webgpu: a program's bindings were rejected: ${err.message.split('\n')[0]}`);
  } catch (e) {
    uniforms.destroy();
    throw e;
  }

  return {
    dispatches,
    record(encoder) {
      for (const op of ops) {
        if ('copy' in op) {
          encoder.copyBufferToBuffer(op.copy.src, 0, op.copy.dst, 0, op.copy.bytes);
          continue;
        }
        const pass = encoder.beginComputePass();
        for (const d of op.pass) {
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.group);
          pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
        }
        pass.end();
      }
    },
    dispose() {
      uniforms.destroy();
    },
  };
}
