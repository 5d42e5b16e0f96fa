// Float weights read from u32 words, shared by the kernels with 16/32-bit weights; pipelines.ts pastes it
// where a kernel has the line `//! include float_words.wgsl` (last, so compiler line numbers match the
// kernel's own file). The includer declares `weights: array<u32>` and `override WDT: u32` (0 bf16: the
// top half of an f32, unpacked by shifts; 1 f16; 2 f32); rows have `cols` columns, cols even, so a word
// never straddles two rows.

/** Weights at columns 2i and 2i+1 of row r. */
fn weight_pair(r: u32, i: u32, cols: u32) -> vec2<f32> {
  if (WDT == 2u) {
    let k = r * cols + 2u * i;
    return vec2<f32>(bitcast<f32>(weights[k]), bitcast<f32>(weights[k + 1u]));
  }
  let word = weights[r * (cols / 2u) + i];
  if (WDT == 1u) {
    return unpack2x16float(word);
  }
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}
