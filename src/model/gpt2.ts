// GPT-2 (`GPT2LMHeadModel`) as data: config parsing, the plan (learned positions, LayerNorm, biased
// multi-head attention, GELU (tanh) MLP) and the tensor-name table (Hub names with or without the
// `transformer.` prefix; Conv1D weights are stored [in, out] and transposed at load).

import { FormatError } from "../errors.ts";
import type { Architecture } from "./architecture.ts";
import { ConfigReader, EPSILON, type ModelConfig, parseEos, parseHeads } from "./config.ts";
import type { ModelPlan } from "./plan.ts";
import type { LayerTensorNames, TensorNames } from "./weights.ts";

export interface Gpt2Config extends ModelConfig {
  readonly arch: "gpt2";
  readonly rope: null;
  /** MLP inner width (n_inner, or 4 * n_embd when null). */
  readonly ffnSize: number;
}

/** Activations that are the tanh-approximated GELU the kernels compute. */
const TANH_GELU = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

function parseConfig(file: string, json: Record<string, unknown>): Gpt2Config {
  const c = new ConfigReader(file, json);
  const hiddenSize = c.int(["n_embd", "hidden_size"]);
  const { numHeads, headDim } = parseHeads(c, hiddenSize, ["n_head", "num_attention_heads"], null);
  const act = json.activation_function ?? "gelu_new";
  if (typeof act !== "string" || !TANH_GELU.includes(act)) {
    throw new FormatError(
      `${file}: activation_function ${JSON.stringify(act)} is not supported (expected 'gelu_new')`,
    );
  }
  if (!c.bool("scale_attn_weights", true)) throw c.error("scale_attn_weights", "false is not supported");
  if (c.bool("scale_attn_by_inverse_layer_idx", false)) {
    throw c.error("scale_attn_by_inverse_layer_idx", "true is not supported");
  }
  const vocabSize = c.int("vocab_size");
  return Object.freeze({
    arch: "gpt2" as const,
    source: file,
    vocabSize,
    hiddenSize,
    numLayers: c.int(["n_layer", "num_hidden_layers"]),
    numHeads,
    numKvHeads: numHeads,
    headDim,
    // learned positions: the context can never exceed n_positions
    maxContext: c.int(["n_positions", "max_position_embeddings"]),
    eosTokenIds: parseEos(c, vocabSize),
    norm: Object.freeze({ kind: "layernorm" as const, eps: c.number("layer_norm_epsilon", 1e-5, EPSILON) }),
    rope: null,
    ffnSize: c.int("n_inner", 4 * hiddenSize),
  });
}

function plan(c: Gpt2Config): ModelPlan {
  const layer = {
    norm: "layernorm",
    attention: { rope: false, qkNorm: false, bias: true, sinks: false, window: 0 },
    mlp: { kind: "dense", act: { kind: "gelu_tanh" }, width: c.ffnSize, bias: true },
  } as const;
  return { ffnTap: "mlp", layers: Array.from({ length: c.numLayers }, () => layer) };
}

/** `prefix` is "" (Hub gpt2) or "transformer." (other exports); `tied` when there is no lm_head.weight. */
function names(c: Gpt2Config, prefix: string, tied: boolean, buffers: boolean): TensorNames {
  const H = c.hiddenSize, of = 3 * H;
  return {
    layout: prefix === "" ? "hub" : "transformer",
    embed: { name: prefix + "wte.weight" },
    posEmbed: { name: prefix + "wpe.weight" },
    finalNorm: { name: prefix + "ln_f.weight" },
    finalNormBias: { name: prefix + "ln_f.bias" },
    unembed: tied ? null : { name: "lm_head.weight" },
    layer: (i): LayerTensorNames => {
      const p = `${prefix}h.${i}.`, qkv = p + "attn.c_attn.weight", qkvBias = p + "attn.c_attn.bias";
      // c_attn is [in, 3*out]: columns q | k | v
      const part = (n: number) => ({ from: n * H, to: (n + 1) * H, of });
      return {
        attnNorm: { name: p + "ln_1.weight" },
        attnNormBias: { name: p + "ln_1.bias" },
        q: { name: qkv, transposed: true, rows: part(0) },
        k: { name: qkv, transposed: true, rows: part(1) },
        v: { name: qkv, transposed: true, rows: part(2) },
        qBias: { name: qkvBias, rows: part(0) },
        kBias: { name: qkvBias, rows: part(1) },
        vBias: { name: qkvBias, rows: part(2) },
        o: { name: p + "attn.c_proj.weight", transposed: true },
        oBias: { name: p + "attn.c_proj.bias" },
        mlpNorm: { name: p + "ln_2.weight" },
        mlpNormBias: { name: p + "ln_2.bias" },
        up: { name: p + "mlp.c_fc.weight", transposed: true },
        upBias: { name: p + "mlp.c_fc.bias" },
        down: { name: p + "mlp.c_proj.weight", transposed: true },
        downBias: { name: p + "mlp.c_proj.bias" },
      };
    },
    // `attn.bias` (the causal mask) is not a weight: never read, only counted by `ossi inspect`
    buffers: buffers
      ? Array.from({ length: c.numLayers }, (_, i) => ({
        name: `h.${i}.attn.bias`,
        shape: [1, 1, c.maxContext, c.maxContext],
      }))
      : undefined,
  };
}

export const gpt2: Architecture<Gpt2Config> = {
  family: "GPT-2",
  modelTypes: ["gpt2"],
  defaultDtype: "F32",
  chat: { format: "completion", stopStrings: ["<|endoftext|>"], turnStrings: [], markupStrings: [] },
  parseConfig,
  plan,
  tensorNames(c, has, dir) {
    if (!has) return names(c, "", true, true);
    const prefix = has("wte.weight") ? "" : has("transformer.wte.weight") ? "transformer." : null;
    if (prefix === null) {
      throw new FormatError(
        `${dir}: not a GPT-2 checkpoint (neither 'wte.weight' nor 'transformer.wte.weight' found)`,
      );
    }
    return names(c, prefix, !has("lm_head.weight"), false);
  },
};
