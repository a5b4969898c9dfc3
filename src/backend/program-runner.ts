/**
 * Programs (src/program.ts) → calls on one kernel instance for one thread of `count`: each step's
 * named operands bound to the kernel's parameters (src/kernel-params.ts) and resolved to pointers
 * once, its work divided as its split says (range parts, GEMM rows, images, image × head pairs),
 * per-image steps advanced by their strides, and the barriers a threaded run needs between steps.
 *
 * A program whose every step works image by image (the forward's: weight GEMMs and LayerNorms on
 * token rows, attention and the token steps per image) runs by images instead: in chunks of images,
 * each chunk through all the steps before the next. A chunk's activations stay in cache from one
 * step to the next, and threads need no barrier between steps — each claims the next chunk from a
 * shared counter and carries it through the program — only one at the end: on a shared machine a
 * thread that loses its core delays the others once per call, not at each of the program's ~60
 * barriers. Every row and image is computed by the same kernel code as in a whole-batch step (a
 * GEMM's or LayerNorm's rows, attention's heads do not depend on how they are grouped), so the
 * results are bit-identical.
 */
import type { MaeConfig } from '../config.js';
import { KernelError } from '../errors.js';
import { kernelParams } from '../kernel-params.js';
import { ARENA_BASE, type KernelSpec, type MemoryLayout, attentionScratch } from '../plan.js';
import { type Arg, type Split, type Step, orderedOperands } from '../program.js';
import { CTRL, barrierWait } from './barrier.js';

export type KernelExports = Record<string, (...args: number[]) => unknown> & {
  heap_base(): number;
  pack_panels(src: number, dst: number, n: number, k: number, nr: number): void;
};

export interface ThreadContext {
  readonly index: number;
  readonly count: number;
  /** Shared control words (threads > 1). */
  readonly ctrl?: Int32Array;
}

/** [from, to) of `parts` for thread `index` of `count`: contiguous, sizes differing by at most one. */
export function shareOf(parts: number, index: number, count: number): [number, number] {
  return [Math.floor((parts * index) / count), Math.floor((parts * (index + 1)) / count)];
}

export type RunProgram = () => void;

/** Rows of a weight GEMM (or Linear dx) per call when its rows are split: A's block stays in cache across the panels. */
const ROW_BLOCK = 64;

/** Images per chunk of a program run by images (fewer when the threads would otherwise have none). */
export const CHUNK_IMAGES = 32;

/** Threaded, a program runs by images from this many images per thread on (with fewer, a thread could sit idle at the end). */
export const MIN_IMAGES_PER_THREAD = 8;

/** The control word threads claim image chunks from: one the barrier does not use. */
const CHUNK_COUNTER: number = 6;
if (Object.entries(CTRL).some(([k, v]) => k !== 'size' && v === CHUNK_COUNTER) || CHUNK_COUNTER >= CTRL.size) {
  throw new Error('program-runner: the chunk counter must be a free control word');
}

/** Kernel specs by name: what binds a step's operands (and a GEMM's strides, for row splits). */
export type KernelSpecs = ReadonlyMap<string, KernelSpec>;

/** The specs a program's steps call (sent with it to the kernel threads). */
export function specsOf(steps: readonly Step[], specs: KernelSpecs): Record<string, KernelSpec> {
  const out: Record<string, KernelSpec> = {};
  for (const s of steps) {
    if (!('kernel' in s)) continue;
    const spec = specs.get(s.kernel);
    if (!spec) throw new KernelError(`program refers to kernel '${s.kernel}', which the plan does not have`);
    out[s.kernel] = spec;
  }
  return out;
}

interface Call { run: () => void; split?: Split; images?: number }

/** Buffers each thread has its own slice of (the attention scratch): not per image. */
const THREAD_SCRATCH = new Set(['scores', 'kt']);

/**
 * Whether a step can run on any subset of a program's `images` images: per image (every buffer it
 * touches advances by its stride), or a weight GEMM or LayerNorm over token rows (rows per image =
 * rows / images). Not: a reduction over images, a step on one shared buffer, a serial step, a step
 * over another image count.
 */
