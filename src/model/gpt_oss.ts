// gpt-oss (gpt-oss-20b, gpt-oss-120b) as data: config parsing for the Hub and `original/` layouts, the
// per-layer plan (RMSNorm, YaRN RoPE, biased q/k/v/o, sinks, sliding or full window, top-k-then-softmax
// routing over MXFP4 experts with clamped SwiGLU) and the tensor-name table of each layout.

import { FormatError } from "../errors.ts";
import type { Architecture } from "./architecture.ts";
import {
  ConfigReader,
  EPSILON,
  type ModelConfig,
  parseEos,
  parseHeads,
  parseLayerWindows,
  parseYarn,
  POSITIVE,
  type RopeConfig,
} from "./config.ts";
import type { ModelPlan } from "./plan.ts";
import { hfLayerNames, hfNames } from "./hf_names.ts";
import type { LayerTensorNames, TensorNames } from "./weights.ts";

export interface GptOssConfig extends ModelConfig {
  readonly rope: RopeConfig;
  readonly numExperts: number;
  readonly expertsPerToken: number;
  /** Per-expert FFN width; gate_up has 2x this many rows. */
  readonly intermediateSize: number;
  /** Per layer: attention window in tokens, 0 for full attention. */
  readonly layerWindows: readonly number[];
  /** > 0 */
  readonly swigluLimit: number;
  readonly swigluAlpha: number;
}

/** Parses config.json of either layout (original/ has no model_type and openai key names). */
function parseConfig(file: string, json: Record<string, unknown>): GptOssConfig {
  const c = new ConfigReader(file, json);
  const numLayers = c.int("num_hidden_layers");
  const hiddenSize = c.int("hidden_size");
  const { numHeads, numKvHeads, headDim } = parseHeads(c, hiddenSize);
  const numExperts = c.int(["num_local_experts", "num_experts"]);
  const expertsPerToken = c.int(["num_experts_per_tok", "experts_per_token"]);
  if (expertsPerToken > numExperts) {
    throw c.error(
      "num_experts_per_tok",
      `(${expertsPerToken}) exceeds the number of experts (${numExperts})`,
    );
  }
  const slidingWindow = c.int("sliding_window");
  // Without layer_types (the original/ config), even layers slide and odd layers attend fully.
  const layerWindows = parseLayerWindows(c, numLayers, (i) => i % 2 === 0 ? slidingWindow : 0);
  for (const key of ["intermediate_size", "hidden_size"]) {
    if (c.int(key) % 32 !== 0) {
      throw c.error(key, `must be a multiple of 32 (one MXFP4 block), got ${c.int(key)}`);
    }
  }
  const theta = c.number("rope_theta", undefined, POSITIVE);
  const scaling = c.object("rope_scaling");
  let yarn = null;
  if (scaling) {
    const type = scaling.json.rope_type ?? scaling.json.type;
    if (type !== "yarn") {
      throw new FormatError(`${file}: rope_scaling.rope_type '${type}' is not supported (expected 'yarn')`);
    }
    yarn = parseYarn(scaling, c.number("initial_context_length", 4096), scaling.json.truncate !== false);
  } else if (c.has("rope_scaling_factor")) {
    // original/ layout: ntk_alpha is beta_slow, ntk_beta is beta_fast; no truncation of the ramp.
    yarn = parseYarn(c, undefined, false, {
      factor: "rope_scaling_factor",
      betaFast: "rope_ntk_beta",
      betaSlow: "rope_ntk_alpha",
      context: "initial_context_length",
    });
  }
  const vocabSize = c.int("vocab_size");
  return Object.freeze({
    arch: "gpt_oss" as const,
    source: file,
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxContext: c.int(["max_position_embeddings"], 131072),
    eosTokenIds: parseEos(c, vocabSize),
    norm: Object.freeze({ kind: "rmsnorm" as const, eps: c.number("rms_norm_eps", 1e-5, EPSILON) }),
    rope: Object.freeze({ theta, dim: headDim, scaling: yarn && Object.freeze(yarn) }),
    numExperts,
    expertsPerToken,
    intermediateSize: c.int("intermediate_size"),
    layerWindows: Object.freeze(layerWindows),
    swigluLimit: c.number("swiglu_limit", 7, POSITIVE),
    swigluAlpha: 1.702,
  });
}

