// Shared SIMD helpers for the dense-family kernels: a 4-lane exp (Cephes-style range reduction and a
// degree-5 polynomial, within 2 ulp over the clamped range) and a horizontal sum. Imported, not exported.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * e^x per lane. x is clamped to [-87.3, 88.3] first, so the result is always a normal f32 (e^-87.3 is
 * about 1e-38, not 0, and +inf never appears); NaN stays NaN. Plain mul/add, never fused, so the same
 * input gives the same bits on every machine.
 */
@inline export function exp4(x: v128): v128 {
  const c = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  // c = n ln2 + r with |r| <= ln2 / 2; ln2 split in two so n * hi is exact
  const n = f32x4.nearest(f32x4.mul(c, f32x4.splat(1.44269504)));
  let r = f32x4.sub(c, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n built in the exponent field: n is in [-126, 127] after the clamp
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

/** 1 / (1 + e^-x) per lane (the logistic sigmoid). */
@inline export function sigmoid4(x: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), exp4(f32x4.neg(x))));
}

@inline export function hsum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
