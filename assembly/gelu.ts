// Vector exp and exact-form GELU on f32x4 lanes.
//
// The polynomials were fitted for edge-mae (least squares on Chebyshev nodes, float64) and checked
// in float32 arithmetic against float64 erf/erfc on 240,001 points in [-12, 12]:
//   GELU: |err| <= 9.4e-8 * (1 + |gelu(x)|) (under one float32 ulp at the scale of 1).
//   exp on [-87, 0]: relative error <= ~2e-7 (degree-7 Taylor on |r| <= ln2/2 after range reduction).
// A tanh-form GELU differs from the erf form by up to ~1e-3.

// Constants live pre-splatted in static data and are loaded where used: V8 (x64) otherwise
// rebuilds every v128 constant inside the loop from two immediates (3 instructions each; the
// softmax's exp loop spent a third of its instructions so). Clamps use pmax, one maxps, where
// f32x4.max's NaN rules cost 8 instructions; a NaN input still comes out NaN.
const C: usize = memory.data<f32>([
  // 0 exp: clamp, log2(e), 1.5·2^23 (adding it rounds to an integer), ln2 hi, ln2 lo
  -87.0, -87.0, -87.0, -87.0,
  1.4426950408889634, 1.4426950408889634, 1.4426950408889634, 1.4426950408889634,
  12582912.0, 12582912.0, 12582912.0, 12582912.0,
  0.693145751953125, 0.693145751953125, 0.693145751953125, 0.693145751953125,
  1.428606765330187e-6, 1.428606765330187e-6, 1.428606765330187e-6, 1.428606765330187e-6,
  // 5 exp: Taylor 1/7! … 1/2!, 1
  <f32>(1.0 / 5040.0), <f32>(1.0 / 5040.0), <f32>(1.0 / 5040.0), <f32>(1.0 / 5040.0),
  <f32>(1.0 / 720.0), <f32>(1.0 / 720.0), <f32>(1.0 / 720.0), <f32>(1.0 / 720.0),
  <f32>(1.0 / 120.0), <f32>(1.0 / 120.0), <f32>(1.0 / 120.0), <f32>(1.0 / 120.0),
  <f32>(1.0 / 24.0), <f32>(1.0 / 24.0), <f32>(1.0 / 24.0), <f32>(1.0 / 24.0),
  <f32>(1.0 / 6.0), <f32>(1.0 / 6.0), <f32>(1.0 / 6.0), <f32>(1.0 / 6.0),
  0.5, 0.5, 0.5, 0.5,
  1.0, 1.0, 1.0, 1.0,
  // 12 GELU: 1/√2, A (degree 6, highest first)
  0.7071067811865476, 0.7071067811865476, 0.7071067811865476, 0.7071067811865476,
  7.933446220899164e-05, 7.933446220899164e-05, 7.933446220899164e-05, 7.933446220899164e-05,
  -0.0008034834199392154, -0.0008034834199392154, -0.0008034834199392154, -0.0008034834199392154,
  0.005191217196651064, 0.005191217196651064, 0.005191217196651064, 0.005191217196651064,
  -0.02685539896494589, -0.02685539896494589, -0.02685539896494589, -0.02685539896494589,
  0.1128362571714294, 0.1128362571714294, 0.1128362571714294, 0.1128362571714294,
  -0.3761262987742331, -0.3761262987742331, -0.3761262987742331, -0.3761262987742331,
  1.1283791665932934, 1.1283791665932934, 1.1283791665932934, 1.1283791665932934,
  // 20 GELU: B (degree 8, highest first)
  1.0271333018987832, 1.0271333018987832, 1.0271333018987832, 1.0271333018987832,
  -3.4781718316717747, -3.4781718316717747, -3.4781718316717747, -3.4781718316717747,
  4.776621872531593, 4.776621872531593, 4.776621872531593, 4.776621872531593,
  -2.9824257783310393, -2.9824257783310393, -2.9824257783310393, -2.9824257783310393,
  0.36126231022892774, 0.36126231022892774, 0.36126231022892774, 0.36126231022892774,
  0.1652728982967431, 0.1652728982967431, 0.1652728982967431, 0.1652728982967431,
  0.577578487858004, 0.577578487858004, 0.577578487858004, 0.577578487858004,
  0.5633044518352892, 0.5633044518352892, 0.5633044518352892, 0.5633044518352892,
  2.5788464085144996e-05, 2.5788464085144996e-05, 2.5788464085144996e-05, 2.5788464085144996e-05,
], 16);

/** 127, the float exponent bias, as four i32 lanes. */
const EXPONENT_BIAS: usize = memory.data<i32>([127, 127, 127, 127], 16);

/** The i-th constant, four lanes. */
@inline function c(i: i32): v128 { return v128.load(C + (<usize>i << 4)); }

/** acc·z + constant i. */
@inline function fma(acc: v128, z: v128, i: i32): v128 {
  return f32x4.add(f32x4.mul(acc, z), c(i));
}

