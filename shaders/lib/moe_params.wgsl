// The Params of every expert kernel (f32_mxfp4w_moe, f32_mxfp4w_moe_gemm, f32_bf16w_moe); pipelines.ts
// pastes it where a kernel has the line `//! include moe_params.wgsl` (params.ts declares it once too).
// A slot is one (token, chosen expert) pair, slot = t*k + j.

struct Params {
  tokens: u32,
  k: u32, // experts per token
  num_experts: u32,
  rows: u32, // rows of one expert's matrix (gate_up: 2*ffn, down: hidden)
  cols: u32, // input width (MXFP4: a multiple of 32; float: even)
  e0: u32, // experts [e0, e1) are in this dispatch's weights part
  e1: u32,
  first: u32, // slot-by-slot down: 1 on the first part (overwrite the output instead of adding)
  limit: f32, // MXFP4 experts' clamped SwiGLU
  alpha: f32,
}
