/**
 * AdamW as MAE pretraining runs it: torch 1.13's `torch.optim.AdamW` (single-tensor path) with
 * betas (0.9, 0.95), eps 1e-8 and weight decay 0.05 on the parameters timm's add_weight_decay
 * picks (TrainableParam.decay: every weight of rank > 1 not named `.bias`, cls_token and
 * mask_token included). Per parameter, at step t (from 1):
 *
 *   p ← p·(1 − lr·wd)                      (decoupled decay, only where `decay`)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
 *
 * Each element is computed in float64 from the stored float32 values and stored as float32
 * (p, m and v are Float32Arrays), which matches torch's float32 arithmetic to ~6e-8. Every input
 * is checked before anything is changed: a refused step leaves parameters and state as they were.
 */
import { InputError } from '../errors.js';
import { firstNonFinite } from '../weights.js';
import type { NamedTensor, TrainableParam } from './params.js';

export interface AdamWOptions {
  /** Learning rate (finite, ≥ 0); step() may override it per step (schedules). */
  lr: number;
  /** (β1, β2), each in [0, 1); default (0.9, 0.95) as MAE's main_pretrain.py. */
  betas?: readonly [number, number];
  /** Added to the bias-corrected √v; default 1e-8 (torch's). */
  eps?: number;
  /** Decoupled weight decay for parameters with `decay`; default 0.05 (MAE's --weight_decay). */
  weightDecay?: number;
}

export const ADAMW_DEFAULTS = Object.freeze({ betas: Object.freeze([0.9, 0.95] as const), eps: 1e-8, weightDecay: 0.05 });

/** The most steps one optimizer takes (β^t has long reached 0 by then; a counter past it is a bug). */
export const MAX_ADAMW_STEPS = 2 ** 31;

/** A parameter's optimizer state. */
export interface AdamWState {
  /** First moment (exp_avg), float32 as torch keeps it. */
  readonly m: Float32Array;
  /** Second moment (exp_avg_sq). */
  readonly v: Float32Array;
}

/** Parameter values or gradients: a plain array or a NamedTensor, by model.safetensors name. */
export type TensorsByName = Readonly<Record<string, Float32Array | NamedTensor>>;

const dataOf = (t: Float32Array | NamedTensor): Float32Array => (t instanceof Float32Array ? t : t?.data);

function checkNumber(value: unknown, what: string, ok: (v: number) => boolean, rule: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) throw new InputError(`AdamW: ${what} must be ${rule}, got ${String(value)}`);
  return value;
}

const checkLr = (lr: unknown): number => checkNumber(lr, 'lr', (v) => v >= 0, 'a finite number ≥ 0');

export class AdamW {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  private readonly params: ReadonlyMap<string, TrainableParam>;
  private readonly states = new Map<string, AdamWState>();
  private t = 0;

  constructor(params: readonly TrainableParam[], opts: AdamWOptions) {
    if (!Array.isArray(params) || params.length === 0) throw new InputError('AdamW: needs a non-empty list of parameters');
    const byName = new Map<string, TrainableParam>();
    for (const p of params as readonly TrainableParam[]) {
      if (byName.has(p.name)) throw new InputError(`AdamW: parameter '${p.name}' is listed twice`);
      const n = p.shape.reduce((a: number, b: number) => a * b, 1);
      if (!Number.isSafeInteger(p.length) || p.length < 0 || p.length !== n) throw new InputError(`AdamW: parameter '${p.name}' has length ${p.length}, its shape [${p.shape.join(',')}] holds ${n}`);
      byName.set(p.name, p);
    }
    this.params = byName;
    this.lr = checkLr(opts?.lr);
    const betas = opts.betas ?? ADAMW_DEFAULTS.betas;
    if (!Array.isArray(betas) || betas.length !== 2) throw new InputError(`AdamW: betas must be two numbers, got ${JSON.stringify(betas)}`);
    this.betas = [
      checkNumber(betas[0], 'beta1', (v) => v >= 0 && v < 1, 'in [0, 1)'),
      checkNumber(betas[1], 'beta2', (v) => v >= 0 && v < 1, 'in [0, 1)'),
    ];
    this.eps = checkNumber(opts.eps ?? ADAMW_DEFAULTS.eps, 'eps', (v) => v > 0, 'a finite number > 0');
    this.weightDecay = checkNumber(opts.weightDecay ?? ADAMW_DEFAULTS.weightDecay, 'weightDecay', (v) => v >= 0, 'a finite number ≥ 0');
  }

