/**
 * One kernel worker: its own instance of the module on the shared memory, the same programs as
 * the host (compiled for this thread's share), and a loop that waits for jobs on the shared
 * control words. Two ways to wait: `serveBlocking` sleeps in Atomics.wait and reads its messages
 * synchronously when woken (Node: wakes within microseconds); `start`/listen uses
 * Atomics.waitAsync so messages arrive through the event loop (browsers). Platform-neutral: the
 * Node and browser worker entries only carry messages.
 */
import { type KernelSpec, layoutOf } from '../plan.js';
import type { Step } from '../program.js';
import { CTRL, MESSAGES_JOB, reportThreadError } from './barrier.js';
import { type KernelExports, type RunProgram, compileProgram } from './program-runner.js';
import { type WorkerInit, type WorkerMessage, instantiateKernels, instantiateKernelsSync } from './wasm.js';

export class KernelThread {
  private exports!: KernelExports;
  private readonly steps = new Map<number, { steps: Step[]; specs: Record<string, KernelSpec> }>();
  private readonly programs = new Map<number, RunProgram>();
  private readonly f32: Float32Array;
  private seenJob: number;

  private constructor(private readonly init: WorkerInit) {
    this.f32 = new Float32Array(init.memory.buffer);
    this.seenJob = Atomics.load(init.ctrl, CTRL.job);
  }

  static async start(init: WorkerInit): Promise<KernelThread> {
    const t = await KernelThread.create(init);
    t.waitForJob();
    return t;
  }

  /** The thread with its module instantiated, not yet waiting for jobs. */
  static async create(init: WorkerInit): Promise<KernelThread> {
    const t = new KernelThread(init);
    t.exports = await instantiateKernels(init.module, init.memory);
    return t;
  }

  /** Applies one host message (synchronously). */
  handle(msg: WorkerMessage): void {
    if (msg.type === 'program') this.addProgram(msg.id, msg.steps, msg.specs);
    else if (msg.type === 'module') {
      this.exports = instantiateKernelsSync(msg.module, this.init.memory);
      this.programs.clear();
    }
  }

  /**
   * Serves jobs forever, sleeping in Atomics.wait between them. `receive` returns the next queued
   * host message or undefined; a MESSAGES_JOB makes the thread read until it has one, apply it,
   * and acknowledge through the `ack` word.
   */
  serveBlocking(receive: () => WorkerMessage | undefined): never {
    const { ctrl } = this.init;
    for (;;) {
      Atomics.wait(ctrl, CTRL.job, this.seenJob);
      const job = Atomics.load(ctrl, CTRL.job);
      if (job === this.seenJob) continue;
      this.seenJob = job;
      const id = Atomics.load(ctrl, CTRL.program);
      if (id === MESSAGES_JOB) {
        // The host posted before waking us; the message is queued or about to be.
        let msg = receive();
        for (let spins = 0; !msg && spins < 100_000; spins++) msg = receive();
        for (; msg; msg = receive()) this.handle(msg);
        Atomics.add(ctrl, CTRL.ack, 1);
        Atomics.notify(ctrl, CTRL.ack);
        continue;
      }
      try {
        this.compiled(id)();
      } catch {
        reportThreadError(ctrl);
      }
    }
  }

  async setModule(module: WebAssembly.Module): Promise<void> {
    this.exports = await instantiateKernels(module, this.init.memory);
    this.programs.clear();
  }

  addProgram(id: number, steps: Step[], specs: Record<string, KernelSpec>): void {
    this.steps.set(id, { steps, specs });
  }

  private compiled(id: number): RunProgram {
    let run = this.programs.get(id);
    if (!run) {
      const program = this.steps.get(id);
      if (!program) throw new Error(`kernel thread ${this.init.index}: unknown program ${id}`);
      const layout = this.init.layout ?? layoutOf(this.init.config, this.init.threads, this.init.tiling, this.init.batch);
      run = compileProgram(program.steps, this.exports, layout, this.init.config, this.f32, { index: this.init.index, count: this.init.threads, ctrl: this.init.ctrl }, new Map(Object.entries(program.specs)));
      this.programs.set(id, run);
    }
    return run;
  }

  private waitForJob(): void {
    const { ctrl } = this.init;
    const wait = Atomics.waitAsync(ctrl, CTRL.job, this.seenJob);
    const next = (): void => {
      // Run every job posted since the last one (one at a time: the host waits for each).
      while (Atomics.load(ctrl, CTRL.job) !== this.seenJob) {
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
}
