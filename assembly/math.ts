// Scalar math the kernels need and AssemblyScript's stdlib lacks: the exact (erf) GELU.

/** 2/sqrt(pi). */
const TWO_OVER_SQRT_PI: f64 = 1.1283791670955126;

/**
 * erf(x) in float64. |x| < 2.5: the Maclaurin series (terms shrink fast enough that the sum is
 * exact to ~1e-15 there); beyond: Lentz's continued fraction for erfc, exact to ~1e-15 for
 * x >= 2.5. Both branches are far below float32 resolution, so GELU is the torch `nn.GELU()` value
 * up to float32 rounding (a tanh approximation would be off by up to ~1e-3).
 */
export function erf(x: f64): f64 {
  const ax = abs(x);
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x;       // x^(2n+1) (-1)^n / n!
    let sum = x;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / <f64>n;
      const contrib = term / <f64>(2 * n + 1);
      sum += contrib;
      if (abs(contrib) < 1e-17 * abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  if (ax > 6.0) return x > 0 ? 1.0 : -1.0;
  // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + 1/2/(a + 1/(a + 3/2/(a + 2/(a + ...)))))
  // evaluated bottom-up with a fixed depth that converges for a >= 2.5.
  let f: f64 = ax;
  for (let k = 60; k >= 1; k--) f = ax + (<f64>k * 0.5) / f;
  const erfc = Math.exp(-ax * ax) / (f * 1.7724538509055159);
  return x > 0 ? 1.0 - erfc : erfc - 1.0;
}

/** GELU(x) = x·Φ(x) = 0.5·x·(1 + erf(x/√2)), the exact form. */
@inline export function gelu(x: f32): f32 {
  const xd = <f64>x;
  return <f32>(0.5 * xd * (1.0 + erf(xd * 0.7071067811865476)));
}