/** e^y for y <= 0 (inputs below -87 give ~0). */
@inline export function exp4(y: v128): v128 {
  y = f32x4.pmax(y, c(0));
  // k = round(y·log2 e): adding 1.5·2^23 rounds to nearest, and k + 127 lands in the low bits.
  const kMagic = f32x4.add(f32x4.mul(y, c(1)), c(2));
  const k = f32x4.sub(kMagic, c(2));
  // r = y − k·ln2, ln2 split in two so k·ln2_hi is exact.
  let r = f32x4.sub(y, f32x4.mul(k, c(3)));
  r = f32x4.sub(r, f32x4.mul(k, c(4)));
  let p = c(5);
  p = fma(p, r, 6);
  p = fma(p, r, 7);
  p = fma(p, r, 8);
  p = fma(p, r, 9);
  p = fma(p, r, 10);
  p = fma(p, r, 11);
  p = fma(p, r, 11);
  // 2^k by building the float's exponent field: (bits(kMagic) + 127) << 23 keeps k + 127.
  const twoK = i32x4.shl(i32x4.add(kMagic, v128.load(EXPONENT_BIAS)), 23);
  return f32x4.mul(p, twoK);
}

/**
 * GELU(x) = x/2 · (1 + erf(x/√2)). With a = |x|/√2:
 *   a < 1:  erf(a) = a · A(a²)                    (A: degree 6)
 *   a >= 1: erfc(a) = e^(−a²) · B(1/(1 + a))      (B: degree 8)
 * and for x < 0, 1 + erf(−a) = erfc(a) is used directly (no cancellation for large negative x).
 */
@inline export function gelu4(x: v128): v128 {
  return f32x4.mul(f32x4.mul(x, c(10)), twoPhi4(x));
}

/**
 * 2·Φ(x) = 1 + erf(x/√2), the standard normal CDF doubled, with the erf/erfc split above: the
 * GELU's factor and, halved, the first term of its derivative (assembly/gelu_backward.ts).
 */
@inline export function twoPhi4(x: v128): v128 {
  return twoPhiWith4(x, halfSquareExp4(x));
}

/**
 * e^(−x²/2) as twoPhi4 computes it (a = |x|/√2, e^(−a²)): the erfc branch's factor, and √(2π)·φ(x)
 * for the derivative, so a GELU and its derivative computed together share one exp.
 */
@inline export function halfSquareExp4(x: v128): v128 {
  const a = f32x4.mul(f32x4.abs(x), c(12));
  return exp4(f32x4.neg(f32x4.mul(a, a)));
}

/** twoPhi4 with e = halfSquareExp4(x) given (the same operations, so the same bits). */
@inline export function twoPhiWith4(x: v128, e: v128): v128 {
  const a = f32x4.mul(f32x4.abs(x), c(12));
  const a2 = f32x4.mul(a, a);
  let pa = c(13);
  pa = fma(pa, a2, 14);
  pa = fma(pa, a2, 15);
  pa = fma(pa, a2, 16);
  pa = fma(pa, a2, 17);
  pa = fma(pa, a2, 18);
  pa = fma(pa, a2, 19);
  const erfSmall = f32x4.mul(a, pa);
  const one = c(11);
  const t = f32x4.div(one, f32x4.add(one, a));
  let pb = c(20);
  pb = fma(pb, t, 21);
  pb = fma(pb, t, 22);
  pb = fma(pb, t, 23);
  pb = fma(pb, t, 24);
  pb = fma(pb, t, 25);
  pb = fma(pb, t, 26);
  pb = fma(pb, t, 27);
  pb = fma(pb, t, 28);
  const erfcLarge = f32x4.mul(e, pb);
  const small = f32x4.lt(a, one);
  // erfc(a) and 1 + erf(a) for each lane's branch.
  const erfc = v128.bitselect(f32x4.sub(one, erfSmall), erfcLarge, small);
  const onePlusErf = f32x4.add(one, f32x4.sub(one, erfc));
  return v128.bitselect(onePlusErf, erfc, f32x4.ge(x, f32x4.splat(0.0)));
}

/** GELU(x) from tp = twoPhi4(x): gelu4's last step. */
@inline export function geluOf4(x: v128, tp: v128): v128 {
  return f32x4.mul(f32x4.mul(x, c(10)), tp);
}

/**
 * out[i] = GELU(x[i]) for n values (training: fc1's pre-activation is kept, GELU applied apart);
 * gelu4, the GEMM epilogue's function, so the values are the fused forward's. out may be x.
 */
@inline export function geluRows(x: usize, out: usize, n: i32): void {
  const vecEnd = n & ~3;
  let i = 0;
  for (; i < vecEnd; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, gelu4(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, f32x4.extract_lane(gelu4(f32x4.splat(load<f32>(x + o))), 0));
  }
}
