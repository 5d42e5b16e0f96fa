// What the shard steps (shard_step.ts, shard_ffn.ts) and the host's debug and final norms share: a matmul
// input prepared once per weight format, and the plan's norm.

import type { Kernels } from "./kernels.ts";
import type { DenseSlice, NormSlice } from "./shard_layout.ts";

/**
 * Matmuls of one step over slices that read the same input x: x is prepared for a slice's kernel (bf16:
 * permuted, i8: quantized with `qMax` levels, f32: read as it is) once per format and reused.
 */
export class DenseInput {
  private ready: string | null = null;

  constructor(
    private readonly k: Kernels,
    private readonly x: number,
    private readonly xp: number,
    private readonly rows: number,
    private readonly qMax: number,
  ) {}

  /** y [rows, m.rows] = m's rows times x, plus its bias. */
  matmul(m: DenseSlice, y: number): void {
    const k = this.k, key = `${m.format}:${m.cols}`;
    if (this.ready !== key) {
      if (m.format === "i8") k.quantize_i8w_x(this.x, this.xp, this.rows, m.cols, this.qMax);
      else if (m.format === "bf16") k.permute_bf16_x(this.x, this.xp, this.rows * m.cols);
      this.ready = key;
    }
    if (m.format === "i8") k.f32_i8w_matmul(m.w, m.bias, m.rows, m.cols, this.xp, this.rows, y, m.rows);
    else if (m.format === "bf16") {
      k.f32_bf16w_matmul(m.w, m.bias, m.rows, m.cols, this.xp, this.rows, y, m.rows);
    } else k.f32_f32w_matmul(m.w, m.bias, m.rows, m.cols, this.x, this.rows, y, m.rows);
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
