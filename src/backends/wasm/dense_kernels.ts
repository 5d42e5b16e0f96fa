// The exports of asm/ that the GPT-2 / Qwen3 / Qwen3-MoE WASM backend adds to Kernels (kernels.ts); see
// each asm/ file for the contract. Every pointer argument is a byte offset into the module's memory.

import type { Kernels } from "./kernels.ts";

export interface DenseKernels {
  layernorm(y: number, x: number, w: number, b: number, eps: number, tokens: number, n: number): void;
  gelu_tanh(x: number, n: number): void;
  qk_rmsnorm(x: number, w: number, eps: number, rows: number, heads: number, dim: number): void;
  swiglu(out: number, gate: number, up: number, n: number): void;
  softmax_topk(
    logits: number,
    tokens: number,
    n: number,
    k: number,
    normTopk: number,
    sel: number,
    weights: number,
  ): void;
  weighted_row_sum(out: number, src: number, weights: number, tokens: number, k: number, n: number): void;
  f32_f32w_matmul(
    w: number,
    bias: number,
    rows: number,
    cols: number,
    x: number,
    tokens: number,
    y: number,
    yStride: number,
  ): void;
  gather_rows_f32(table: number, ids: number, tokens: number, n: number, out: number): void;
  gather_rows_bf16(table: number, ids: number, tokens: number, n: number, out: number): void;
  add_position_rows(x: number, table: number, row0: number, tokens: number, n: number): void;
}

export type AllKernels = Kernels & DenseKernels;
