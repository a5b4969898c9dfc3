/** The optimizer step as a kernel over a run of the parameter arena (assembly/adamw.ts): SIMD, every remainder handled. */
import { type AdamWSpec, kernelName } from '../../src/plan.js';
import { signatureOf } from '../../src/kernel-params.js';
import type { EmittedFunction } from './kernel-source.js';

export function emitAdamW(s: AdamWSpec): EmittedFunction {
  return {
    name: kernelName(s),
    params: signatureOf(s),
    // Threads split the run: [i0, i1) of n values.
    body: 'const end = min<i32>(i1, n);\nif (i0 < end) adamwStep(p + (<usize>i0 << 2), g + (<usize>i0 << 2), m + (<usize>i0 << 2), v + (<usize>i0 << 2), end - i0, decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtBc2, eps, stepSize);',
    doc: 'One AdamW step (torch 1.13, float32) on values [i0, i1) of n: p, m, v in place from g; decay = 1 − lr·wd, stepSize = lr/(1 − β1^t), sqrtBc2 = √(1 − β2^t).',
    exported: true,
  };
}
