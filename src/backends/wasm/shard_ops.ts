// What the shard steps (shard_step.ts, shard_ffn.ts) and the host's debug and final norms share: a matmul
// input prepared once per weight format, and the plan's norm.

import type { Kernels } from "./kernels.ts";
import { denseBytes, type DenseFormat, type DenseSlice, type NormSlice } from "./shard_layout.ts";

/**
 * A long matmul (the unembedding, a large model's MLP, a long prefill chunk) runs in row blocks of at
 * most about this many multiply-adds and weight bytes, some 2-4 ms each on one core here, and a stop is
 * seen between two blocks. Each output row is computed by the same kernel code whatever the block, so
 * the result does not depend on the split.
 */
export const BLOCK_MULTIPLY_ADDS = 2 ** 27;
export const BLOCK_WEIGHT_BYTES = 2 ** 24;
/** Blocks start on multiples of this: the int8 kernels' panels (32 rows) and packed groups (4). */
const BLOCK_ALIGN = 32;

/** Rows per block of a `format` matmul of `cols` columns on `tokens` tokens (a multiple of BLOCK_ALIGN). */
export function denseBlockRows(format: DenseFormat, tokens: number, cols: number): number {
  const rowBytes = denseBytes(format, BLOCK_ALIGN, cols) / BLOCK_ALIGN;
  const rows = Math.min(BLOCK_MULTIPLY_ADDS / (tokens * cols), BLOCK_WEIGHT_BYTES / rowBytes);
  return Math.max(1, Math.floor(rows / BLOCK_ALIGN)) * BLOCK_ALIGN;
}

/**
 * Matmuls of one step over slices that read the same input x: x is prepared for a slice's kernel (bf16:
 * permuted, i8: quantized with `qMax` levels, f32: read as it is) once per format and reused. A matmul
 * leaves its output unfinished once `abandoned()` says so (checked between row blocks).
 */
export class DenseInput {
  private ready: string | null = null;

  constructor(
    private readonly k: Kernels,
    private readonly x: number,
    private readonly xp: number,
    private readonly rows: number,
    private readonly qMax: number,
    private readonly abandoned: () => boolean = () => false,
  ) {}

  /** y [rows, m.rows] = m's rows times x, plus its bias. */
  matmul(m: DenseSlice, y: number): void {
    const k = this.k, key = `${m.format}:${m.cols}`;
    if (this.ready !== key) {
      if (m.format === "i8") k.quantize_i8w_x(this.x, this.xp, this.rows, m.cols, this.qMax);
      else if (m.format === "bf16") k.permute_bf16_x(this.x, this.xp, this.rows * m.cols);
      this.ready = key;
    }
    const block = denseBlockRows(m.format, this.rows, m.cols);
    for (let r0 = 0; r0 < m.rows; r0 += block) {
      if (r0 > 0 && this.abandoned()) return;
      const n = Math.min(block, m.rows - r0), w = m.w + denseBytes(m.format, r0, m.cols);
      const bias = m.bias === 0 ? 0 : m.bias + r0 * 4, yr = y + r0 * 4;
      if (m.format === "i8") k.f32_i8w_matmul(w, bias, n, m.cols, this.xp, this.rows, yr, m.rows);
      else if (m.format === "bf16") k.f32_bf16w_matmul(w, bias, n, m.cols, this.xp, this.rows, yr, m.rows);
      else k.f32_f32w_matmul(w, bias, n, m.cols, this.x, this.rows, yr, m.rows);
    }
  }
}

/** The plan's norm of `rows` rows: RMSNorm, or LayerNorm with its bias. */
export function norm(
  k: Kernels,
  n: NormSlice,
  y: number,
  x: number,
  eps: number,
  rows: number,
  width: number,
) {
  if (n.b) k.layernorm(y, x, n.w, n.b, eps, rows, width);
  else k.rmsnorm(y, x, n.w, eps, rows, width);
}
