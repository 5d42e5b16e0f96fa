// MXFP4 (OCP microscaling FP4): blocks of 32 e2m1 codes sharing one e8m0 power-of-two scale.
// Layout as in gpt-oss checkpoints: blocks[..., row, g, j] holds input columns 32g+2j (low nibble)
// and 32g+2j+1 (high nibble); scales[..., row, g] is an exponent with bias 127.

/** e2m1 code -> value. Bit 3 is the sign; bits 0-2 index [0, .5, 1, 1.5, 2, 3, 4, 6]. */
export const E2M1_VALUES: readonly number[] = [
  0,
  0.5,
  1,
  1.5,
  2,
  3,
  4,
  6,
  -0,
  -0.5,
  -1,
  -1.5,
  -2,
  -3,
  -4,
  -6,
];

/** e8m0 exponent byte -> 2^(e-127). (255 is NaN in the spec; gpt-oss checkpoints do not use it.) */
export function e8m0ToF32(e: number): number {
  return e === 255 ? NaN : 2 ** (e - 127);
}

/** Experts of one MXFP4 projection: [experts, rows, cols] decoded, with a per-row bias. */
export interface Mxfp4Experts {
  readonly numExperts: number;
  readonly rows: number;
  /** Input width; a multiple of 32 (one MXFP4 block). */
  readonly cols: number;
  /** [experts, rows, cols/32, 16] u8: two codes per byte, low nibble first. */
  readonly blocks: Uint8Array;
  /** [experts, rows, cols/32] u8 e8m0 exponents. */
  readonly scales: Uint8Array;
  /** [experts, rows] float32. */
  readonly bias: Float32Array;
}

/** Decodes `cols` values of one row (given its blocks and scales) into `out`. */
export function decodeMxfp4Row(
  blocks: Uint8Array,
  blockOffset: number,
  scales: Uint8Array,
  scaleOffset: number,
  cols: number,
  out: Float32Array,
): void {
  for (let g = 0; g < cols / 32; g++) {
    const s = e8m0ToF32(scales[scaleOffset + g]);
    for (let j = 0; j < 16; j++) {
      const byte = blocks[blockOffset + g * 16 + j];
      out[g * 32 + 2 * j] = E2M1_VALUES[byte & 15] * s;
      out[g * 32 + 2 * j + 1] = E2M1_VALUES[byte >> 4] * s;
    }
  }
}

/** Row `row` of expert `e`, decoded to float32 into `out` (length cols). */
export function expertRow(m: Mxfp4Experts, e: number, row: number, out: Float32Array): void {
  const r = e * m.rows + row;
  decodeMxfp4Row(m.blocks, r * (m.cols / 2), m.scales, r * (m.cols / 32), m.cols, out);
}
