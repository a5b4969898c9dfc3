/**
 * A reusable barrier for the kernel threads, on a shared Int32Array: the last thread to arrive
 * bumps the generation and wakes the others. Waiters spin briefly (steps are short) before
 * sleeping in Atomics.wait, and give up when a thread has reported an error.
 */
import { KernelError } from '../errors.js';

/** Control words, shared by all threads. */
export const CTRL = { count: 0, generation: 1, job: 2, program: 3, error: 4, ack: 5, size: 8 } as const;

/** Program id of a job that only tells blocked workers to read their messages (then bump `ack`). */
export const MESSAGES_JOB = 0;

/*
 * Spins before sleeping: ~0.5–1.5 ms on the bench machine, longer than a step's imbalance. A
 * sleeping waiter costs a wake-up on a virtual CPU that may have been parked: with 4000 spins
 * (~40 µs), vit-mae-base's 2-thread forward ran ~25 ms slower when its worker had been idle.
 */
const SPINS = 50000;

export function barrierWait(ctrl: Int32Array, parties: number): void {
  const gen = Atomics.load(ctrl, CTRL.generation);
  if (Atomics.add(ctrl, CTRL.count, 1) === parties - 1) {
    Atomics.store(ctrl, CTRL.count, 0);
    Atomics.add(ctrl, CTRL.generation, 1);
    Atomics.notify(ctrl, CTRL.generation);
    return;
  }
  let spins = 0;
  while (Atomics.load(ctrl, CTRL.generation) === gen) {
    if (Atomics.load(ctrl, CTRL.error) !== 0) throw new KernelError('a kernel thread failed');
    if (++spins < SPINS) continue;
    Atomics.wait(ctrl, CTRL.generation, gen, 50);
  }
}

/** Marks the pool failed and wakes every waiter. */
export function reportThreadError(ctrl: Int32Array): void {
  Atomics.store(ctrl, CTRL.error, 1);
  Atomics.add(ctrl, CTRL.generation, 1);
  Atomics.notify(ctrl, CTRL.generation);
}
