// The per-layer plan: what each layer computes, as data an architecture file derives from its config.
// A backend's forward pass reads the plan; it never asks which architecture it runs.

import type { NormKind } from "./config.ts";

/** The FFN's activation: GELU (tanh) on one projection, or SwiGLU silu(gate) * up, plain or gpt-oss's clamped form. */
export type Activation =
  | { readonly kind: "gelu_tanh" }
  | { readonly kind: "swiglu" }
  /** g = min(gate, limit), u = clamp(up, +-limit), (u + 1) * g * sigmoid(alpha g); limit > 0. */
  | { readonly kind: "swiglu_clamped"; readonly limit: number; readonly alpha: number };

export interface AttentionPlan {
  /** Rotate q and k by RoPE (config.rope); false: positions were added to the embedding. */
  readonly rope: boolean;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3), one [headDim] weight each. */
  readonly qkNorm: boolean;
  /** q, k, v and o projections carry biases. */
  readonly bias: boolean;
  /** One learned logit per head in the softmax denominator (gpt-oss). */
  readonly sinks: boolean;
  /** Keys of positions pos-window < j <= pos only; 0: every earlier position. */
  readonly window: number;
}

/** A dense MLP: down(act(gate x, up x)); GELU has no gate (up is c_fc, down c_proj). */
export interface DenseMlpPlan {
  readonly kind: "dense";
  readonly act: Activation;
  /** Inner width. */
  readonly width: number;
  /** gate, up and down carry biases. */
  readonly bias: boolean;
}

/**
 * Routed experts: router logits (plus a bias when routerBias), then either softmax over the chosen top-k
 * logits (topk_softmax, gpt-oss) or softmax over all experts then the top-k probabilities, divided by their
 * sum only when `normalize` (softmax_topk, Qwen3-MoE). Each chosen expert is a SwiGLU MLP; the output is
 * their weighted sum.
 */
export interface MoePlan {
  readonly kind: "moe";
  readonly act: Activation;
  readonly experts: number;
  /** <= experts. */
  readonly topK: number;
  /** Each expert's inner width. */
  readonly width: number;
  readonly routing: "topk_softmax" | "softmax_topk";
  readonly normalize: boolean;
  readonly routerBias: boolean;
  /**
   * mxfp4: experts stacked in MXFP4 blocks with a bias per row, gate and up interleaved row by row
   * (gpt-oss's checkpoints); float: one gate, up and down matrix per expert in their stored float dtype.
   */
  readonly format: "mxfp4" | "float";
}

export interface LayerPlan {
  /** The kind of the attention and MLP norms (LayerNorm also has a bias). */
  readonly norm: NormKind;
  readonly attention: AttentionPlan;
  readonly mlp: DenseMlpPlan | MoePlan;
}

export interface ModelPlan {
  readonly layers: readonly LayerPlan[];
  /**
   * The FFN's name in debug taps, `${ffnTap}_out` and `residual_after_${ffnTap}`, as the architecture's
   * reference names them (gpt-oss: "moe", the others: "mlp").
   */
  readonly ffnTap: "mlp" | "moe";
}
