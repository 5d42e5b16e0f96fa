// Qwen3 dense (`Qwen3ForCausalLM`) and Qwen3-MoE (`Qwen3MoeForCausalLM`) as data: config parsing, the
// per-layer plan (sliding or full window, dense or sparse FFN), the Hub tensor-name table and weight loading.

import type { TensorStore } from "../io/checkpoint.ts";
import { FormatError } from "../io/errors.ts";
import { ConfigReader, type RopeConfig } from "./config.ts";
import { expectTensor, type Mat, matOf, toF32 } from "./dtypes.ts";

export interface Qwen3MoeConfig {
  readonly numExperts: number;
  readonly expertsPerToken: number;
  /** Per-expert FFN width (moe_intermediate_size). */
  readonly expertSize: number;
  /** Renormalise the top-k router probabilities to sum to 1. */
  readonly normTopkProb: boolean;
}

export interface Qwen3Config {
  readonly arch: "qwen3" | "qwen3_moe";
  /** The config.json this came from, for error messages. */
  readonly source: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** From the config, never hiddenSize / numHeads (Qwen3-0.6B: 128 vs 64). */
  readonly headDim: number;
  /** Width of the dense SwiGLU MLP (every layer of qwen3; mlp_only_layers of qwen3_moe). */
  readonly intermediateSize: number;
  readonly rope: RopeConfig;
  readonly rmsNormEps: number;
  /** q/k/v/o projections carry biases (attention_bias; false for every published Qwen3). */
  readonly attentionBias: boolean;
  /** Output projection is the token embedding (no lm_head.weight read). */
  readonly tieEmbeddings: boolean;
  /** Per layer: attention window in tokens (query i sees keys i-w < j <= i), 0 for full attention. */
  readonly layerWindows: readonly number[];
  readonly moe: Qwen3MoeConfig | null;
  /** Per layer: sparse MoE FFN (true) or dense SwiGLU MLP (false). */
  readonly layerIsMoe: readonly boolean[];
  readonly maxContext: number;
  readonly eosTokenIds: readonly number[];
}

