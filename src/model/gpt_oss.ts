// gpt-oss (gpt-oss-20b, gpt-oss-120b) as data: config parsing for the Hub and `original/` layouts,
// the tensor-name table of each layout, and the per-layer plan (sliding or full attention).

import type { TensorStore } from "../io/checkpoint.ts";
import { FormatError } from "../io/errors.ts";
import type { Tensor } from "../io/safetensors.ts";
import { ConfigReader, type ModelConfig } from "./config.ts";
import { expectTensor, type Mat, matOf, toF32 } from "./dtypes.ts";
import type { Mxfp4Experts } from "./mxfp4.ts";

/** Which checkpoint naming a folder uses. */
export type GptOssLayout = "hub" | "original";

/** Parses config.json of either layout into a frozen ModelConfig. */
export function parseGptOssConfig(file: string, json: Record<string, unknown>): ModelConfig {
  const c = new ConfigReader(file, json);
  const numLayers = c.int("num_hidden_layers");
  const hiddenSize = c.int("hidden_size");
  const numHeads = c.int("num_attention_heads");
  const numKvHeads = c.int("num_key_value_heads");
  const headDim = c.int("head_dim");
  if (numHeads % numKvHeads !== 0) {
    throw new FormatError(
      `${file}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  if (headDim % 2 !== 0) throw new FormatError(`${file}: head_dim must be even, got ${headDim}`);
  const numExperts = c.int(["num_local_experts", "num_experts"]);
  const expertsPerToken = c.int(["num_experts_per_tok", "experts_per_token"]);
  if (expertsPerToken > numExperts) {
    throw new FormatError(
      `${file}: experts per token (${expertsPerToken}) exceeds the number of experts (${numExperts})`,
    );
  }
  const slidingWindow = c.int("sliding_window");
  const types = c.stringArray("layer_types");
  if (types && types.length !== numLayers) {
    throw new FormatError(
      `${file}: 'layer_types' has ${types.length} entries but num_hidden_layers is ${numLayers}`,
    );
  }
  // Without layer_types (the original/ config), even layers slide and odd layers attend fully.
  const layerWindows = Array.from({ length: numLayers }, (_, i) => {
    const t = types ? types[i] : i % 2 === 0 ? "sliding_attention" : "full_attention";
    if (t === "sliding_attention") return slidingWindow;
    if (t === "full_attention") return 0;
    throw new FormatError(`${file}: unknown layer type '${t}' in 'layer_types'`);
  });
  for (const key of ["intermediate_size", "hidden_size"]) {
    if (c.int(key) % 32 !== 0) {
      throw new FormatError(`${file}: '${key}' must be a multiple of 32 (one MXFP4 block)`);
    }
  }
  const theta = c.number("rope_theta");
  const scaling = c.object("rope_scaling");
  let yarn: ModelConfig["rope"]["yarn"] = null;
  if (scaling) {
    const type = scaling.json.rope_type ?? scaling.json.type;
    if (type !== "yarn") {
      throw new FormatError(`${file}: rope_scaling.rope_type '${type}' is not supported (expected 'yarn')`);
    }
    yarn = {
      factor: scaling.number("factor"),
      betaFast: scaling.number("beta_fast", 32),
      betaSlow: scaling.number("beta_slow", 1),
      originalContext: scaling.int(
        "original_max_position_embeddings",
        c.number("initial_context_length", 4096),
      ),
      truncate: scaling.json.truncate === undefined ? true : scaling.json.truncate === true,
    };
  } else if (c.has("rope_scaling_factor")) {
    // original/ layout: ntk_alpha is beta_slow, ntk_beta is beta_fast; no truncation of the ramp.
    yarn = {
      factor: c.number("rope_scaling_factor"),
      betaFast: c.number("rope_ntk_beta", 32),
      betaSlow: c.number("rope_ntk_alpha", 1),
      originalContext: c.int("initial_context_length"),
      truncate: false,
    };
  }
  const eos = c.intList("eos_token_id");
  return Object.freeze({
    arch: "gpt_oss" as const,
    source: file,
    vocabSize: c.int("vocab_size"),
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    numExperts,
    expertsPerToken,
    intermediateSize: c.int("intermediate_size"),
    layerWindows: Object.freeze(layerWindows),
    rope: Object.freeze({ theta, dim: headDim, yarn: yarn && Object.freeze(yarn) }),
    swigluLimit: c.number("swiglu_limit", 7),
    swigluAlpha: 1.702,
    rmsNormEps: c.number("rms_norm_eps", 1e-5),
    maxContext: c.int(["max_position_embeddings"], 131072),
    eosTokenIds: Object.freeze(eos),
  });
}

/** Where a logical weight lives: a tensor name, and for fused tensors the row range to take. */
interface TensorRef {
  readonly name: string;
  readonly rows?: readonly [number, number];
}

/** Logical names of one layer's tensors, the same for every layout. */
interface LayerNames {
  attnNorm: TensorRef;
  q: TensorRef;
  qBias: TensorRef;
  k: TensorRef;
  kBias: TensorRef;
  v: TensorRef;
  vBias: TensorRef;
  o: TensorRef;
  oBias: TensorRef;
  sinks: TensorRef;
  mlpNorm: TensorRef;
  router: TensorRef;
  routerBias: TensorRef;
  gateUpBlocks: TensorRef;
  gateUpScales: TensorRef;
  gateUpBias: TensorRef;
  downBlocks: TensorRef;
  downScales: TensorRef;
  downBias: TensorRef;
}

interface NameTable {
  embed: TensorRef;
  finalNorm: TensorRef;
  unembed: TensorRef;
  layer(i: number): LayerNames;
}

/** The tensor-name table of each layout. */
export function gptOssNames(layout: GptOssLayout, cfg: ModelConfig): NameTable {
  if (layout === "hub") {
    return {
      embed: { name: "model.embed_tokens.weight" },
      finalNorm: { name: "model.norm.weight" },
      unembed: { name: "lm_head.weight" },
      layer: (i) => {
        const p = `model.layers.${i}.`;
        return {
          attnNorm: { name: p + "input_layernorm.weight" },
          q: { name: p + "self_attn.q_proj.weight" },
          qBias: { name: p + "self_attn.q_proj.bias" },
          k: { name: p + "self_attn.k_proj.weight" },
          kBias: { name: p + "self_attn.k_proj.bias" },
          v: { name: p + "self_attn.v_proj.weight" },
          vBias: { name: p + "self_attn.v_proj.bias" },
          o: { name: p + "self_attn.o_proj.weight" },
          oBias: { name: p + "self_attn.o_proj.bias" },
          sinks: { name: p + "self_attn.sinks" },
          mlpNorm: { name: p + "post_attention_layernorm.weight" },
          router: { name: p + "mlp.router.weight" },
          routerBias: { name: p + "mlp.router.bias" },
          gateUpBlocks: { name: p + "mlp.experts.gate_up_proj_blocks" },
          gateUpScales: { name: p + "mlp.experts.gate_up_proj_scales" },
          gateUpBias: { name: p + "mlp.experts.gate_up_proj_bias" },
          downBlocks: { name: p + "mlp.experts.down_proj_blocks" },
          downScales: { name: p + "mlp.experts.down_proj_scales" },
          downBias: { name: p + "mlp.experts.down_proj_bias" },
        };
      },
    };
  }
  // original/: q, k and v are row ranges of one fused qkv tensor.
  const qRows = cfg.numHeads * cfg.headDim, kvRows = cfg.numKvHeads * cfg.headDim;
  const q = [0, qRows] as const,
    k = [qRows, qRows + kvRows] as const,
    v = [qRows + kvRows, qRows + 2 * kvRows] as const;
  return {
    embed: { name: "embedding.weight" },
    finalNorm: { name: "norm.scale" },
    unembed: { name: "unembedding.weight" },
    layer: (i) => {
      const p = `block.${i}.`;
      return {
        attnNorm: { name: p + "attn.norm.scale" },
        q: { name: p + "attn.qkv.weight", rows: q },
        qBias: { name: p + "attn.qkv.bias", rows: q },
        k: { name: p + "attn.qkv.weight", rows: k },
        kBias: { name: p + "attn.qkv.bias", rows: k },
        v: { name: p + "attn.qkv.weight", rows: v },
        vBias: { name: p + "attn.qkv.bias", rows: v },
        o: { name: p + "attn.out.weight" },
        oBias: { name: p + "attn.out.bias" },
        sinks: { name: p + "attn.sinks" },
        mlpNorm: { name: p + "mlp.norm.scale" },
        router: { name: p + "mlp.gate.weight" },
        routerBias: { name: p + "mlp.gate.bias" },
        gateUpBlocks: { name: p + "mlp.mlp1_weight.blocks" },
        gateUpScales: { name: p + "mlp.mlp1_weight.scales" },
        gateUpBias: { name: p + "mlp.mlp1_bias" },
        downBlocks: { name: p + "mlp.mlp2_weight.blocks" },
        downScales: { name: p + "mlp.mlp2_weight.scales" },
        downBias: { name: p + "mlp.mlp2_bias" },
      };
    },
  };
}

/** Guesses the layout from the tensor names present. */
export function detectLayout(store: TensorStore): GptOssLayout {
  if (store.has("model.embed_tokens.weight")) return "hub";
  if (store.has("embedding.weight")) return "original";
  throw new FormatError(
    `${store.dir}: not a gpt-oss checkpoint (neither 'model.embed_tokens.weight' nor 'embedding.weight' found)`,
  );
}

export interface GptOssLayerWeights {
  attnNorm: Float32Array; // [hidden]
  q: Mat; // [heads*headDim, hidden]
  qBias: Float32Array; // [heads*headDim]
  k: Mat; // [kvHeads*headDim, hidden]
  kBias: Float32Array; // [kvHeads*headDim]
  v: Mat; // [kvHeads*headDim, hidden]
  vBias: Float32Array; // [kvHeads*headDim]
  o: Mat; // [hidden, heads*headDim]
  oBias: Float32Array; // [hidden]
  sinks: Float32Array; // [heads]: one extra softmax logit per query head
  mlpNorm: Float32Array; // [hidden]
  router: Mat; // [experts, hidden]
  routerBias: Float32Array; // [experts]
  gateUp: Mxfp4Experts; // [experts, 2*ffn, hidden]: rows interleaved gate_0, up_0, gate_1, ...
  down: Mxfp4Experts; // [experts, hidden, ffn]
}

/** All weights of a gpt-oss model: matrices are views over the mapped files; vectors are widened copies. */
export interface GptOssWeights {
  embed: Mat; // [vocab, hidden]
  layers: GptOssLayerWeights[];
  finalNorm: Float32Array; // [hidden]
  unembed: Mat; // [vocab, hidden]
}

const FLOAT = ["BF16", "F16", "F32"] as const;

/** Resolves every tensor through the layout's name table, checking dtype and shape against the config. */
export function loadGptOssWeights(store: TensorStore, cfg: ModelConfig, layout: GptOssLayout): GptOssWeights {
  const names = gptOssNames(layout, cfg);
  const H = cfg.hiddenSize, E = cfg.numExperts, F = cfg.intermediateSize;
  const qRows = cfg.numHeads * cfg.headDim, kvRows = cfg.numKvHeads * cfg.headDim;
  const fusedRows = qRows + 2 * kvRows;

  const get = (ref: TensorRef, shape: number[]): Tensor => {
    const t = store.tensor(ref.name);
    const full = ref.rows ? [fusedRows, ...shape.slice(1)] : shape;
    expectTensor(t, FLOAT, full);
    return t;
  };
  const mat = (ref: TensorRef, rows: number, cols: number): Mat => {
    const t = get(ref, [rows, cols]);
    return ref.rows ? matOf(t, ref.rows[0], ref.rows[1]) : matOf(t);
  };
  const vec = (ref: TensorRef, shape: number[]): Float32Array => {
    const t = get(ref, shape);
    return ref.rows ? toF32(t, ref.rows[0], ref.rows[1]) : toF32(t);
  };
  const u8 = (ref: TensorRef, shape: number[]): Uint8Array => {
    const t = store.tensor(ref.name);
    expectTensor(t, ["U8"], shape);
    return t.bytes;
  };
  const experts = (blocks: TensorRef, scales: TensorRef, bias: TensorRef, rows: number, cols: number) => ({
    numExperts: E,
    rows,
    cols,
    blocks: u8(blocks, [E, rows, cols / 32, 16]),
    scales: u8(scales, [E, rows, cols / 32]),
    bias: vec(bias, [E, rows]),
  });

  const layers: GptOssLayerWeights[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const n = names.layer(i);
    layers.push({
      attnNorm: vec(n.attnNorm, [H]),
      q: mat(n.q, qRows, H),
      qBias: vec(n.qBias, [qRows]),
      k: mat(n.k, kvRows, H),
      kBias: vec(n.kBias, [kvRows]),
      v: mat(n.v, kvRows, H),
      vBias: vec(n.vBias, [kvRows]),
      o: mat(n.o, H, qRows),
      oBias: vec(n.oBias, [H]),
      sinks: vec(n.sinks, [cfg.numHeads]),
      mlpNorm: vec(n.mlpNorm, [H]),
      router: mat(n.router, E, H),
      routerBias: vec(n.routerBias, [E]),
      gateUp: experts(n.gateUpBlocks, n.gateUpScales, n.gateUpBias, 2 * F, H),
      down: experts(n.downBlocks, n.downScales, n.downBias, H, F),
    });
  }
  return {
    embed: mat(names.embed, cfg.vocabSize, H),
    layers,
    finalNorm: vec(names.finalNorm, [H]),
    unembed: mat(names.unembed, cfg.vocabSize, H),
  };
}
