// One AdamW step over a run of parameters, as torch 1.13's torch.optim.AdamW (single-tensor path)
// computes it in float32, operation by operation:
//   p ← p·(1 − lr·wd);  m ← m·β1 + (1 − β1)·g;  v ← v·β2 + (1 − β2)·g·g;
//   p ← p − (lr/(1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
// The scalars arrive as float32, as torch casts its Python floats for a float32 tensor.

/** n values of p, m, v updated in place from g; the last n % 4 one by one with the same operations. */
@inline export function adamwStep(p: usize, g: usize, m: usize, v: usize, n: i32, decay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, sqrtBc2: f32, eps: f32, stepSize: f32): void {
  const vecEnd = n & ~3;
  const decayV = f32x4.splat(decay), b1 = f32x4.splat(beta1), a1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2), a2 = f32x4.splat(oneMinusBeta2), bc2 = f32x4.splat(sqrtBc2);
  const epsV = f32x4.splat(eps), step = f32x4.splat(stepSize);
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const pv = f32x4.mul(v128.load(p + o), decayV);
    const mv = f32x4.add(f32x4.mul(v128.load(m + o), b1), f32x4.mul(a1, gv));
    const vv = f32x4.add(f32x4.mul(v128.load(v + o), b2), f32x4.mul(f32x4.mul(a2, gv), gv));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc2), epsV);
    v128.store(p + o, f32x4.sub(pv, f32x4.mul(step, f32x4.div(mv, denom))));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const ps = load<f32>(p + o) * decay;
    const ms = load<f32>(m + o) * beta1 + oneMinusBeta1 * gs;
    const vs = load<f32>(v + o) * beta2 + oneMinusBeta2 * gs * gs;
    const denom = Mathf.sqrt(vs) / sqrtBc2 + eps;
    store<f32>(p + o, ps - stepSize * (ms / denom));
    store<f32>(m + o, ms);
    store<f32>(v + o, vs);
  }
}
