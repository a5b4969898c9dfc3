/**
 * Multinomial logistic regression for linear probing, platform-neutral (plain TypeScript, float64):
 *
 *   f(W, b) = (1/N) Σₙ [log Σₖ exp(zₙₖ) − zₙ,yₙ] + (λ/2)·‖W‖²,   zₙ = W xₙ + b,
 *
 * W [K, D] row-major, b [K] (the bias is not penalised, as in the reference protocol of the bundled
 * model's README), minimised by full-batch L-BFGS from zeros with a strong-Wolfe line search.
 */

/** f(x) and its gradient written into `grad`. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  /** Most iterations (default 1000). */
  maxIter?: number;
  /** Most function evaluations (default 1.25 × maxIter, as torch's L-BFGS). */
  maxEval?: number;
  /** Correction pairs kept (default 20). */
  history?: number;
  /** Stop when max |gradient| ≤ this (default 1e-7). */
  gradTol?: number;
  /** Stop when f or the step changes by less than this (default 1e-9). */
  changeTol?: number;
  /** Called after each iteration. */
  onIteration?: (iteration: number, f: number) => void;
}

export type LbfgsStop = 'gradient' | 'change' | 'max-iterations' | 'max-evaluations' | 'line-search';

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  /** max |∇f| at x. */
  gradInf: number;
  iterations: number;
  evaluations: number;
  stop: LbfgsStop;
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

const infNorm = (a: Float64Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
};

/**
 * The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to [lo, hi]; the
 * middle of [lo, hi] when the cubic has no minimum (Nocedal & Wright, eq. 3.59).
 */
export function cubicMinimum(x1: number, f1: number, g1: number, x2: number, f2: number, g2: number, lo: number, hi: number): number {
  const d1 = g1 + g2 - (3 * (f1 - f2)) / (x1 - x2);
  const d2sq = d1 * d1 - g1 * g2;
  if (d2sq >= 0) {
    const d2 = Math.sqrt(d2sq);
    const pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    if (Number.isFinite(pos)) return Math.min(Math.max(pos, lo), hi);
  }
  return (lo + hi) / 2;
}

interface LinePoint { t: number; f: number; g: Float64Array; gtd: number }

/**
 * A step t along d from x satisfying the strong Wolfe conditions (sufficient decrease c1 = 1e-4,
 * curvature c2 = 0.9): bracketing with cubic extrapolation, then zooming with safeguarded cubic
 * interpolation (Nocedal & Wright, algorithms 3.5 and 3.6). Returns the best point found; `ok`
 * is false when the conditions were not met within maxSteps evaluations.
 */
export function strongWolfe(
  fg: Objective, x: Float64Array, d: Float64Array, f0: number, g0: Float64Array, t0: number,
  opts: { c1?: number; c2?: number; changeTol?: number; maxSteps?: number } = {},
): { point: LinePoint; evaluations: number; ok: boolean } {
  const c1 = opts.c1 ?? 1e-4;
  const c2 = opts.c2 ?? 0.9;
  const changeTol = opts.changeTol ?? 1e-9;
  const maxSteps = opts.maxSteps ?? 25;
  const gtd0 = dot(g0, d);
  const dInf = infNorm(d);
  const xt = new Float64Array(x.length);
  let evaluations = 0;
  const at = (t: number): LinePoint => {
    for (let i = 0; i < x.length; i++) xt[i] = x[i]! + t * d[i]!;
    const g = new Float64Array(x.length);
    const f = fg(xt, g);
    evaluations++;
    return { t, f, g, gtd: dot(g, d) };
  };
  const armijo = (p: LinePoint): boolean => p.f <= f0 + c1 * p.t * gtd0;
  const curvature = (p: LinePoint): boolean => Math.abs(p.gtd) <= -c2 * gtd0;

  // Bracketing phase.
  let prev: LinePoint = { t: 0, f: f0, g: g0, gtd: gtd0 };
  let cur = at(t0);
  let lo: LinePoint | undefined;
  let hi: LinePoint | undefined;
  let steps = 1;
  for (;;) {
    if (!Number.isFinite(cur.f)) { lo = prev; hi = cur; break; }
    if (!armijo(cur) || (steps > 1 && cur.f >= prev.f)) { lo = prev; hi = cur; break; }
    if (curvature(cur)) return { point: cur, evaluations, ok: true };
    if (cur.gtd >= 0) { lo = cur; hi = prev; break; }
    if (steps >= maxSteps) return { point: cur, evaluations, ok: false };
    const minStep = cur.t + 0.01 * (cur.t - prev.t);
    const maxStep = cur.t * 10;
    const next = cubicMinimum(prev.t, prev.f, prev.gtd, cur.t, cur.f, cur.gtd, minStep, maxStep);
    prev = cur;
    cur = at(next);
    steps++;
  }

  // Zoom phase: lo satisfies sufficient decrease and has the lowest f of the bracket.
  let insufficientProgress = false;
  while (steps < maxSteps) {
    if (Math.abs(hi.t - lo.t) * dInf < changeTol) break;
    const a = Math.min(lo.t, hi.t);
    const b = Math.max(lo.t, hi.t);
    let t = Number.isFinite(hi.f)
      ? cubicMinimum(lo.t, lo.f, lo.gtd, hi.t, hi.f, hi.gtd, a, b)
      : (lo.t + hi.t) / 2;
    // Safeguard (as torch's _strong_wolfe): a trial too close to an end of the bracket is moved
    // to 10 % inside it, or allowed there once when the last trial made no progress.
    const eps = 0.1 * (b - a);
    if (Math.min(b - t, t - a) < eps) {
      if (insufficientProgress || t >= b || t <= a) {
        t = Math.abs(t - b) < Math.abs(t - a) ? b - eps : a + eps;
        insufficientProgress = false;
      } else {
        insufficientProgress = true;
      }
    } else {
      insufficientProgress = false;
    }
    const p = at(t);
    steps++;
    if (!Number.isFinite(p.f) || !armijo(p) || p.f >= lo.f) {
      hi = p;
    } else {
      if (curvature(p)) return { point: p, evaluations, ok: true };
      if (p.gtd * (hi.t - lo.t) >= 0) hi = lo;
      lo = p;
    }
  }
  // Not converged: the best point that decreases f (possibly t = 0, no move).
  return { point: lo, evaluations, ok: false };
}

