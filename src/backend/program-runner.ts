/**
 * Programs (src/program.ts) → calls on one kernel instance for one thread of `count`: pointers
 * resolved once, each split step given this thread's share of panels, heads or rows (and its own
 * attention scratch), and the barriers a threaded run needs between steps.
 */
import type { MaeConfig } from '../config.js';
import { KernelError } from '../errors.js';
import { ARENA_BASE, type MemoryLayout, attentionScratch } from '../plan.js';
import type { Step } from '../program.js';
import { barrierWait } from './barrier.js';

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

export function compileProgram(steps: readonly Step[], exports: KernelExports, layout: MemoryLayout, cfg: MaeConfig, f32: Float32Array, t: ThreadContext): RunProgram {
  const ptr = (byteOffset: number): number => ARENA_BASE + byteOffset;
  const scratch = attentionScratch(cfg);
  interface Call { run: () => void; split: boolean }
  const calls: Call[] = steps.map((step): Call => {
    if ('copy' in step) {
      const src = layout.weights[step.copy.weight];
      const dst = (ARENA_BASE + layout.buffers[step.copy.to].offset) >> 2;
      const from = (ARENA_BASE + src.offset) >> 2;
      return { run: () => { f32.copyWithin(dst, from, from + src.length); }, split: false };
    }
    const fn = exports[step.kernel];
    if (typeof fn !== 'function') throw new KernelError(`kernel '${step.kernel}' is not exported by the module`);
    const args = step.args.map((a) => {
      if ('buffer' in a) {
        let off = layout.buffers[a.buffer].offset + (a.row ?? 0) * (a.width ?? 0) * 4;
        // Attention scratch: one slice per thread.
        if (a.buffer === 'scores') off += t.index * scratch.scores * 4;
        if (a.buffer === 'kt') off += t.index * scratch.kt * 4;
        return ptr(off);
      }
      if ('weight' in a) {
        const r = layout.weights[a.weight];
        if (!r) throw new KernelError(`program refers to unknown weight '${a.weight}'`);
        return ptr(r.offset);
      }
      if ('int' in a) return a.int;
      return 0;
    });
    if (step.split) {
      const [from, to] = shareOf(step.split.parts, t.index, t.count);
      const all = [...args, from, to];
      return { run: from < to ? () => { fn(...all); } : () => {}, split: true };
    }
    return { run: () => { fn(...args); }, split: false };
  });

  if (t.count === 1) {
    const runs = calls.map((c) => c.run);
    return () => { for (const r of runs) r(); };
  }
  const ctrl = t.ctrl!;
  const lead = t.index === 0;
  // Serial steps run on thread 0; a barrier before a split step that follows serial ones, and after every split step.
  return () => {
    let afterSerial = false;
    for (const c of calls) {
      if (c.split) {
        if (afterSerial) barrierWait(ctrl, t.count);
        c.run();
        barrierWait(ctrl, t.count);
        afterSerial = false;
      } else {
        if (lead) c.run();
        afterSerial = true;
      }
    }
  };
}
