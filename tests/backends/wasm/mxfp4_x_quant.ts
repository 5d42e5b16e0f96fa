// The 22-bit activation quantization of quantize_mxfp4_x as the MXFP4 kernel tests bound it: the step and
// each 32-column block's largest |x|, shared by f32_mxfp4w_matmul_test.ts and f32_mxfp4w_moe_test.ts.

/**
 * Largest move of a quantized activation, relative to its block's largest |x|: q rounds to half a step of
 * maxabs / (2^22 - 1) and the scale is an f32 (2^-24 of maxabs): below 2^-22.
 */
export const QUANT_STEP = 2 ** -22;

/** Largest |x| of each 32-column block of row t of x [*, cols]. */
export function blockMaxAbs(x: Float32Array, t: number, cols: number): Float32Array {
  const m = new Float32Array(cols / 32);
  for (let c = 0; c < cols; c++) m[c >> 5] = Math.max(m[c >> 5], Math.abs(x[t * cols + c]));
  return m;
}