function imageSeparable(step: Step, spec: KernelSpec | undefined, images: number): boolean {
  if ('copy' in step) return step.copy.images?.count === images && step.copy.images.stride > 0;
  if (!spec || step.split === undefined) return false;
  if (step.images) {
    if (step.images.count !== images) return false;
    return Object.entries(step.args).every(([name, a]) => !('buffer' in a) || THREAD_SCRATCH.has(a.buffer) || (step.images!.strides[name] ?? 0) > 0);
  }
  const rowsOf = (a: Arg | undefined): number => (a && 'int' in a ? a.int : 0);
  const names = kernelParams(spec).operands.map(([n]) => n).join(',');
  if (spec.op === 'gemm' && spec.packed && spec.m === null && names === 'a,b,bias,c,res,m' && (step.split === 'rows' || step.split === 'range')) {
    const m = rowsOf(step.args.m);
    return m > 0 && m % images === 0;
  }
  if (spec.op === 'layernorm' && step.split === 'range') {
    const rows = rowsOf(step.args.rows);
    return rows > 0 && rows === step.parts && rows % images === 0;
  }
  return false;
}

/** The images a program can run by (every step image-separable over the same count), else undefined. */
export function programImages(steps: readonly Step[], specs: KernelSpecs): number | undefined {
  const counts = steps.flatMap((s) => ('copy' in s ? [s.copy.images?.count ?? 1] : s.images ? [s.images.count] : []));
  const images = counts[0];
  if (images === undefined || counts.some((c) => c !== images)) return undefined;
  return steps.every((s) => imageSeparable(s, 'kernel' in s ? specs.get(s.kernel) : undefined, images)) ? images : undefined;
}

