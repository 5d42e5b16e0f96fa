// Scalar definition of the fast path's integer arithmetic (asm/f32_i8w_matmul.ts): int8 weights and
// activations quantized per 32-value block, exact integer dots per block. The
// WASM kernels are tested against these; the quality gate measures what they cost against f32Bf16wMatmul().

import { bf16ToF32, type Mat } from "../../model/dtypes.ts";
import { E2M1_VALUES, e8m0ToF32, type Mxfp4Experts } from "../../model/mxfp4.ts";

/** Round half to even, as wasm's f64 `nearest`. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Weights quantized per row and 32-column block: q[r, c] in [-127, 127], w ~ q * scale[r, c/32]. */
export interface I8Weights {
  readonly rows: number;
  readonly cols: number;
  readonly q: Int8Array;
  readonly scale: Float32Array;
}

const bits = new Uint32Array(1), asF32 = new Float32Array(bits.buffer);

/** f32(x) rounded up in magnitude to the next bf16 (x >= 0). */
export function bf16Up(x: number): number {
  asF32[0] = x;
  if (bits[0] & 0xffff) bits[0] = (bits[0] + 0x10000) & 0xffff0000;
  return asF32[0];
}

/**
 * Per row and 32-column block: scale = bf16Up(f32(maxabs / 127)) (never below maxabs / 127), q =
 * round_even(w / scale) in f64 (an all-zero block: 0, 0). cols % 32 == 0.
 */
export function quantizeI8Weights(m: Mat): I8Weights {
  const nb = m.cols / 32, q = new Int8Array(m.rows * m.cols), scale = new Float32Array(m.rows * nb);
  const at = (i: number) =>
    m.dtype === "BF16" ? bf16ToF32((m.data as Uint16Array)[i]) : (m.data as Float32Array)[i];
  for (let r = 0; r < m.rows; r++) {
    for (let b = 0; b < nb; b++) {
      const i0 = r * m.cols + b * 32;
      let maxAbs = 0;
      for (let j = 0; j < 32; j++) maxAbs = Math.max(maxAbs, Math.abs(at(i0 + j)));
      const s = bf16Up(Math.fround(maxAbs / 127));
      scale[r * nb + b] = s;
      for (let j = 0; j < 32; j++) q[i0 + j] = s > 0 ? roundEven(at(i0 + j) / s) : 0;
    }
  }
  return { rows: m.rows, cols: m.cols, q, scale };
}

/** Activations quantized per 32-value block: q[t, c] in [-qMax, qMax], x ~ q * scale[t, c/32]. */
export interface QBlocks {
  readonly q: Int32Array;
  readonly scale: Float32Array;
}

/** The activations' levels of f32_i8w_matmul: one int8 level, as llama.cpp's Q8_0 activations. */
export const I8W_X_QMAX = 127;

/**
 * Per block of 32: scale = f32(maxabs / qMax), q = round_even(x * (qMax / maxabs)) in f64 (an all-zero
 * block: 0, 0). cols % 32 == 0.
 */
export function quantizeBlocks(x: Float32Array, tokens: number, cols: number, qMax: number): QBlocks {
  const q = new Int32Array(tokens * cols), scale = new Float32Array((tokens * cols) / 32);
  for (let b = 0; b < scale.length; b++) {
    let maxAbs = 0;
    for (let j = 0; j < 32; j++) maxAbs = Math.max(maxAbs, Math.abs(x[b * 32 + j]));
    const inv = maxAbs > 0 ? qMax / maxAbs : 0;
    scale[b] = maxAbs > 0 ? maxAbs / qMax : 0;
    for (let j = 0; j < 32; j++) q[b * 32 + j] = roundEven(x[b * 32 + j] * inv);
  }
  return { q, scale };
}

/**
 * y[t, r] = f32(sum_b f32(dot_b) * f32(ws[r, b] * xs[t, b])) + bias[r], with dot_b the exact integer dot of
 * block b and the block sum formed in f32 in block order (one fused or unfused multiply-add per block:
 * `fma` says which, as the machine's relaxed_madd does).
 */
export function f32I8wMatmul(
  y: Float32Array,
  x: QBlocks,
  w: I8Weights,
  bias: Float32Array | null,
  tokens: number,
  fma = true,
): void {
  const nb = w.cols / 32, f = Math.fround;
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < w.rows; r++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        let dot = 0;
        for (let j = 0; j < 32; j++) dot += w.q[r * w.cols + b * 32 + j] * x.q[t * w.cols + b * 32 + j];
        const s = f(w.scale[r * nb + b] * x.scale[t * nb + b]);
        acc = fma ? f(dot * s + acc) : f(f(dot * s) + acc);
      }
      y[t * w.rows + r] = f(acc + (bias ? bias[r] : 0));
    }
  }
}

/**
 * y[t, r] = f32(sum_b f32(dot_b) * f32(xs[t, b] / 2 * 2^(e[r, b] - 127))) + bias[e, r] for MXFP4 expert e on
 * activations quantized by quantizeBlocks(x, ..., 127): dot_b = sum of 2 * e2m1 value * q over block b,
 * exact, the block sum in f32 in block order (fused or not as `fma` says). asm/f32_mxfp4w_matmul_q8.ts.
 */
export function f32Mxfp4wMatmulQ8(
  y: Float32Array,
  x: QBlocks,
  m: Mxfp4Experts,
  e: number,
  tokens: number,
  fma = true,
): void {
  const nb = m.cols / 32, f = Math.fround;
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < m.rows; r++) {
      const row = e * m.rows + r;
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        let dot = 0;
        for (let j = 0; j < 16; j++) {
          const byte = m.blocks[(row * nb + b) * 16 + j], c = t * m.cols + b * 32 + 2 * j;
          dot += 2 * E2M1_VALUES[byte & 15] * x.q[c] + 2 * E2M1_VALUES[byte >> 4] * x.q[c + 1];
        }
        const s = f(f(x.scale[t * nb + b] * 0.5) * e8m0ToF32(m.scales[row * nb + b]));
        acc = fma ? f(dot * s + acc) : f(f(dot * s) + acc);
      }
      y[t * m.rows + r] = f(acc + m.bias[row]);
    }
  }
}