function plan(c: GptOssConfig): ModelPlan {
  return {
    ffnTap: "moe",
    layers: c.layerWindows.map((window) => ({
      norm: "rmsnorm",
      attention: { rope: true, qkNorm: false, bias: true, sinks: true, window },
      mlp: {
        kind: "moe",
        act: { kind: "swiglu_clamped", limit: c.swigluLimit, alpha: c.swigluAlpha },
        experts: c.numExperts,
        topK: c.expertsPerToken,
        width: c.intermediateSize,
        routing: "topk_softmax",
        normalize: true,
        routerBias: true,
        format: "mxfp4",
      },
    })),
  };
}

/** The Hub names (transformers' GptOssForCausalLM): the decoder names plus sinks, router and MXFP4 experts. */
function hubNames(): TensorNames {
  return hfNames(false, (i): LayerTensorNames => {
    const p = `model.layers.${i}.`, x = p + "mlp.experts.";
    return {
      ...hfLayerNames(i),
      sinks: { name: p + "self_attn.sinks" },
      router: { name: p + "mlp.router.weight" },
      routerBias: { name: p + "mlp.router.bias" },
      mxfp4: {
        gateUp: {
          blocks: { name: x + "gate_up_proj_blocks" },
          scales: { name: x + "gate_up_proj_scales" },
          bias: { name: x + "gate_up_proj_bias" },
        },
        down: {
          blocks: { name: x + "down_proj_blocks" },
          scales: { name: x + "down_proj_scales" },
          bias: { name: x + "down_proj_bias" },
        },
      },
    };
  });
}

/** The original/ names (OpenAI's reference code): q, k and v are row ranges of one fused qkv tensor. */
function originalNames(c: GptOssConfig): TensorNames {
  const qRows = c.numHeads * c.headDim, kvRows = c.numKvHeads * c.headDim, of = qRows + 2 * kvRows;
  const q = { from: 0, to: qRows, of }, k = { from: qRows, to: qRows + kvRows, of };
  const v = { from: qRows + kvRows, to: of, of };
  return {
    layout: "original",
    embed: { name: "embedding.weight" },
    finalNorm: { name: "norm.scale" },
    unembed: { name: "unembedding.weight" },
    layer: (i): LayerTensorNames => {
      const p = `block.${i}.`, qkv = p + "attn.qkv.weight", qkvBias = p + "attn.qkv.bias";
      return {
        attnNorm: { name: p + "attn.norm.scale" },
        q: { name: qkv, rows: q },
        qBias: { name: qkvBias, rows: q },
        k: { name: qkv, rows: k },
        kBias: { name: qkvBias, rows: k },
        v: { name: qkv, rows: v },
        vBias: { name: qkvBias, rows: v },
        o: { name: p + "attn.out.weight" },
        oBias: { name: p + "attn.out.bias" },
        sinks: { name: p + "attn.sinks" },
        mlpNorm: { name: p + "mlp.norm.scale" },
        router: { name: p + "mlp.gate.weight" },
        routerBias: { name: p + "mlp.gate.bias" },
        mxfp4: {
          gateUp: {
            blocks: { name: p + "mlp.mlp1_weight.blocks" },
            scales: { name: p + "mlp.mlp1_weight.scales" },
            bias: { name: p + "mlp.mlp1_bias" },
          },
          down: {
            blocks: { name: p + "mlp.mlp2_weight.blocks" },
            scales: { name: p + "mlp.mlp2_weight.scales" },
            bias: { name: p + "mlp.mlp2_bias" },
          },
        },
      };
    },
  };
}

export const gptOss: Architecture<GptOssConfig> = {
  family: "gpt-oss",
  modelTypes: ["gpt_oss"],
  recognizes: (json) => json.model_type === undefined && "num_experts" in json && "rope_ntk_alpha" in json,
  defaultDtype: "BF16",
  chat: { format: "harmony" },
  parseConfig,
  plan,
  tensorNames(c, has, dir) {
    if (!has || has("model.embed_tokens.weight")) return hubNames();
    if (has("embedding.weight")) return originalNames(c);
    throw new FormatError(
      `${dir}: not a gpt-oss checkpoint (neither 'model.embed_tokens.weight' nor 'embedding.weight' found)`,
    );
  },
};