export function compileProgram(steps: readonly Step[], exports: KernelExports, layout: MemoryLayout, cfg: MaeConfig, f32: Float32Array, t: ThreadContext, specs: KernelSpecs): RunProgram {
  const ptr = (byteOffset: number): number => ARENA_BASE + byteOffset;
  const scratch = attentionScratch(cfg);
  const value = (a: Arg, step: string): number => {
    if ('buffer' in a) {
      const r = layout.buffers[a.buffer];
      if (!r) throw new KernelError(`program step ${step} refers to unknown buffer '${a.buffer}'`);
      let off = r.offset + (a.row ?? 0) * (a.width ?? 0) * 4;
      // Attention scratch: one slice per thread.
      if (a.buffer === 'scores') off += t.index * scratch.scores * 4;
      if (a.buffer === 'kt') off += t.index * scratch.kt * 4;
      return ptr(off);
    }
    if ('weight' in a) {
      const r = layout.weights[a.weight];
      if (!r) throw new KernelError(`program step ${step} refers to unknown weight '${a.weight}'`);
      return ptr(r.offset);
    }
    if ('int' in a) return a.int;
    return 0;
  };

  const images = programImages(steps, specs);
  if (images !== undefined && (t.count === 1 || images >= MIN_IMAGES_PER_THREAD * t.count)) return compileByImages(steps, exports, layout, f32, t, specs, images, value);

  const calls: Call[] = steps.map((step): Call => {
    if ('copy' in step) {
      const src = layout.weights[step.copy.weight];
      const dst = (ARENA_BASE + layout.buffers[step.copy.to].offset) >> 2;
      const from = (ARENA_BASE + src.offset) >> 2;
      const im = step.copy.images ?? { count: 1, stride: 0 };
      const [i0, i1] = im.count > 1 ? shareOf(im.count, t.index, t.count) : [0, 1];
      return {
        run: () => { for (let i = i0; i < i1; i++) f32.copyWithin(dst + i * im.stride, from, from + src.length); },
        split: im.count > 1 ? 'images' : undefined,
        images: im.count,
      };
    }
    const fn = exports[step.kernel];
    if (typeof fn !== 'function') throw new KernelError(`kernel '${step.kernel}' is not exported by the module`);
    const spec = specs.get(step.kernel);
    if (!spec) throw new KernelError(`program refers to kernel '${step.kernel}', which the plan does not have`);
    const operands = orderedOperands(step, spec);
    const base = operands.map(([, a]) => value(a, step.kernel));
    const hasRange = kernelParams(spec).range !== undefined;
    const parts = step.parts ?? 0;
    if (hasRange && !(parts > 0)) throw new KernelError(`program step ${step.kernel}: the kernel takes a range, the step gives no parts`);
    const count = step.images?.count ?? 1;
    // Per image: each operand's stride in bytes (pointers) — integers do not advance.
    const strides = operands.map(([name, a]) => ('buffer' in a ? (step.images?.strides[name] ?? 0) * 4 : 0));
    const args = (image: number): number[] => base.map((v, j) => v + image * strides[j]!);
    const perImage = (image: number, from: number, to: number): void => {
      const a = args(image);
      if (hasRange) fn(...a, from, to);
      else fn(...a);
    };
    const one = t.count === 1;
    switch (step.split) {
      case undefined:
        return { run: () => { for (let i = 0; i < count; i++) perImage(i, 0, parts); } };
      case 'range': {
        const [from, to] = one ? [0, parts] : shareOf(parts, t.index, t.count);
        return { run: from < to ? () => { for (let i = 0; i < count; i++) perImage(i, from, to); } : () => {}, split: 'range' };
      }
      case 'images': {
        const [i0, i1] = one ? [0, count] : shareOf(count, t.index, t.count);
        return { run: () => { for (let i = i0; i < i1; i++) perImage(i, 0, parts); }, split: 'images', images: count };
      }
      case 'pairs': {
        const [q0, q1] = one ? [0, count * parts] : shareOf(count * parts, t.index, t.count);
        return {
          run: () => {
            for (let q = q0; q < q1;) {
              const image = Math.floor(q / parts);
              const end = Math.min(q1, (image + 1) * parts);
              perImage(image, q - image * parts, end - image * parts);
              q = end;
            }
          },
          split: 'pairs',
        };
      }
      case 'rows': {
        // A batch-wide weight GEMM, or a Linear's dx (the same packed GEMM, B = W's second packing).
        if (!((spec.op === 'gemm' && spec.packed) || spec.op === 'linear_dx') || step.images) throw new KernelError(`program step ${step.kernel}: only a batch-wide weight GEMM or Linear dx splits its rows`);
        const m = (step.args.m as { int: number }).int;
        const at = Object.fromEntries(operands.map(([name], j) => [name, j])) as Record<string, number>;
        // Floats between rows of each row-indexed operand: A, C and the residual (or a GELU' operand, dgelu).
        const ld: Record<string, number> = spec.op === 'gemm'
          ? { a: spec.lda, c: spec.ldc, res: spec.ldr, dgelu: spec.ldr }
          : { a: spec.outDim, c: spec.inDim, dgelu: spec.inDim };
        // Whole register tiles to each thread, so its rows group as on one thread.
        const tiles = Math.ceil(m / spec.mr);
        const [b0, b1] = one ? [0, tiles] : shareOf(tiles, t.index, t.count);
        const r0 = b0 * spec.mr, r1 = Math.min(m, b1 * spec.mr);
        const rowed = Object.keys(ld).filter((name) => at[name] !== undefined && base[at[name]!] !== 0);
        const blocks: number[][] = [];
        for (let r = r0; r < r1; r += ROW_BLOCK) {
          const rows = Math.min(ROW_BLOCK, r1 - r);
          const call = [...base];
          for (const name of rowed) call[at[name]!] = base[at[name]!]! + r * ld[name]! * 4;
          call[at.m!] = rows;
          blocks.push([...call, 0, parts]);
        }
        return { run: () => { for (const b of blocks) fn(...b); }, split: 'rows' };
      }
    }
  });

  if (t.count === 1) {
    const runs = calls.map((c) => c.run);
    return () => { for (const r of runs) r(); };
  }
  const ctrl = t.ctrl!;
  const lead = t.index === 0;
  // Serial steps run on thread 0. A barrier before a split step that follows serial ones, and
  // after every split step — except between two per-image steps over the same images: each
  // thread then goes on with its own images, whose data no other thread touches.
  const chained = calls.map((c, i) => {
    const next = calls[i + 1];
    return c.split === 'images' && next?.split === 'images' && next.images === c.images;
  });
  return () => {
    let afterSerial = false;
    calls.forEach((c, i) => {
      if (c.split) {
        if (afterSerial) barrierWait(ctrl, t.count);
        c.run();
        if (!chained[i]) barrierWait(ctrl, t.count);
        afterSerial = false;
      } else {
        if (lead) c.run();
        afterSerial = true;
      }
    });
  };
}

