/**
 * The kernel list of a training module: the set of unique specs its programs call (the forward
 * with its tape and the backward of both targets, for each encoder length), plus the inference
 * plan's, so one module serves both. Derived from the programs, so a kernel is in the module
 * exactly when a program uses it.
 */
import type { MaeConfig } from '../config.js';
import { shapesOf } from '../shapes.js';
import { type KernelSpec, type Tiling, defaultEncoderLengths, kernelName, planKernels } from '../plan.js';
import { finetuneBackwardProgram, finetuneForwardProgram, trainingBackwardProgram, trainingForwardProgram } from './program.js';

export function trainingSpecs(cfg: MaeConfig, encoderLengths: readonly number[] = defaultEncoderLengths(cfg), tiling: Tiling = {}): KernelSpec[] {
  const plan = planKernels(cfg, encoderLengths, tiling);
  const specs = new Map<string, KernelSpec>(plan.specs.map((s) => [kernelName(s), s]));
  const L = shapesOf(cfg).numPatches;
  for (const t of plan.encoderLengths) {
    const keep = t - 1;
    if (keep < 1 || keep > L) continue;
    // One image per program is enough: the kernels do not depend on the batch.
    for (const w of [trainingForwardProgram(cfg, keep, 1, tiling), trainingBackwardProgram(cfg, keep, 1, false, tiling), trainingBackwardProgram(cfg, keep, 1, true, tiling)]) {
      for (const [name, spec] of w.specs) if (!specs.has(name)) specs.set(name, spec);
    }
  }
  // The encoder with mask tokens (Table 1c's ablation) runs on all patches.
  for (const normPix of [false, true]) {
    for (const w of [trainingForwardProgram(cfg, L, 1, tiling, { encoderMaskTokens: true }), trainingBackwardProgram(cfg, L, 1, normPix, tiling, { encoderMaskTokens: true })]) {
      for (const [name, spec] of w.specs) if (!specs.has(name)) specs.set(name, spec);
    }
  }
  // Fine-tuning: the encoder alone and its backward from the latent.
  for (const w of [finetuneForwardProgram(cfg, 1, tiling), finetuneBackwardProgram(cfg, 1, cfg.numHiddenLayers, tiling)]) {
    for (const [name, spec] of w.specs) if (!specs.has(name)) specs.set(name, spec);
  }
  // The optimizer step over the parameter arena.
  specs.set(kernelName({ op: 'adamw' }), { op: 'adamw' });
  return [...specs.values()];
}