/**
 * L-BFGS (two-loop recursion, `history` pairs, initial Hessian sᵀy/yᵀy) with a strong-Wolfe line
 * search; the first step length is min(1, 1/‖g‖₁), later ones 1. Pairs with yᵀs ≤ 1e-10 are
 * skipped. `x0` is not modified.
 */
export function lbfgs(fg: Objective, x0: Float64Array, opts: LbfgsOptions = {}): LbfgsResult {
  const maxIter = opts.maxIter ?? 1000;
  const maxEval = opts.maxEval ?? Math.ceil(maxIter * 1.25);
  const m = opts.history ?? 20;
  const gradTol = opts.gradTol ?? 1e-7;
  const changeTol = opts.changeTol ?? 1e-9;
  const n = x0.length;
  const x = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  const d = new Float64Array(n);
  let iterations = 0;
  let stop: LbfgsStop = 'max-iterations';
  if (infNorm(g) <= gradTol) return { x, f, gradInf: infNorm(g), iterations, evaluations, stop: 'gradient' };
  while (iterations < maxIter) {
    // d = −H g by the two-loop recursion.
    for (let i = 0; i < n; i++) d[i] = -g[i]!;
    for (let j = S.length - 1; j >= 0; j--) {
      const a = rho[j]! * dot(S[j]!, d);
      alpha[j] = a;
      const y = Y[j]!;
      for (let i = 0; i < n; i++) d[i] -= a * y[i]!;
    }
    if (S.length > 0) {
      const k = S.length - 1;
      const gamma = dot(S[k]!, Y[k]!) / dot(Y[k]!, Y[k]!);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let j = 0; j < S.length; j++) {
      const beta = rho[j]! * dot(Y[j]!, d);
      const s = S[j]!;
      const a = alpha[j]!;
      for (let i = 0; i < n; i++) d[i] += (a - beta) * s[i]!;
    }
    let gtd = dot(g, d);
    if (!(gtd < 0)) {
      // Not a descent direction (a poor curvature history): restart from steepest descent.
      S.length = 0; Y.length = 0; rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      gtd = dot(g, d);
    }
    let t0 = 1;
    if (iterations === 0) {
      let l1 = 0;
      for (let i = 0; i < n; i++) l1 += Math.abs(g[i]!);
      t0 = Math.min(1, 1 / l1);
    }
    const ls = strongWolfe(fg, x, d, f, g, t0, { changeTol, maxSteps: Math.max(1, Math.min(25, maxEval - evaluations)) });
    evaluations += ls.evaluations;
    const p = ls.point;
    iterations++;
    if (p.t === 0) { stop = 'line-search'; break; }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = p.t * d[i]!;
      x[i] += s[i]!;
      y[i] = p.g[i]! - g[i]!;
    }
    const ys = dot(y, s);
    if (ys > 1e-10) {
      if (S.length === m) { S.shift(); Y.shift(); rho.shift(); }
      S.push(s); Y.push(y); rho.push(1 / ys);
    }
    const fPrev = f;
    f = p.f;
    g = p.g;
    opts.onIteration?.(iterations, f);
    if (infNorm(g) <= gradTol) { stop = 'gradient'; break; }
    if (infNorm(s) <= changeTol || Math.abs(f - fPrev) < changeTol) { stop = 'change'; break; }
    if (evaluations >= maxEval) { stop = 'max-evaluations'; break; }
  }
  return { x, f, gradInf: infNorm(g), iterations, evaluations, stop };
}

