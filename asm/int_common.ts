// Shared by the fast path's integer kernels (f32_i8w_matmul, f32_mxfp4w_matmul_q8): a 32-value block's
// largest |x| for the activation quantizers, and storing a row group's four results. Imported, not exported.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * y[r..r+4) = f + bias[r..] (bias 0: none); rows at or past `valid` (a partial last group's padding) are not
 * stored. The bias is read as a whole v128: callers allocate it in whole v128s or accept reading up to 12
 * bytes past it (the lanes past `valid` are dropped).
 */
@inline export function storeRows(y: usize, f: v128, bias: usize, r: i32, valid: i32): void {
  const o = <usize>r << 2;
  const v = bias ? f32x4.add(f, v128.load(bias + o)) : f;
  if (valid >= 4) { v128.store(y + o, v); return; }
  store<f32>(y + o, f32x4.extract_lane(v, 0));
  if (valid > 1) store<f32>(y + o, f32x4.extract_lane(v, 1), 4);
  if (valid > 2) store<f32>(y + o, f32x4.extract_lane(v, 2), 8);
}

/** The largest |x| of the 32 floats at s (NaN if one is NaN). */
@inline export function blockMaxAbs(s: usize): f32 {
  let m = f32x4.abs(v128.load(s));
  for (let j = 1; j < 8; j++) m = f32x4.max(m, f32x4.abs(v128.load(s + (<usize>j << 4))));
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}
