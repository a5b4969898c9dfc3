/**
 * The MAE pretraining schedule (util/lr_sched.py's adjust_learning_rate, called every optimizer
 * step with a fractional epoch): lr = blr·batch/256, a linear warm-up from 0 over `warmupEpochs`,
 * then a half-cosine from lr down to `minLr` at `epochs`.
 */
import { InputError } from '../errors.js';

export interface Schedule {
  /** Peak learning rate (blr × effective batch / 256). */
  readonly lr: number;
  readonly minLr: number;
  readonly warmupEpochs: number;
  readonly epochs: number;
}

/** lr = blr × batch / 256, the batch being the effective one (micro-batch × accumulation). */
export const peakLr = (blr: number, batch: number): number => (blr * batch) / 256;

/** The learning rate at fractional epoch `epoch` (iteration / iterations-per-epoch + epoch). */
export function learningRate(s: Schedule, epoch: number): number {
  if (epoch < s.warmupEpochs) return (s.lr * epoch) / s.warmupEpochs;
  if (s.epochs <= s.warmupEpochs) return s.lr;
  return s.minLr + (s.lr - s.minLr) * 0.5 * (1 + Math.cos((Math.PI * (epoch - s.warmupEpochs)) / (s.epochs - s.warmupEpochs)));
}

export function checkSchedule(s: Schedule): Schedule {
  const finite = (v: number, what: string, ok: (v: number) => boolean, rule: string): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new InputError(`${what} must be ${rule}, got ${v}`);
  };
  finite(s.lr, 'learning rate', (v) => v >= 0, 'a finite number ≥ 0');
  finite(s.minLr, 'min lr', (v) => v >= 0 && v <= s.lr, `a number from 0 to the peak lr ${s.lr}`);
  finite(s.warmupEpochs, 'warm-up epochs', (v) => v >= 0, 'a finite number ≥ 0');
  finite(s.epochs, 'epochs', (v) => v > 0, 'a finite number > 0');
  return s;
}