/** Features and labels for a fit: X [N, D] row-major float64, labels in 0 … K−1. */
export interface LabelledData {
  X: Float64Array;
  labels: ArrayLike<number>;
  n: number;
  dim: number;
  classes: number;
}

/**
 * The probe's objective over θ = [W (K×D, row-major), b (K)]: mean softmax cross-entropy plus
 * (l2/2)·‖W‖² (b unpenalised), and its gradient.
 */
export function softmaxObjective(data: LabelledData, l2: number): Objective {
  const { X, labels, n: N, dim: D, classes: K } = data;
  checkData(data);
  const z = new Float64Array(K);
  return (theta, grad) => {
    grad.fill(0);
    const bOff = K * D;
    let loss = 0;
    for (let n = 0; n < N; n++) {
      const xo = n * D;
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        const wo = k * D;
        let s = theta[bOff + k]!;
        for (let j = 0; j < D; j++) s += theta[wo + j]! * X[xo + j]!;
        z[k] = s;
        if (s > max) max = s;
      }
      const y = labels[n]!;
      const zy = z[y]!;
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp(z[k]! - max);
        z[k] = e;
        sum += e;
      }
      // log Σ exp(z) − z_y, shifted by the largest z.
      loss += Math.log(sum) + max - zy;
      const inv = 1 / sum;
      for (let k = 0; k < K; k++) {
        const r = z[k]! * inv - (k === y ? 1 : 0);
        if (r === 0) continue;
        grad[bOff + k] += r;
        const wo = k * D;
        for (let j = 0; j < D; j++) grad[wo + j] += r * X[xo + j]!;
      }
    }
    const invN = 1 / N;
    let penalty = 0;
    for (let i = 0; i < bOff; i++) {
      const w = theta[i]!;
      penalty += w * w;
      grad[i] = grad[i]! * invN + l2 * w;
    }
    for (let k = 0; k < K; k++) grad[bOff + k] *= invN;
    return loss * invN + 0.5 * l2 * penalty;
  };
}

function checkData(d: LabelledData): void {
  if (!Number.isInteger(d.n) || d.n < 1 || !Number.isInteger(d.dim) || d.dim < 1 || !Number.isInteger(d.classes) || d.classes < 2) {
    throw new RangeError(`logistic regression needs n ≥ 1, dim ≥ 1 and ≥ 2 classes, got n ${d.n}, dim ${d.dim}, classes ${d.classes}`);
  }
  if (d.X.length !== d.n * d.dim) throw new RangeError(`X holds ${d.X.length} values, expected n·dim = ${d.n * d.dim}`);
  if (d.labels.length !== d.n) throw new RangeError(`${d.labels.length} labels for ${d.n} rows`);
  for (let i = 0; i < d.n; i++) {
    const y = d.labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= d.classes) throw new RangeError(`label ${y} of row ${i} is not a class in 0…${d.classes - 1}`);
  }
}

export interface LogisticFit {
  /** [K, D] row-major. */
  weight: Float64Array;
  /** [K]. */
  bias: Float64Array;
  l2: number;
  objective: number;
  gradInf: number;
  iterations: number;
  evaluations: number;
  stop: LbfgsStop;
}

/** Fits W, b from zeros by L-BFGS (see lbfgs for the options). */
export function fitLogistic(data: LabelledData, l2: number, opts: LbfgsOptions = {}): LogisticFit {
  if (!(l2 >= 0) || !Number.isFinite(l2)) throw new RangeError(`l2 must be a finite number ≥ 0, got ${l2}`);
  const K = data.classes;
  const D = data.dim;
  const r = lbfgs(softmaxObjective(data, l2), new Float64Array(K * D + K), opts);
  return {
    weight: r.x.slice(0, K * D),
    bias: r.x.slice(K * D),
    l2,
    objective: r.f,
    gradInf: r.gradInf,
    iterations: r.iterations,
    evaluations: r.evaluations,
    stop: r.stop,
  };
}

/** argmax_k (W x + b)_k for each row of X [N, D] (the lowest k on ties). */
export function predictLogistic(weight: ArrayLike<number>, bias: ArrayLike<number>, X: Float64Array, n: number, dim: number): Int32Array {
  const K = bias.length;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const xo = i * dim;
    let best = 0;
    let bestZ = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = bias[k]!;
      const wo = k * dim;
      for (let j = 0; j < dim; j++) s += weight[wo + j]! * X[xo + j]!;
      if (s > bestZ) { bestZ = s; best = k; }
    }
    out[i] = best;
  }
  return out;
}
