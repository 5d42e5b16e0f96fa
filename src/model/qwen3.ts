// Qwen3 dense (`Qwen3ForCausalLM`) and Qwen3-MoE (`Qwen3MoeForCausalLM`) as data: config parsing, the
// plan (RMSNorm, per-head QK-norm before RoPE, GQA, sliding or full window, per layer a dense SwiGLU MLP
// or softmax-then-top-k routed SwiGLU experts) and the Hub tensor-name table.

import type { Architecture } from "./architecture.ts";
import {
  ConfigReader,
  hfDecoderConfig,
  type ModelConfig,
  parseLayerWindows,
  type RopeConfig,
} from "./config.ts";
import type { LayerPlan, ModelPlan } from "./plan.ts";
import { hfLayerNames, hfNames } from "./hf_names.ts";
import type { TensorNames } from "./weights.ts";

export interface Qwen3MoeConfig {
  readonly numExperts: number;
  readonly expertsPerToken: number;
  /** Per-expert FFN width (moe_intermediate_size). */
  readonly expertSize: number;
  /** Renormalise the top-k router probabilities to sum to 1. */
  readonly normTopkProb: boolean;
}

export interface Qwen3Config extends ModelConfig {
  readonly arch: "qwen3" | "qwen3_moe";
  readonly rope: RopeConfig;
  /** Width of the dense SwiGLU MLP (every layer of qwen3; mlp_only_layers of qwen3_moe). */
  readonly intermediateSize: number;
  /** q/k/v/o projections carry biases (attention_bias; false for every published Qwen3). */
  readonly attentionBias: boolean;
  /** Output projection is the token embedding (no lm_head.weight read). */
  readonly tieEmbeddings: boolean;
  /** Per layer: attention window in tokens, 0 for full attention. */
  readonly layerWindows: readonly number[];
  readonly moe: Qwen3MoeConfig | null;
  /** Per layer: sparse MoE FFN (true) or dense SwiGLU MLP (false). */
  readonly layerIsMoe: readonly boolean[];
}

function parseConfig(file: string, json: Record<string, unknown>): Qwen3Config {
  const c = new ConfigReader(file, json);
  const arch = json.model_type === "qwen3_moe" ? "qwen3_moe" as const : "qwen3" as const;
  // head_dim from the config, never hidden / heads when given (Qwen3-0.6B: 128 vs 64)
  const base = hfDecoderConfig(c, arch, { maxContext: 40960, eps: 1e-6 }), numLayers = base.numLayers;
  // Sliding window only when enabled, and then only from layer max_window_layers on (or per layer_types).
  const sliding = c.bool("use_sliding_window", false) && c.has("sliding_window");
  const window = sliding ? c.int("sliding_window") : 0;
  const firstSliding = c.number("max_window_layers", numLayers);
  const layerWindows = parseLayerWindows(c, numLayers, (i) => sliding && i >= firstSliding ? window : 0);

  let moe: Qwen3MoeConfig | null = null;
  let layerIsMoe = new Array<boolean>(numLayers).fill(false);
  if (arch === "qwen3_moe") {
    const numExperts = c.int("num_experts");
    const expertsPerToken = c.int("num_experts_per_tok");
    if (expertsPerToken > numExperts) {
      throw c.error("num_experts_per_tok", `(${expertsPerToken}) exceeds num_experts (${numExperts})`);
    }
    const step = c.int("decoder_sparse_step", 1);
    const denseOnly = new Set(json.mlp_only_layers === undefined ? [] : c.intList("mlp_only_layers"));
    for (const l of denseOnly) {
      if (l < 0 || l >= numLayers) {
        throw c.error("mlp_only_layers", `holds ${l}, outside 0..${numLayers - 1}`);
      }
    }
    moe = Object.freeze({
      numExperts,
      expertsPerToken,
      expertSize: c.int("moe_intermediate_size"),
      normTopkProb: c.bool("norm_topk_prob", false),
    });
    layerIsMoe = layerIsMoe.map((_, l) => !denseOnly.has(l) && (l + 1) % step === 0);
  }
  return Object.freeze({
    ...base,
    arch,
    intermediateSize: c.int("intermediate_size"),
    attentionBias: c.bool("attention_bias", false),
    tieEmbeddings: c.bool("tie_word_embeddings", false),
    layerWindows: Object.freeze(layerWindows),
    moe,
    layerIsMoe: Object.freeze(layerIsMoe),
  });
}

function plan(c: Qwen3Config): ModelPlan {
  const swiglu = { kind: "swiglu" } as const;
  return {
    ffnTap: "mlp",
    layers: c.layerWindows.map((window, l): LayerPlan => ({
      norm: "rmsnorm",
      attention: { rope: true, qkNorm: true, bias: c.attentionBias, sinks: false, window },
      mlp: c.layerIsMoe[l]
        ? {
          kind: "moe",
          act: swiglu,
          experts: c.moe!.numExperts,
          topK: c.moe!.expertsPerToken,
          width: c.moe!.expertSize,
          routing: "softmax_topk",
          normalize: c.moe!.normTopkProb,
          routerBias: false,
          format: "float",
        }
        : { kind: "dense", act: swiglu, width: c.intermediateSize, bias: false },
    })),
  };
}

/** The Hub names: transformers' decoder names, plus QK-norm, the router (`mlp.gate`) and each expert. */
function names(c: Qwen3Config): TensorNames {
  return hfNames(c.tieEmbeddings, (i) => {
    const a = `model.layers.${i}.self_attn.`, m = `model.layers.${i}.mlp.`;
    return {
      ...hfLayerNames(i),
      qNorm: { name: a + "q_norm.weight" },
      kNorm: { name: a + "k_norm.weight" },
      router: { name: m + "gate.weight" },
      expert: (e) => ({
        gate: { name: `${m}experts.${e}.gate_proj.weight` },
        up: { name: `${m}experts.${e}.up_proj.weight` },
        down: { name: `${m}experts.${e}.down_proj.weight` },
      }),
    };
  });
}

export const qwen3: Architecture<Qwen3Config> = {
  family: "Qwen3",
  modelTypes: ["qwen3", "qwen3_moe"],
  defaultDtype: "BF16",
  chat: {
    format: "template",
    stopStrings: ["<|im_end|>", "<|endoftext|>"],
    turnStrings: ["<|im_start|>"],
    markupStrings: ["<|im_end|>", "<|endoftext|>", "<|im_start|>", "<think>", "</think>"],
  },
  parseConfig,
  plan,
  tensorNames: (c) => names(c),
};
