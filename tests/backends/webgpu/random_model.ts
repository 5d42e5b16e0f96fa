// Models of random shape and random weights built in memory (no files), so backends can be compared beyond
// the fixtures: gpt-oss with odd head counts, mixed weight dtypes (bf16, f16, f32), sliding and full layers;
// and any architecture (GPT-2, Qwen3, Qwen3-MoE, Llama) with its own options drawn at random.

import { f32ToBf16, type FloatDType, type Mat } from "../../../src/model/dtypes.ts";
import type { LoadedModel } from "../../../src/model/load.ts";
import { randomModel as randomOfConfig } from "../../../scripts/random_model.ts";
import { randomExperts, randomF32, rng } from "../../random.ts";

export { randomExperts };

/** A random f16 bit pattern of magnitude in [2^-6, 2). */
function randomHalf(r: () => number): number {
  return (r() < 0.5 ? 0x8000 : 0) | ((9 + Math.floor(r() * 7)) << 10) | Math.floor(r() * 1024);
}

export function randomMat(r: () => number, rows: number, cols: number, dtype: FloatDType, scale = 0.5): Mat {
  const n = rows * cols;
  if (dtype === "F32") return { dtype, rows, cols, data: randomF32(n, r, scale) };
  const data = new Uint16Array(n);
  for (let i = 0; i < n; i++) data[i] = dtype === "BF16" ? f32ToBf16((r() * 2 - 1) * scale) : randomHalf(r);
  return { dtype, rows, cols, data };
}

/** A random gpt-oss: odd head counts, mixed dtypes, sliding and full layers, YaRN with or without truncation. */
export function randomModel(seed: number): { model: LoadedModel; tokens: number[] } {
  const r = rng(seed * 7919);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const kvHeads = pick([1, 2, 3]),
    numExperts = pick([3, 5, 9]),
    layers = pick([2, 3]),
    vocab = pick([37, 50, 61]);
  const model = randomOfConfig({
    model_type: "gpt_oss",
    vocab_size: vocab,
    hidden_size: pick([32, 64, 96]),
    num_hidden_layers: layers,
    num_attention_heads: kvHeads * pick([1, 2, 3]),
    num_key_value_heads: kvHeads,
    head_dim: pick([8, 12, 24]),
    num_local_experts: numExperts,
    num_experts_per_tok: pick([1, 2, Math.min(3, numExperts)]),
    intermediate_size: pick([32, 64]),
    sliding_window: pick([3, 5]),
    layer_types: Array.from(
      { length: layers },
      (_, i) => i % 2 === 0 ? "sliding_attention" : "full_attention",
    ),
    rope_theta: 10000,
    rope_scaling: {
      rope_type: "yarn",
      factor: 4,
      beta_fast: 32,
      beta_slow: 1,
      original_max_position_embeddings: 16,
      truncate: seed % 2 === 0,
    },
    max_position_embeddings: 4096,
    eos_token_id: 0,
  }, { rng: r, dtypes: ["BF16", "F16", "F32"], scale: 0.5 });
  const tokens = Array.from({ length: 13 }, () => Math.floor(r() * vocab));
  return { model, tokens };
}

/** The architectures randomArchModel() draws shapes for. */
export const RANDOM_ARCHS = ["gpt_oss", "gpt2", "qwen3", "qwen3_moe", "llama"] as const;

/**
 * A model of `arch` with a random shape (head counts, widths, GQA, biases, tied or untied head, sliding
 * layers, MoE routing options, RoPE scaling, mixed weight dtypes) and random weights, built in memory.
 */
export function randomArchModel(arch: (typeof RANDOM_ARCHS)[number], seed: number): LoadedModel {
  if (arch === "gpt_oss") return randomModel(seed).model;
  const r = rng(seed * 104729 + arch.length);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const layers = pick([2, 3]), vocab = pick([41, 64, 97]), kvHeads = pick([1, 2]);
  const heads = kvHeads * pick([1, 2, 3]), headDim = pick([8, 16, 24]);
  let json: Record<string, unknown>;
  if (arch === "gpt2") {
    const nHead = pick([2, 3, 4]);
    json = {
      model_type: "gpt2",
      vocab_size: vocab,
      n_embd: nHead * pick([8, 16]),
      n_layer: layers,
      n_head: nHead,
      n_positions: 64,
      n_inner: pick([32, 48, 96]),
      eos_token_id: 0,
    };
  } else {
    json = {
      model_type: arch,
      vocab_size: vocab,
      hidden_size: pick([32, 48, 64]),
      num_hidden_layers: layers,
      num_attention_heads: heads,
      num_key_value_heads: kvHeads,
      head_dim: headDim,
      intermediate_size: pick([32, 40, 64]),
      max_position_embeddings: 4096,
      rope_theta: pick([10000, 500000]),
      attention_bias: r() < 0.5,
      tie_word_embeddings: r() < 0.5,
      eos_token_id: 0,
    };
    if (arch === "llama") {
      json.mlp_bias = r() < 0.5;
      json.rope_scaling = pick([
        null,
        { rope_type: "linear", factor: 2 },
        {
          rope_type: "llama3",
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 16,
        },
      ]);
    } else {
      // a sliding layer beside full ones
      json.layer_types = Array.from(
        { length: layers },
        (_, i) => i === 1 ? "sliding_attention" : "full_attention",
      );
      json.sliding_window = pick([3, 6]);
    }
    if (arch === "qwen3_moe") {
      const experts = pick([4, 6, 9]);
      json.num_experts = experts;
      json.num_experts_per_tok = pick([1, 2, 3]);
      json.moe_intermediate_size = pick([16, 32]);
      json.norm_topk_prob = r() < 0.5;
      json.mlp_only_layers = r() < 0.5 ? [layers - 1] : [];
    }
  }
  return randomOfConfig(json, { rng: r, dtypes: ["BF16", "F16", "F32"], scale: 0.3 });
}
