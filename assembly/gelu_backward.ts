// Exact (erf) GELU's backward: dx = dy·GELU'(u), GELU'(u) = Φ(u) + u·φ(u), from the saved
// pre-activation u. Φ is assembly/gelu.ts's twoPhi4 halved, φ(u) = e^(−u²/2)/√(2π) its exp4:
// the forward's approximations, so forward and backward agree on the function they differentiate.
// Measured in float32 against float64 GELU' on [-10, 10] (2,561 points, test/backward-kernels.test.ts):
// |err| <= 7.7e-8·(1 + |GELU'(u)|); the tanh form's derivative differs by far more (the test checks it leaves the 4e-7 bound).
import { exp4, twoPhi4 } from './gelu';

/** 0.5, −0.5, 1/√(2π), four lanes each (pre-splatted: see assembly/gelu.ts). */
const K: usize = memory.data<f32>([
  0.5, 0.5, 0.5, 0.5,
  -0.5, -0.5, -0.5, -0.5,
  0.3989422804014327, 0.3989422804014327, 0.3989422804014327, 0.3989422804014327,
], 16);

/** GELU'(u) on four lanes. */
@inline export function geluDerivative4(u: v128): v128 {
  const half = v128.load(K);
  const pdf = f32x4.mul(exp4(f32x4.mul(f32x4.mul(u, u), v128.load(K, 16))), v128.load(K, 32));
  return f32x4.add(f32x4.mul(twoPhi4(u), half), f32x4.mul(u, pdf));
}

/**
 * GELU'(x) = Φ(x) + x·φ(x) from tp = twoPhi4(x) and e = halfSquareExp4(x) (assembly/gelu.ts: the
 * GELU's own erf and exp, e = e^(−x²/2)): what a training forward saves beside GELU(x) (fc1's GEMM
 * epilogue) so that the backward is a multiply (fc2's dx epilogue).
 */
@inline export function geluDerivativeOf4(x: v128, tp: v128, e: v128): v128 {
  return f32x4.add(f32x4.mul(tp, v128.load(K)), f32x4.mul(x, f32x4.mul(e, v128.load(K, 32))));
}

/** dx[i] = dy[i]·GELU'(u[i]) for n values; dx may be dy. The last n % 4 go through one partial vector. */
@inline export function geluBackward(dy: usize, u: usize, dx: usize, n: i32): void {
  const vecEnd = n & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), geluDerivative4(v128.load(u + o))));
  }
  // Tail: lanes gathered one by one (no load past the arrays), the same vector math, stored lane by lane.
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const d = geluDerivative4(f32x4.splat(load<f32>(u + o)));
    store<f32>(dx + o, load<f32>(dy + o) * f32x4.extract_lane(d, 0));
  }
}