export function parseQwen3Config(file: string, json: Record<string, unknown>): Qwen3Config {
  const c = new ConfigReader(file, json);
  const arch = json.model_type === "qwen3_moe" ? "qwen3_moe" as const : "qwen3" as const;
  const numLayers = c.int("num_hidden_layers");
  const numHeads = c.int("num_attention_heads");
  const numKvHeads = c.int("num_key_value_heads", numHeads);
  const headDim = c.int("head_dim", c.int("hidden_size") / numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new FormatError(
      `${file}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  if (headDim % 2 !== 0) throw new FormatError(`${file}: head_dim must be even, got ${headDim}`);

  // Sliding window only when enabled, and then only from layer max_window_layers on (or per layer_types).
  const types = c.stringArray("layer_types");
  if (types && types.length !== numLayers) {
    throw new FormatError(
      `${file}: 'layer_types' has ${types.length} entries but num_hidden_layers is ${numLayers}`,
    );
  }
  const sliding = json.use_sliding_window === true && c.has("sliding_window");
  const window = sliding ? c.int("sliding_window") : 0;
  const firstSliding = c.number("max_window_layers", numLayers);
  const layerWindows = Array.from({ length: numLayers }, (_, i) => {
    if (types) {
      if (types[i] === "full_attention") return 0;
      if (types[i] !== "sliding_attention") {
        throw new FormatError(`${file}: unknown layer type '${types[i]}' in 'layer_types'`);
      }
      return c.int("sliding_window");
    }
    return sliding && i >= firstSliding ? window : 0;
  });

  let moe: Qwen3MoeConfig | null = null;
  let layerIsMoe = new Array<boolean>(numLayers).fill(false);
  if (arch === "qwen3_moe") {
    const numExperts = c.int("num_experts");
    const expertsPerToken = c.int("num_experts_per_tok");
    if (expertsPerToken > numExperts) {
      throw new FormatError(
        `${file}: num_experts_per_tok (${expertsPerToken}) exceeds num_experts (${numExperts})`,
      );
    }
    const step = c.int("decoder_sparse_step", 1);
    const denseOnly = new Set(json.mlp_only_layers === undefined ? [] : c.intList("mlp_only_layers"));
    for (const l of denseOnly) {
      if (l < 0 || l >= numLayers) {
        throw new FormatError(`${file}: mlp_only_layers holds ${l}, outside 0..${numLayers - 1}`);
      }
    }
    moe = Object.freeze({
      numExperts,
      expertsPerToken,
      expertSize: c.int("moe_intermediate_size"),
      normTopkProb: json.norm_topk_prob === true,
    });
    layerIsMoe = layerIsMoe.map((_, l) => !denseOnly.has(l) && (l + 1) % step === 0);
  }

  const params = c.object("rope_parameters");
  const theta = c.has("rope_theta") ? c.number("rope_theta") : params ? params.number("rope_theta") : 10000;
  const scaling = c.object("rope_scaling") ?? params;
  let yarn: RopeConfig["yarn"] = null;
  const ropeType = scaling ? scaling.json.rope_type ?? scaling.json.type ?? "default" : "default";
  if (ropeType === "yarn") {
    yarn = Object.freeze({
      factor: scaling!.number("factor"),
      betaFast: scaling!.number("beta_fast", 32),
      betaSlow: scaling!.number("beta_slow", 1),
      originalContext: scaling!.int("original_max_position_embeddings", c.int("max_position_embeddings")),
      truncate: scaling!.json.truncate !== false,
    });
  } else if (ropeType !== "default") {
    throw new FormatError(
      `${file}: rope type ${JSON.stringify(ropeType)} is not supported (expected 'default' or 'yarn')`,
    );
  }

  return Object.freeze({
    arch,
    source: file,
    vocabSize: c.int("vocab_size"),
    hiddenSize: c.int("hidden_size"),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: c.int("intermediate_size"),
    rope: Object.freeze({ theta, dim: headDim, yarn }),
    rmsNormEps: c.number("rms_norm_eps", 1e-6),
    attentionBias: json.attention_bias === true,
    tieEmbeddings: json.tie_word_embeddings === true,
    layerWindows: Object.freeze(layerWindows),
    moe,
    layerIsMoe: Object.freeze(layerIsMoe),
    maxContext: c.int("max_position_embeddings", 40960),
    eosTokenIds: Object.freeze(c.intList("eos_token_id")),
  });
}

/** The Hub tensor names of a Qwen3 / Qwen3-MoE checkpoint. */
export const qwen3Names = {
  embed: "model.embed_tokens.weight",
  finalNorm: "model.norm.weight",
  lmHead: "lm_head.weight",
  layer: (i: number) => {
    const p = `model.layers.${i}.`;
    return {
      attnNorm: p + "input_layernorm.weight",
      q: p + "self_attn.q_proj.weight",
      k: p + "self_attn.k_proj.weight",
      v: p + "self_attn.v_proj.weight",
      o: p + "self_attn.o_proj.weight",
      qBias: p + "self_attn.q_proj.bias",
      kBias: p + "self_attn.k_proj.bias",
      vBias: p + "self_attn.v_proj.bias",
      oBias: p + "self_attn.o_proj.bias",
      qNorm: p + "self_attn.q_norm.weight",
      kNorm: p + "self_attn.k_norm.weight",
      mlpNorm: p + "post_attention_layernorm.weight",
      // dense layers
      gate: p + "mlp.gate_proj.weight",
      up: p + "mlp.up_proj.weight",
      down: p + "mlp.down_proj.weight",
      // sparse layers: `mlp.gate` is the router, each expert has its own SwiGLU
      router: p + "mlp.gate.weight",
      expertGate: (e: number) => `${p}mlp.experts.${e}.gate_proj.weight`,
      expertUp: (e: number) => `${p}mlp.experts.${e}.up_proj.weight`,
      expertDown: (e: number) => `${p}mlp.experts.${e}.down_proj.weight`,
    };
  },
};

export interface Qwen3DenseMlp {
  readonly kind: "dense";
  gate: Mat; // [ffn, hidden]
  up: Mat; // [ffn, hidden]
  down: Mat; // [hidden, ffn]
}

export interface Qwen3MoeMlp {
  readonly kind: "moe";
  router: Mat; // [experts, hidden], no bias
  gate: Mat[]; // per expert [expertSize, hidden]
  up: Mat[]; // per expert [expertSize, hidden]
  down: Mat[]; // per expert [hidden, expertSize]
}

export interface Qwen3LayerWeights {
  attnNorm: Float32Array; // [hidden]
  q: Mat; // [heads*headDim, hidden]
  k: Mat; // [kvHeads*headDim, hidden]
  v: Mat; // [kvHeads*headDim, hidden]
  o: Mat; // [hidden, heads*headDim]
  qBias: Float32Array | null; // [heads*headDim] when attention_bias
  kBias: Float32Array | null; // [kvHeads*headDim]
  vBias: Float32Array | null; // [kvHeads*headDim]
  oBias: Float32Array | null; // [hidden]
  qNorm: Float32Array; // [headDim], shared by all query heads
  kNorm: Float32Array; // [headDim], shared by all KV heads
  mlpNorm: Float32Array; // [hidden]
  ffn: Qwen3DenseMlp | Qwen3MoeMlp;
}

export interface Qwen3Weights {
  embed: Mat; // [vocab, hidden]
  layers: Qwen3LayerWeights[];
  finalNorm: Float32Array; // [hidden]
  unembed: Mat; // [vocab, hidden]: embed when tied
}

const FLOAT = ["BF16", "F16", "F32"] as const;

export function loadQwen3Weights(store: TensorStore, cfg: Qwen3Config): Qwen3Weights {
  const H = cfg.hiddenSize, D = cfg.headDim, qw = cfg.numHeads * D, kvw = cfg.numKvHeads * D;
  const mat = (name: string, rows: number, cols: number): Mat => {
    const t = store.tensor(name);
    expectTensor(t, FLOAT, [rows, cols]);
    return matOf(t);
  };
  const vec = (name: string, n: number): Float32Array => {
    const t = store.tensor(name);
    expectTensor(t, FLOAT, [n]);
    return toF32(t);
  };
  const bias = (name: string, n: number) => cfg.attentionBias ? vec(name, n) : null;

  const layers: Qwen3LayerWeights[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const n = qwen3Names.layer(l);
    let ffn: Qwen3DenseMlp | Qwen3MoeMlp;
    if (cfg.layerIsMoe[l]) {
      const m = cfg.moe!, E = m.numExperts, F = m.expertSize;
      const experts = Array.from({ length: E }, (_, e) => e);
      ffn = {
        kind: "moe",
        router: mat(n.router, E, H),
        gate: experts.map((e) => mat(n.expertGate(e), F, H)),
        up: experts.map((e) => mat(n.expertUp(e), F, H)),
        down: experts.map((e) => mat(n.expertDown(e), H, F)),
      };
    } else {
      const F = cfg.intermediateSize;
      ffn = { kind: "dense", gate: mat(n.gate, F, H), up: mat(n.up, F, H), down: mat(n.down, H, F) };
    }
    layers.push({
      attnNorm: vec(n.attnNorm, H),
      q: mat(n.q, qw, H),
      k: mat(n.k, kvw, H),
      v: mat(n.v, kvw, H),
      o: mat(n.o, H, qw),
      qBias: bias(n.qBias, qw),
      kBias: bias(n.kBias, kvw),
      vBias: bias(n.vBias, kvw),
      oBias: bias(n.oBias, H),
      qNorm: vec(n.qNorm, D),
      kNorm: vec(n.kNorm, D),
      mlpNorm: vec(n.mlpNorm, H),
      ffn,
    });
  }
  const embed = mat(qwen3Names.embed, cfg.vocabSize, H);
  return {
    embed,
    layers,
    finalNorm: vec(qwen3Names.finalNorm, H),
    unembed: cfg.tieEmbeddings ? embed : mat(qwen3Names.lmHead, cfg.vocabSize, H),
  };
}
