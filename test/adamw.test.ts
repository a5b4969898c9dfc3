/**
 * AdamW (src/training/adamw.ts) against torch 1.13's torch.optim.AdamW as MAE pretraining uses it:
 * the golden grads.safetensors (test/fixtures/golden/{tiny,small}) hold one step from
 * model.safetensors with grad/* (lr 1e-3, betas 0.9/0.95, eps 1e-8, weight decay 0.05 by timm's
 * add_weight_decay rule). Bound (golden README, "optimizer alone"): |x − g| ≤ 5e-7 per element.
 * The mistakes the README lists (cls/mask token not decayed, no decay, decay everywhere, coupled L2,
 * no bias correction) move adamw1 by 3.9e-6 … 2e-3 and must leave the bound. A second step with
 * state is checked against a float64 two-step computation written here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config.js';
import { InputError } from '../src/errors.js';
import { ADAMW_DEFAULTS, AdamW } from '../src/training/adamw.js';
import { type TrainableParam, trainableParams } from '../src/training/params.js';
import type { SafetensorsFile } from '../src/safetensors.js';
import { GOLDEN, readTensors } from './helpers.js';

const BOUND = 5e-7;

interface Case {
  name: string;
  params: TrainableParam[];
  weights: SafetensorsFile;
  grads: SafetensorsFile;
  lr: number;
}

function goldenCase(name: string): Case {
  const dir = join(GOLDEN, name);
  const cfg = parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), `${name}/config.json`);
  const grads = readTensors(join(dir, 'grads.safetensors'));
  const md = grads.metadata;
  // The file's optimizer is the one AdamW defaults to.
  assert.equal(md.betas, '0.9,0.95');
  assert.equal(Number(md.eps), ADAMW_DEFAULTS.eps);
  assert.equal(Number(md.weight_decay), ADAMW_DEFAULTS.weightDecay);
  assert.deepEqual([...ADAMW_DEFAULTS.betas], [0.9, 0.95]);
  const lr = Number(md.lr);
  assert.ok(lr > 0, 'grads.safetensors records lr');
  return { name, params: trainableParams(cfg), weights: readTensors(join(dir, 'model.safetensors')), grads, lr };
}

const CASES = ['tiny', 'small'].map(goldenCase);

const values = (c: Case): Record<string, Float32Array> => Object.fromEntries(c.params.map((p) => [p.name, c.weights.f32(p.name)]));
const gradsOf = (c: Case, prefix = 'grad/'): Record<string, Float32Array> => Object.fromEntries(c.params.map((p) => [p.name, c.grads.f32(prefix + p.name)]));

/** Largest |x − adamw1| over all tensors, and where. */
function worstAgainstGolden(c: Case, stepped: Record<string, ArrayLike<number>>): { worst: number; at: string } {
  let worst = 0;
  let at = '';
  for (const p of c.params) {
    const ref = c.grads.f32(`adamw1/${p.name}`);
    const x = stepped[p.name]!;
    assert.equal(x.length, ref.length, p.name);
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(x[i]! - ref[i]!);
      if (!(d <= worst)) { worst = Number.isNaN(d) ? Infinity : d; at = `${p.name}[${i}]`; }
    }
  }
  return { worst, at };
}

/** A float64 AdamW written out separately, with switches for the mistakes. */
interface Variant { decoupled: boolean; biasCorrection: boolean; decays: (p: TrainableParam) => boolean }
const RIGHT: Variant = { decoupled: true, biasCorrection: true, decays: (p) => p.decay };

class Reference {
  readonly m = new Map<string, Float64Array>();
  readonly v = new Map<string, Float64Array>();
  readonly p = new Map<string, Float64Array>();
  t = 0;
  constructor(readonly params: TrainableParam[], start: Record<string, ArrayLike<number>>, readonly variant: Variant = RIGHT, readonly wd = 0.05, readonly b1 = 0.9, readonly b2 = 0.95, readonly eps = 1e-8) {
    for (const q of params) {
      this.p.set(q.name, Float64Array.from(start[q.name]!));
      this.m.set(q.name, new Float64Array(q.length));
      this.v.set(q.name, new Float64Array(q.length));
    }
  }
  step(grads: Record<string, ArrayLike<number>>, lr: number): void {
    this.t++;
    const { b1, b2, eps } = this;
    const bc1 = this.variant.biasCorrection ? 1 - b1 ** this.t : 1;
    const bc2 = this.variant.biasCorrection ? 1 - b2 ** this.t : 1;
    for (const q of this.params) {
      const p = this.p.get(q.name)!, m = this.m.get(q.name)!, v = this.v.get(q.name)!, g = grads[q.name]!;
      const wd = this.variant.decays(q) ? this.wd : 0;
      for (let i = 0; i < p.length; i++) {
        let gi = g[i]!;
        if (this.variant.decoupled) p[i] = p[i]! * (1 - lr * wd);
        else gi += wd * p[i]!; // Adam with L2: the decay enters the moments
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        p[i] = p[i]! - (lr / bc1) * m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + eps);
      }
    }
  }
  values(): Record<string, Float64Array> {
    return Object.fromEntries(this.p);
  }
}