  /** Steps taken so far (torch's state['step']). */
  get steps(): number {
    return this.t;
  }

  /** The parameters this optimizer updates, by name. */
  get names(): string[] {
    return [...this.params.keys()];
  }

  /** A parameter's state (undefined before the first step); the arrays are the optimizer's own. */
  state(name: string): AdamWState | undefined {
    return this.states.get(name);
  }

  /**
   * One step: updates every parameter in `params` in place from `grads`. Both must hold exactly
   * the optimizer's parameter names, each of the parameter's length; gradients must be finite.
   * `lr` overrides the optimizer's lr for this step (and is kept).
   */
  step(params: TensorsByName, grads: TensorsByName, opts: { lr?: number } = {}): void {
    const lr = opts.lr === undefined ? this.lr : checkLr(opts.lr);
    if (this.t >= MAX_ADAMW_STEPS) throw new InputError(`AdamW: more than ${MAX_ADAMW_STEPS} steps`);
    const work: { info: TrainableParam; p: Float32Array; g: Float32Array }[] = [];
    for (const [what, tensors] of [['parameters', params], ['gradients', grads]] as const) {
      if (typeof tensors !== 'object' || tensors === null) throw new InputError(`AdamW: ${what} must be an object of Float32Arrays by parameter name`);
      for (const name of Object.keys(tensors)) if (!this.params.has(name)) throw new InputError(`AdamW: ${what} name '${name}', which is not a parameter of this optimizer`);
    }
    for (const info of this.params.values()) {
      const p = dataOf(params[info.name]!);
      const g = dataOf(grads[info.name]!);
      if (!(p instanceof Float32Array)) throw new InputError(`AdamW: no Float32Array for parameter '${info.name}'`);
      if (!(g instanceof Float32Array)) throw new InputError(`AdamW: no Float32Array gradient for '${info.name}'`);
      if (p.length !== info.length) throw new InputError(`AdamW: parameter '${info.name}' has ${p.length} values, expected ${info.length} ([${info.shape.join(',')}])`);
      if (g.length !== info.length) throw new InputError(`AdamW: gradient of '${info.name}' has ${g.length} values, expected ${info.length} ([${info.shape.join(',')}])`);
      const bad = firstNonFinite(g);
      if (bad >= 0) throw new InputError(`AdamW: gradient of '${info.name}' is ${g[bad]} at index ${bad}; gradients must be finite`);
      if (p.buffer === g.buffer && p.byteOffset < g.byteOffset + g.byteLength && g.byteOffset < p.byteOffset + p.byteLength) {
        throw new InputError(`AdamW: parameter '${info.name}' and its gradient share memory`);
      }
      work.push({ info, p, g });
    }
    this.lr = lr;
    const t = ++this.t;
    const [b1, b2] = this.betas;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    for (const { info, p, g } of work) {
      let s = this.states.get(info.name);
      if (!s) {
        s = { m: new Float32Array(info.length), v: new Float32Array(info.length) };
        this.states.set(info.name, s);
      }
      const keep = info.decay ? 1 - lr * this.weightDecay : 1;
      adamwKernel(p, g, s.m, s.v, keep, b1, b2, stepSize, bc2Sqrt, this.eps);
    }
  }
}

/** One element-wise update, float64 arithmetic on float32 storage. */
function adamwKernel(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, keep: number, b1: number, b2: number, stepSize: number, bc2Sqrt: number, eps: number): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const mi = b1 * m[i]! + c1 * gi;
    const vi = b2 * v[i]! + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! * keep - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
  }
}