/**
 * A program run by images (see programImages): for a chunk of images [i0, i1), every step on just
 * those images — per-image steps on each, weight GEMMs on their rows [i0·t, i1·t) in row blocks
 * with all panels, LayerNorms on their rows. Threads claim chunks from a counter; one barrier at
 * the end.
 */
function compileByImages(steps: readonly Step[], exports: KernelExports, layout: MemoryLayout, f32: Float32Array, t: ThreadContext, specs: KernelSpecs, images: number, value: (a: Arg, step: string) => number): RunProgram {
  type Run = (i0: number, i1: number) => void;
  const runs: Run[] = steps.map((step): Run => {
    if ('copy' in step) {
      const src = layout.weights[step.copy.weight];
      const dst = (ARENA_BASE + layout.buffers[step.copy.to].offset) >> 2;
      const from = (ARENA_BASE + src.offset) >> 2;
      const stride = step.copy.images!.stride;
      return (i0, i1) => { for (let i = i0; i < i1; i++) f32.copyWithin(dst + i * stride, from, from + src.length); };
    }
    const fn = exports[step.kernel];
    if (typeof fn !== 'function') throw new KernelError(`kernel '${step.kernel}' is not exported by the module`);
    const spec = specs.get(step.kernel)!;
    const operands = orderedOperands(step, spec);
    const base = operands.map(([, a]) => value(a, step.kernel));
    const hasRange = kernelParams(spec).range !== undefined;
    const parts = step.parts ?? 0;
    if (hasRange && !(parts > 0)) throw new KernelError(`program step ${step.kernel}: the kernel takes a range, the step gives no parts`);
    if (step.images) {
      const strides = operands.map(([name, a]) => ('buffer' in a ? (step.images!.strides[name] ?? 0) * 4 : 0));
      const call = hasRange ? [...base, 0, parts] : [...base];
      return (i0, i1) => {
        for (let i = i0; i < i1; i++) {
          for (let j = 0; j < base.length; j++) call[j] = base[j]! + i * strides[j]!;
          fn(...call);
        }
      };
    }
    if (spec.op === 'layernorm') {
      const perImage = (step.args.rows as { int: number }).int / images;
      return (i0, i1) => { fn(...base, i0 * perImage, i1 * perImage); };
    }
    if (spec.op !== 'gemm') throw new KernelError(`program step ${step.kernel}: not image-separable`);
    // A weight GEMM: the chunk's rows in blocks of whole register tiles, every panel.
    const at = Object.fromEntries(operands.map(([name], j) => [name, j])) as Record<string, number>;
    const perImage = (step.args.m as { int: number }).int / images;
    const block = Math.max(1, Math.round(ROW_BLOCK / spec.mr)) * spec.mr;
    const a = base[at.a!]!, c = base[at.c!]!, res = base[at.res!]!;
    const call = [...base, 0, parts];
    return (i0, i1) => {
      const r1 = i1 * perImage;
      for (let r = i0 * perImage; r < r1; r += block) {
        call[at.a!] = a + r * spec.lda * 4;
        call[at.c!] = c + r * spec.ldc * 4;
        if (res !== 0) call[at.res!] = res + r * spec.ldr * 4;
        call[at.m!] = Math.min(block, r1 - r);
        fn(...call);
      }
    };
  });
  const chunk = Math.min(CHUNK_IMAGES, Math.ceil(images / t.count));
  const chunks = Math.ceil(images / chunk);
  const runChunk = (k: number): void => {
    const i0 = k * chunk, i1 = Math.min(images, i0 + chunk);
    for (const run of runs) run(i0, i1);
  };
  if (t.count === 1) return () => { for (let k = 0; k < chunks; k++) runChunk(k); };
  const ctrl = t.ctrl!;
  const lead = t.index === 0;
  // The counter is 0 when a run starts: thread 0 zeroes it after the barrier that ends each run
  // (every thread has stopped claiming; none claims again before the next run is posted).
  return () => {
    for (let k = Atomics.add(ctrl, CHUNK_COUNTER, 1); k < chunks; k = Atomics.add(ctrl, CHUNK_COUNTER, 1)) runChunk(k);
    barrierWait(ctrl, t.count);
    if (lead) Atomics.store(ctrl, CHUNK_COUNTER, 0);
  };
}