for (const c of CASES) {
  test(`AdamW, golden ${c.name}: one step from model.safetensors with grad/* reproduces adamw1/* within ${BOUND}`, (t) => {
    const p = values(c);
    const opt = new AdamW(c.params, { lr: c.lr });
    opt.step(p, gradsOf(c));
    assert.equal(opt.steps, 1);
    const { worst, at } = worstAgainstGolden(c, p);
    t.diagnostic(`${c.name}: AdamW max |x − adamw1| = ${worst.toExponential(2)} (at ${at})`);
    assert.ok(worst <= BOUND, `max |x − adamw1| = ${worst.toExponential(2)} at ${at} > ${BOUND}`);
    // Every parameter of the golden file is updated: the file has exactly these names.
    const golden = c.grads.names().filter((n) => n.startsWith('adamw1/')).map((n) => n.slice('adamw1/'.length)).sort();
    assert.deepEqual(c.params.map((q) => q.name).sort(), golden);
    // The float64 reference written here agrees too (so the mistakes below are measured by a right baseline).
    const ref = new Reference(c.params, values(c));
    ref.step(gradsOf(c), c.lr);
    const r = worstAgainstGolden(c, ref.values());
    assert.ok(r.worst <= BOUND, `float64 reference: ${r.worst.toExponential(2)} at ${r.at}`);
  });

  test(`AdamW, golden ${c.name}: each listed mistake leaves the ${BOUND} bound`, (t) => {
    const token = (q: TrainableParam) => q.name.endsWith('cls_token') || q.name.endsWith('mask_token');
    // Through the optimizer itself: the decay partition and the decay amount.
    const viaOptimizer: [string, TrainableParam[], number][] = [
      ['cls_token / mask_token not decayed', c.params.map((q) => (token(q) ? { ...q, decay: false } : q)), 0.05],
      ['decay on every parameter', c.params.map((q) => ({ ...q, decay: true })), 0.05],
      ['no weight decay', c.params, 0],
    ];
    for (const [what, params, wd] of viaOptimizer) {
      const p = values(c);
      new AdamW(params, { lr: c.lr, weightDecay: wd }).step(p, gradsOf(c));
      const { worst } = worstAgainstGolden(c, p);
      t.diagnostic(`${c.name}: ${what}: ${worst.toExponential(2)}`);
      assert.ok(worst > BOUND, `${what} passes the check (${worst.toExponential(2)})`);
    }
    // Rules AdamW cannot be told to break: through the float64 reference.
    const viaReference: [string, Variant][] = [
      ['Adam with L2 (coupled)', { ...RIGHT, decoupled: false }],
      ['no bias correction', { ...RIGHT, biasCorrection: false }],
    ];
    for (const [what, variant] of viaReference) {
      const ref = new Reference(c.params, values(c), variant);
      ref.step(gradsOf(c), c.lr);
      const { worst } = worstAgainstGolden(c, ref.values());
      t.diagnostic(`${c.name}: ${what}: ${worst.toExponential(2)}`);
      assert.ok(worst > BOUND, `${what} passes the check (${worst.toExponential(2)})`);
    }
  });
}

