// The MoE expert step on a row-slice of every expert: gate_up + clamped SwiGLU, then down + weighted sum.
// Tokens are grouped by expert so each expert's weights stream once per call (prefill reuses them). A call
// runs the experts [e0, e1): the host splits a long step into consecutive ranges and can abandon it between
// two (a stop); the range starting at 0 quantizes the input, the one ending at `experts` finishes the rows.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { f32_mxfp4w_matmul, quantize_mxfp4_x } from "./f32_mxfp4w_matmul";
import { f32_mxfp4w_matmul_q8, mxfp4_rows4_bytes, quantize_q8_x } from "./f32_mxfp4w_matmul_q8";

/**
 * Expert e's matmul on activations quantized by quantizeX: 22 bits on the checkpoint layout (blocks,
 * scales: see f32_mxfp4w_matmul.ts), or int8 on the four-row packing (blocks: pack_mxfp4_rows4 output,
 * scales unused: see f32_mxfp4w_matmul_q8.ts).
 */
function expertMatmul(
  int8: bool, e: i32, blocks: usize, scales: usize, bias: usize, rows: i32, cols: i32,
  xq: usize, xRows: usize, n: i32, y: usize, yRows: usize, yStride: i32, scratch: usize,
): void {
  const b = bias + (<usize>e * <usize>rows << 2);
  if (int8) {
    const w = blocks + <usize>e * <usize>mxfp4_rows4_bytes(rows, cols);
    f32_mxfp4w_matmul_q8(w, b, rows, cols, xq, xRows, n, y, yRows, yStride, scratch);
  } else {
    const eBlocks = <usize>rows * <usize>(cols >> 1), eScales = <usize>rows * <usize>(cols >> 5);
    f32_mxfp4w_matmul(blocks + <usize>e * eBlocks, scales + <usize>e * eScales, b, rows, cols, xq, xRows, n, y, yRows, yStride);
  }
}

/** Quantizes activations for expertMatmul: 22 bits (f32-like), or int8 when asked (faster, 2^-8). */
function quantizeX(int8: bool, x: usize, xq: usize, rows: i32, cols: i32): void {
  if (int8) quantize_q8_x(x, xq, rows, cols);
  else quantize_mxfp4_x(x, xq, rows, cols);
}

/**
 * Writes into lists the (input row, output row) pairs of the selections that chose expert e:
 * selection i = t*k + j reads input row (perSelection ? i : t) and writes row i. Returns their count.
 */
function gather(sel: usize, count: i32, k: i32, e: i32, perSelection: bool, xList: usize, yList: usize): i32 {
  let n = 0;
  for (let i = 0; i < count; i++) {
    if (load<i32>(sel + (<usize>i << 2)) != e) continue;
    store<i32>(xList + (<usize>n << 2), perSelection ? i : i / k);
    store<i32>(yList + (<usize>n << 2), i);
    n++;
  }
  return n;
}

/**
 * act[i, p] for selection i = t*k + j (expert sel[i]) and pair p < rows/2 of this slice:
 * g = min(gate, limit), u = clamp(up, ±limit), act = (u + 1) * g * sigmoid(alpha * g), where gate and up
 * are rows 2p and 2p+1 of W_e x[t] + b_e. Weights: [experts, rows, cols/32, 16] blocks, [experts, rows,
 * cols/32] scales (int8: [experts] pack_mxfp4_rows4 packings in blocks), [experts, rows] bias. tmp:
 * [tokens*k, rows] f32; lists: 2*tokens*k i32; xp: tokens*cols f32 (holds the quantized x).
 * int8: int8 activations on the four-row packing instead of 22 bits on the checkpoint layout. Experts
 * [e0, e1) only: e0 == 0 quantizes x into xp, e1 == experts computes act from tmp (so consecutive ranges
 * covering [0, experts), called in order, give exactly the result of one call over all of them).
 * scratch (int8 only): mxfp4_q8_scratch_bytes(tokens * k, cols) bytes (an expert meets at most that many rows).
 */
