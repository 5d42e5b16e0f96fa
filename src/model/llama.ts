// Llama (`LlamaForCausalLM`: Llama 2, Llama 3.x and the many models that share its layout) as data: config
// parsing, the plan (RMSNorm, grouped-query attention with RoPE, plain or llama3-scaled, optional biases
// on q/k/v/o and on the SwiGLU MLP, full attention everywhere) and the Hub tensor-name table.

import type { Architecture } from "./architecture.ts";
import { ConfigReader, hfDecoderConfig, type ModelConfig, type RopeConfig } from "./config.ts";
import { hfNames } from "./hf_names.ts";
import type { ModelPlan } from "./plan.ts";

export interface LlamaConfig extends ModelConfig {
  readonly rope: RopeConfig;
  /** SwiGLU MLP width. */
  readonly intermediateSize: number;
  /** q, k, v and o carry biases (attention_bias). */
  readonly attentionBias: boolean;
  /** gate, up and down carry biases (mlp_bias). */
  readonly mlpBias: boolean;
  /** The head is the token embedding (tie_word_embeddings; transformers' default is false). */
  readonly tieEmbeddings: boolean;
}

function parseConfig(file: string, json: Record<string, unknown>): LlamaConfig {
  const c = new ConfigReader(file, json);
  // head_dim: given (Llama 3.2), else hidden_size / num_attention_heads
  return Object.freeze({
    ...hfDecoderConfig(c, "llama", { maxContext: 2048, eps: 1e-6 }),
    intermediateSize: c.int("intermediate_size"),
    attentionBias: c.bool("attention_bias", false),
    mlpBias: c.bool("mlp_bias", false),
    tieEmbeddings: c.bool("tie_word_embeddings", false),
  });
}

function plan(c: LlamaConfig): ModelPlan {
  const layer = {
    norm: "rmsnorm",
    attention: { rope: true, qkNorm: false, bias: c.attentionBias, sinks: false, window: 0 },
    mlp: { kind: "dense", act: { kind: "swiglu" }, width: c.intermediateSize, bias: c.mlpBias },
  } as const;
  return { ffnTap: "mlp", layers: Array.from({ length: c.numLayers }, () => layer) };
}

export const llama: Architecture<LlamaConfig> = {
  family: "Llama",
  modelTypes: ["llama"],
  defaultDtype: "BF16",
  chat: {
    // Llama 3's template; Llama 2's </s> comes from eos_token_id
    format: "template",
    stopStrings: ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"],
    turnStrings: ["<|start_header_id|>"],
    markupStrings: [
      "<|begin_of_text|>",
      "<|start_header_id|>",
      "<|end_header_id|>",
      "<|eot_id|>",
      "<|eom_id|>",
      "<|end_of_text|>",
      "<|python_tag|>",
    ],
  },
  parseConfig,
  plan,
  tensorNames: (c) => hfNames(c.tieEmbeddings),
};
