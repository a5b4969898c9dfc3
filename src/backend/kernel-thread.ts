/**
 * One kernel worker: its own instance of the module on the shared memory, the same programs as
 * the host (compiled for this thread's share), and a loop that waits for jobs on the shared
 * control words (Atomics.waitAsync, so messages still arrive between jobs). Platform-neutral: the
 * Node and browser worker entries only carry messages.
 */
import { layoutOf } from '../plan.js';
import type { Step } from '../program.js';
import { CTRL, reportThreadError } from './barrier.js';
import { type KernelExports, type RunProgram, compileProgram } from './program-runner.js';
import { type WorkerInit, instantiateKernels } from './wasm.js';

export class KernelThread {
  private exports!: KernelExports;
  private readonly steps = new Map<number, Step[]>();
  private readonly programs = new Map<number, RunProgram>();
  private readonly f32: Float32Array;
  private seenJob: number;
  private stopped = false;

  private constructor(private readonly init: WorkerInit) {
    this.f32 = new Float32Array(init.memory.buffer);
    this.seenJob = Atomics.load(init.ctrl, CTRL.job);
  }

  static async start(init: WorkerInit): Promise<KernelThread> {
    const t = new KernelThread(init);
    t.exports = await instantiateKernels(init.module, init.memory);
    t.waitForJob();
    return t;
  }

  async setModule(module: WebAssembly.Module): Promise<void> {
    this.exports = await instantiateKernels(module, this.init.memory);
    this.programs.clear();
  }

  addProgram(id: number, steps: Step[]): void {
    this.steps.set(id, steps);
  }

  private compiled(id: number): RunProgram {
    let run = this.programs.get(id);
    if (!run) {
      const steps = this.steps.get(id);
      if (!steps) throw new Error(`kernel thread ${this.init.index}: unknown program ${id}`);
      run = compileProgram(steps, this.exports, layoutOf(this.init.config, this.init.threads, this.init.tiling), this.init.config, this.f32, { index: this.init.index, count: this.init.threads, ctrl: this.init.ctrl });
      this.programs.set(id, run);
    }
    return run;
  }

  private waitForJob(): void {
    if (this.stopped) return;
    const { ctrl } = this.init;
    const wait = Atomics.waitAsync(ctrl, CTRL.job, this.seenJob);
    const next = (): void => {
      // Run every job posted since the last one (one at a time: the host waits for each).
      while (!this.stopped && Atomics.load(ctrl, CTRL.job) !== this.seenJob) {
        this.seenJob = Atomics.load(ctrl, CTRL.job);
        try {
          this.compiled(Atomics.load(ctrl, CTRL.program))();
        } catch (e) {
          reportThreadError(ctrl);
          throw e;
        }
      }
      this.waitForJob();
    };
    if (wait.async) void wait.value.then(next);
    else next();
  }

  stop(): void {
    this.stopped = true;
  }
}
