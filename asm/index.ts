// The one kernel module: every export of asm/ compiled together into build/ossi_kernels.wasm. It owns no
// memory layout: the host passes byte offsets into the (imported, shared) memory.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

export { f32_bf16w_matmul, permute_bf16_x } from "./f32_bf16w_matmul";
export { f32_mxfp4w_matmul, mxfp4_xq_row_bytes, quantize_mxfp4_x } from "./f32_mxfp4w_matmul";
export {
  f32_i8w_matmul,
  i8w_bytes,
  i8w_group_bytes,
  i8w_u8_dot,
  i8w_xq_row_bytes,
  pack_i8w_bf16,
  pack_i8w_f32,
  quantize_i8w_x,
} from "./f32_i8w_matmul";
export {
  f32_mxfp4w_matmul_q8,
  mxfp4_rows4_bytes,
  mxfp4_rows4_group_bytes,
  pack_mxfp4_rows4,
  mxfp4_q8_scratch_bytes,
  q8_xq_row_bytes,
  quantize_q8_x,
} from "./f32_mxfp4w_matmul_q8";
export { f32_mxfp4w_moe_down_sum, f32_mxfp4w_moe_gate_up_swiglu } from "./f32_mxfp4w_moe";
export { add_inplace } from "./add_inplace";
export { rmsnorm } from "./rmsnorm";
export { rope } from "./rope";
export { sdpa_sink_window } from "./sdpa_sink_window";
export { moe_router_softmax_topk, moe_router_topk_softmax } from "./moe_router";
export { row_topk } from "./row_topk";
export { stream_read } from "./stream_read";
// LayerNorm, GELU, QK-norm, plain SwiGLU, the MoE combine, f32 weights
export { f32_f32w_matmul } from "./f32_f32w_matmul";
export { gelu_tanh } from "./gelu_tanh";
export { layernorm } from "./layernorm";
export { qk_rmsnorm } from "./qk_rmsnorm";
export { weighted_row_sum } from "./weighted_row_sum";
export { swiglu } from "./swiglu";