export function f32_mxfp4w_moe_gate_up_swiglu(
  blocks: usize, scales: usize, bias: usize, experts: i32, rows: i32, cols: i32,
  x: usize, xp: usize, tokens: i32, sel: usize, k: i32, act: usize, limit: f32, alpha: f32,
  tmp: usize, lists: usize, int8: bool, e0: i32, e1: i32, scratch: usize,
): void {
  const count = tokens * k, xList = lists, yList = lists + (<usize>count << 2);
  if (e0 == 0) quantizeX(int8, x, xp, tokens, cols);
  for (let e = e0; e < e1; e++) {
    const n = gather(sel, count, k, e, false, xList, yList);
    if (n == 0) continue;
    expertMatmul(int8, e, blocks, scales, bias, rows, cols, xp, xList, n, tmp, yList, rows, scratch);
  }
  if (e1 < experts) return;
  const pairs = rows >> 1;
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < pairs; p++) {
      const src = tmp + ((<usize>i * <usize>rows + (<usize>p << 1)) << 2);
      const g = min<f32>(load<f32>(src), limit);
      const u = min<f32>(max<f32>(load<f32>(src, 4), -limit), limit);
      store<f32>(act + ((<usize>i * <usize>pairs + <usize>p) << 2), (u + 1) * (g / (1 + Mathf.exp(-alpha * g))));
    }
  }
}

/**
 * out[t, r] = sum_j weights[t*k + j] * (W_e act[t*k + j] + b_e)[r] with e = sel[t*k + j], for the rows of
 * this slice. act: [tokens*k, cols]; tmp: [tokens*k, rows]; xp: tokens*k*cols f32 (holds the quantized act); lists: 2*tokens*k i32.
 * Weights, int8, the range [e0, e1) and scratch as for f32_mxfp4w_moe_gate_up_swiglu (e1 == experts sums
 * into out).
 */
export function f32_mxfp4w_moe_down_sum(
  blocks: usize, scales: usize, bias: usize, experts: i32, rows: i32, cols: i32,
  act: usize, xp: usize, tokens: i32, sel: usize, weights: usize, k: i32, out: usize,
  tmp: usize, lists: usize, int8: bool, e0: i32, e1: i32, scratch: usize,
): void {
  const count = tokens * k, xList = lists, yList = lists + (<usize>count << 2);
  if (e0 == 0) quantizeX(int8, act, xp, count, cols);
  for (let e = e0; e < e1; e++) {
    const n = gather(sel, count, k, e, true, xList, yList);
    if (n == 0) continue;
    expertMatmul(int8, e, blocks, scales, bias, rows, cols, xp, xList, n, tmp, yList, rows, scratch);
  }
  if (e1 < experts) return;
  for (let t = 0; t < tokens; t++) {
    const o = out + (<usize>t * <usize>rows << 2);
    for (let r = 0; r < rows; r++) store<f32>(o + (<usize>r << 2), 0);
    for (let j = 0; j < k; j++) {
      const i = t * k + j;
      const wv = f32x4.splat(load<f32>(weights + (<usize>i << 2)));
      const src = tmp + (<usize>i * <usize>rows << 2);
      let r = 0;
      for (; r + 4 <= rows; r += 4) {
        const p = <usize>r << 2;
        v128.store(o + p, f32x4.relaxed_madd(v128.load(src + p), wv, v128.load(o + p)));
      }
      // the tail uses the same (possibly fused) multiply-add as the vector part, so a row's value does
      // not depend on where the shard boundaries fall
      for (; r < rows; r++) {
        const p = <usize>r << 2;
        const v = f32x4.relaxed_madd(f32x4.splat(load<f32>(src + p)), wv, f32x4.splat(load<f32>(o + p)));
        store<f32>(o + p, f32x4.extract_lane(v, 0));
      }
    }
  }
}
