// The tensor names transformers gives its decoder-only models (Llama, Qwen3, gpt-oss's Hub layout, ...):
// `model.embed_tokens`, `model.layers.N.{input_layernorm, self_attn.*_proj, post_attention_layernorm,
// mlp.*_proj}`, `model.norm` and `lm_head`. Architecture files add what is theirs (QK-norm, sinks, experts).

import type { LayerTensorNames, TensorNames } from "./weights.ts";

/** Layer i's attention, norms and dense-MLP names (biases included: the plan says which are read). */
export function hfLayerNames(i: number): LayerTensorNames {
  const p = `model.layers.${i}.`, a = p + "self_attn.", m = p + "mlp.";
  return {
    attnNorm: { name: p + "input_layernorm.weight" },
    q: { name: a + "q_proj.weight" },
    k: { name: a + "k_proj.weight" },
    v: { name: a + "v_proj.weight" },
    o: { name: a + "o_proj.weight" },
    qBias: { name: a + "q_proj.bias" },
    kBias: { name: a + "k_proj.bias" },
    vBias: { name: a + "v_proj.bias" },
    oBias: { name: a + "o_proj.bias" },
    mlpNorm: { name: p + "post_attention_layernorm.weight" },
    gate: { name: m + "gate_proj.weight" },
    up: { name: m + "up_proj.weight" },
    down: { name: m + "down_proj.weight" },
    gateBias: { name: m + "gate_proj.bias" },
    upBias: { name: m + "up_proj.bias" },
    downBias: { name: m + "down_proj.bias" },
  };
}

/** The whole table; `layer` extends hfLayerNames() with an architecture's own names. */
export function hfNames(tied: boolean, layer: (i: number) => LayerTensorNames = hfLayerNames): TensorNames {
  return {
    layout: "hub",
    embed: { name: "model.embed_tokens.weight" },
    finalNorm: { name: "model.norm.weight" },
    unembed: tied ? null : { name: "lm_head.weight" },
    layer,
  };
}
