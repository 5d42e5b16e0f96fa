// MXFP4 decoding shared by the MoE kernels; pipelines.ts pastes it where a kernel has the line
// `//! include mxfp4.wgsl` (kernels put it last, so compiler line numbers match their own file). Blocks are
// u32 words of 8 e2m1 codes (low nibble first); a scale is an e8m0 byte.

/**
 * e2m1 code -> f32 by building the float's bits (no table: indexing a table is slow on GPUs): bit 3 is
 * the sign, e = bits 1-2, m = bit 0; e > 0 gives (1 + m/2) 2^(e-1), e = 0 gives m/2.
 */
fn e2m1(code: u32) -> f32 {
  let e = (code >> 1u) & 3u;
  let m = code & 1u;
  let bits = select(((e + 126u) << 23u) | (m << 22u), m * (126u << 23u), e == 0u);
  return bitcast<f32>(bits | ((code & 8u) << 28u));
}

/** Byte i of an array of u32 words (scales are bytes), given the word that holds it. */
fn byte_of(word: u32, i: u32) -> u32 {
  return (word >> ((i % 4u) * 8u)) & 0xffu;
}

/** An e8m0 scale byte as 2^(byte - 127). */
fn e8m0(byte: u32) -> f32 {
  return exp2(f32(byte) - 127.0);
}

/** The 8 codes of word `w` (input columns 8q..8q+7). */
fn codes8(w: u32) -> array<f32, 8> {
  return array<f32, 8>(
    e2m1(w & 15u), e2m1((w >> 4u) & 15u), e2m1((w >> 8u) & 15u), e2m1((w >> 12u) & 15u),
    e2m1((w >> 16u) & 15u), e2m1((w >> 20u) & 15u), e2m1((w >> 24u) & 15u), e2m1(w >> 28u),
  );
}

/** The 8 codes of `w` (low nibble first) dotted with the 8 inputs xa, xb. */
fn dot8(w: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
  let c = codes8(w);
  return dot(vec4<f32>(c[0], c[1], c[2], c[3]), xa) + dot(vec4<f32>(c[4], c[5], c[6], c[7]), xb);
}