test('AdamW: a second step with state (and another lr) matches a float64 two-step computation', (t) => {
  const c = CASES[0]!;
  const p = values(c);
  const opt = new AdamW(c.params, { lr: c.lr });
  const g1 = gradsOf(c, 'grad/');
  // Another gradient of the same shapes for step 2, with some signs flipped against step 1.
  const g2 = Object.fromEntries(Object.entries(gradsOf(c, 'grad_norm_pix/')).map(([k, v]) => [k, v.map((x, i) => (i % 3 === 0 ? -2 * x : x))]));
  opt.step(p, g1);
  opt.step(p, g2, { lr: 2 * c.lr });
  assert.equal(opt.steps, 2);
  assert.equal(opt.lr, 2 * c.lr);
  const ref = new Reference(c.params, values(c));
  ref.step(g1, c.lr);
  ref.step(g2, 2 * c.lr);
  /** Largest |x − y|, or with `scaled` largest |x − y| / max|y| per tensor. */
  const worstOf = (x: Record<string, ArrayLike<number>>, y: Record<string, ArrayLike<number>>, scaled = false): number => {
    let worst = 0;
    for (const q of c.params) {
      const a = x[q.name]!, b = y[q.name]!;
      assert.equal(a.length, b.length);
      let scale = 1;
      if (scaled) {
        scale = 0;
        for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
      }
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i]! - b[i]!) / scale;
        if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
      }
    }
    return worst;
  };
  const worst = worstOf(p, ref.values());
  t.diagnostic(`two steps: max |x − float64| = ${worst.toExponential(2)}`);
  assert.ok(worst <= BOUND, `two steps: ${worst.toExponential(2)} > ${BOUND}`);
  // The moments are the float64 ones to float32 rounding, relative to each tensor's largest.
  const m = Object.fromEntries(c.params.map((q) => [q.name, opt.state(q.name)!.m]));
  const v = Object.fromEntries(c.params.map((q) => [q.name, opt.state(q.name)!.v]));
  const dm = worstOf(m, Object.fromEntries(ref.m), true);
  const dv = worstOf(v, Object.fromEntries(ref.v), true);
  t.diagnostic(`two steps: moments max |Δ|/max|ref| per tensor: m ${dm.toExponential(2)}, v ${dv.toExponential(2)}`);
  assert.ok(dm <= 1e-6 && dv <= 1e-6, `moments: m ${dm.toExponential(2)}, v ${dv.toExponential(2)} > 1e-6`);

  // Mistake: state lost between steps (a fresh optimizer, so step 2 is bias-corrected as a first step).
  const q = values(c);
  new AdamW(c.params, { lr: c.lr }).step(q, g1);
  new AdamW(c.params, { lr: 2 * c.lr }).step(q, g2);
  const lost = worstOf(q, ref.values());
  t.diagnostic(`two steps, state lost: ${lost.toExponential(2)}`);
  assert.ok(lost > BOUND, `state lost passes the check (${lost.toExponential(2)})`);
});

test('AdamW refuses bad input with InputError and changes nothing', () => {
  const c = CASES[0]!;
  assert.throws(() => new AdamW(c.params, { lr: -1e-3 }), InputError);
  assert.throws(() => new AdamW(c.params, { lr: Number.NaN }), InputError);
  assert.throws(() => new AdamW(c.params, { lr: Infinity }), InputError);
  assert.throws(() => new AdamW(c.params, { lr: 1e-3, betas: [1, 0.95] }), InputError);
  assert.throws(() => new AdamW(c.params, { lr: 1e-3, eps: 0 }), InputError);
  assert.throws(() => new AdamW(c.params, { lr: 1e-3, weightDecay: -0.1 }), InputError);
  assert.throws(() => new AdamW([], { lr: 1e-3 }), InputError);
  assert.throws(() => new AdamW([c.params[0]!, c.params[0]!], { lr: 1e-3 }), InputError);

  const opt = new AdamW(c.params, { lr: c.lr });
  const first = c.params[0]!.name;
  const last = c.params[c.params.length - 1]!.name;
  const cases: [string, (p: Record<string, Float32Array>, g: Record<string, Float32Array>) => void, RegExp][] = [
    ['short gradient', (_p, g) => { g[last] = g[last]!.subarray(1); }, new RegExp(`gradient of '${last.replace(/\./g, '\\.')}' has`)],
    ['long parameter', (p) => { p[last] = new Float32Array(p[last]!.length + 1); }, /has \d+ values, expected/],
    ['missing gradient', (_p, g) => { delete g[last]; }, /no Float32Array gradient/],
    ['unknown name', (_p, g) => { g['vit.embeddings.position_embeddings'] = new Float32Array(4); }, /not a parameter/],
    ['NaN gradient', (_p, g) => { g[last] = g[last]!.slice(); g[last]![3] = Number.NaN; }, /is NaN at index 3/],
    ['infinite gradient', (_p, g) => { g[last] = g[last]!.slice(); g[last]![0] = -Infinity; }, /is -Infinity at index 0/],
    ['float64 gradient', (_p, g) => { (g as Record<string, unknown>)[last] = Float64Array.from(g[last]!); }, /no Float32Array gradient/],
  ];
  for (const [what, spoil, message] of cases) {
    const p = values(c);
    const g = gradsOf(c);
    spoil(p, g);
    const before = p[first]!.slice();
    assert.throws(() => opt.step(p, g), (e: unknown) => e instanceof InputError && message.test(e.message), what);
    assert.deepEqual(p[first], before, `${what}: parameters unchanged`);
    assert.equal(opt.steps, 0, `${what}: no step counted`);
    assert.equal(opt.state(first), undefined, `${what}: no state made`);
  }
  const p = values(c);
  assert.throws(() => opt.step(p, gradsOf(c), { lr: -1 }), InputError);
  assert.equal(opt.steps, 0);
});
