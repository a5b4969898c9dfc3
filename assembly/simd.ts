// v128 helpers shared by the generated kernels.

/** Horizontal sum of the four f32 lanes. */
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Stores the first `lanes` (1..3) lanes of v at p: the tail of a row whose width is not a multiple of 4. */
@inline export function storeLanes(p: usize, v: v128, lanes: i32): void {
  f32.store(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) f32.store(p, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) f32.store(p, f32x4.extract_lane(v, 2), 8);
}
