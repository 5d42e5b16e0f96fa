// The shapes the wasm and webgpu forward passes still read, made from a loaded model's config, plan and
// weights (until those passes run over the plan themselves; then this file goes). Each view checks that
// the plan is one its forward pass computes and otherwise says in one line what it lacks; no view asks
// which architecture a model is, so any architecture whose plan fits runs (Llama on the dense RoPE path).

import type { ModelConfig, RopeConfig } from "../model/config.ts";
import type { Mat } from "../model/dtypes.ts";
import type { GptOssConfig } from "../model/gpt_oss.ts";
import type { LoadedModel } from "../model/load.ts";
import type { Mxfp4Experts } from "../model/mxfp4.ts";
import type { LayerPlan, MoePlan } from "../model/plan.ts";
import type { DenseFfnWeights, LayerWeights, MoeFfnWeights } from "../model/weights.ts";

/** gpt-oss's sharded wasm and webgpu passes: every layer biased, with sinks and MXFP4 experts. */
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
  sinks: Float32Array; // [heads]
  mlpNorm: Float32Array; // [hidden]
  router: Mat; // [experts, hidden]
  routerBias: Float32Array; // [experts]
  gateUp: Mxfp4Experts; // [experts, 2*ffn, hidden]: rows interleaved gate_0, up_0, gate_1, ...
  down: Mxfp4Experts; // [experts, hidden, ffn]
}

export interface GptOssWeights {
  embed: Mat; // [vocab, hidden]
  layers: GptOssLayerWeights[];
  finalNorm: Float32Array; // [hidden]
  unembed: Mat; // [vocab, hidden]
}

/** The dense RoPE passes (Qwen3, Qwen3-MoE, Llama): RMSNorm, optional QK-norm, SwiGLU or float experts. */
export interface RopeDenseConfig extends ModelConfig {
  readonly rope: RopeConfig;
  /** The widest dense MLP (0 when every layer is MoE). */
  readonly intermediateSize: number;
  readonly layerWindows: readonly number[];
  readonly moe: {
    readonly numExperts: number;
    readonly expertsPerToken: number;
    readonly expertSize: number;
    readonly normTopkProb: boolean;
  } | null;
  readonly layerIsMoe: readonly boolean[];
}

export interface RopeDenseLayerWeights {
  attnNorm: Float32Array; // [hidden]
  q: Mat;
  k: Mat;
  v: Mat;
  o: Mat;
  qBias: Float32Array | null;
  kBias: Float32Array | null;
  vBias: Float32Array | null;
  oBias: Float32Array | null;
  qNorm: Float32Array | null; // [headDim]
  kNorm: Float32Array | null;
  mlpNorm: Float32Array; // [hidden]
  ffn:
    | (Omit<DenseFfnWeights, "gate"> & { readonly gate: Mat })
    | { kind: "moe"; router: Mat; gate: readonly Mat[]; up: readonly Mat[]; down: readonly Mat[] };
}

export interface RopeDenseWeights {
  embed: Mat;
  layers: RopeDenseLayerWeights[];
  finalNorm: Float32Array;
  unembed: Mat; // the same object as embed when tied
}

/** The GPT-2 passes: learned positions, LayerNorm, biased MHA, GELU MLP with biases. */
export interface Gpt2ViewConfig extends ModelConfig {
  readonly ffnSize: number;
}

export interface Gpt2LayerWeights {
  ln1W: Float32Array;
  ln1B: Float32Array;
  q: Mat;
  qBias: Float32Array;
  k: Mat;
  kBias: Float32Array;
  v: Mat;
  vBias: Float32Array;
  o: Mat;
  oBias: Float32Array;
  ln2W: Float32Array;
  ln2B: Float32Array;
  fc: Mat; // [ffn, hidden]
  fcBias: Float32Array;
  proj: Mat; // [hidden, ffn]
  projBias: Float32Array;
}

export interface Gpt2Weights {
  tokenEmbed: Mat;
  posEmbed: Mat; // [maxContext, hidden]
  layers: Gpt2LayerWeights[];
  finalNormW: Float32Array;
  finalNormB: Float32Array;
  unembed: Mat; // the same object as tokenEmbed when tied
}

/** A view, or the one-line reason this forward pass cannot run the model. */
export type View<C, W> = { readonly config: C; readonly weights: W } | string;

/** q, k, v and o with their biases, of a layer whose plan says they have them. */
function biasedAttention(L: LayerWeights) {
  return {
    q: L.q,
    qBias: L.qBias!,
    k: L.k,
    kBias: L.kBias!,
    v: L.v,
    vBias: L.vBias!,
    o: L.o,
    oBias: L.oBias!,
  };
}

/** The first layer's value of `get` when every layer agrees, else null. */
function uniform<T>(layers: readonly LayerPlan[], get: (p: LayerPlan) => T): T | null {
  const v = JSON.stringify(get(layers[0]));
  return layers.every((p) => JSON.stringify(get(p)) === v) ? get(layers[0]) : null;
}

/** The first reason in `checks` that holds, or null. */
function firstReason(checks: [boolean, string][]): string | null {
  return checks.find(([bad]) => bad)?.[1] ?? null;
}

export function gptOssView(m: LoadedModel): View<GptOssConfig, GptOssWeights> {
  const c = m.config, layers = m.plan.layers;
  const moe = uniform(layers, (p) => p.mlp.kind === "moe" && p.mlp.format === "mxfp4" ? p.mlp : null);
  const why = firstReason([
    [!c.rope || !uniform(layers, (p) => p.attention.rope), "RoPE on every layer"],
    [c.norm.kind !== "rmsnorm" || !uniform(layers, (p) => p.norm === "rmsnorm"), "RMSNorm"],
    [
      !uniform(layers, (p) => p.attention.bias && p.attention.sinks && !p.attention.qkNorm),
      "biased attention with sinks and no QK-norm",
    ],
    [
      !moe || moe.routing !== "topk_softmax" || moe.act.kind !== "swiglu_clamped" || !moe.routerBias,
      "the same top-k-then-softmax MXFP4 experts with clamped SwiGLU on every layer",
    ],
  ]);
  if (why) return `needs ${why}`;
  const x = moe as MoePlan & { act: { kind: "swiglu_clamped"; limit: number; alpha: number } };
  const config: GptOssConfig = {
    ...c,
    rope: c.rope!,
    numExperts: x.experts,
    expertsPerToken: x.topK,
    intermediateSize: x.width,
    layerWindows: layers.map((p) => p.attention.window),
    swigluLimit: x.act.limit,
    swigluAlpha: x.act.alpha,
  };
  const w = m.weights;
  const layerView = (L: LayerWeights): GptOssLayerWeights => {
    const f = L.ffn as MoeFfnWeights, e = f.experts as Extract<MoeFfnWeights["experts"], { format: "mxfp4" }>;
    return {
      attnNorm: L.attnNorm,
      ...biasedAttention(L),
      sinks: L.sinks!,
      mlpNorm: L.mlpNorm,
      router: f.router,
      routerBias: f.routerBias!,
      gateUp: e.gateUp,
      down: e.down,
    };
  };
  return {
    config,
    weights: { embed: w.embed, layers: w.layers.map(layerView), finalNorm: w.finalNorm, unembed: w.unembed },
  };
}

export function ropeDenseView(m: LoadedModel): View<RopeDenseConfig, RopeDenseWeights> {
  const c = m.config, layers = m.plan.layers;
  const moes = layers.flatMap((p) => p.mlp.kind === "moe" ? [p.mlp] : []);
  const moe = moes.length
    ? uniform(layers.filter((p) => p.mlp.kind === "moe"), (p) => p.mlp) as MoePlan
    : null;
  const why = firstReason([
    [!c.rope || !uniform(layers, (p) => p.attention.rope), "RoPE on every layer"],
    [c.norm.kind !== "rmsnorm" || !uniform(layers, (p) => p.norm === "rmsnorm"), "RMSNorm"],
    [layers.some((p) => p.attention.sinks), "attention without sinks"],
    [layers.some((p) => p.mlp.act.kind !== "swiglu"), "plain SwiGLU"],
    [
      moes.length > 0 && (!moe || moe.format !== "float" || moe.routing !== "softmax_topk" || moe.routerBias),
      "the same softmax-then-top-k float experts on every MoE layer",
    ],
  ]);
  if (why) return `needs ${why}`;
  const config: RopeDenseConfig = {
    ...c,
    rope: c.rope!,
    intermediateSize: Math.max(0, ...layers.map((p) => p.mlp.kind === "dense" ? p.mlp.width : 0)),
    layerWindows: layers.map((p) => p.attention.window),
    moe: moe &&
      {
        numExperts: moe.experts,
        expertsPerToken: moe.topK,
        expertSize: moe.width,
        normTopkProb: moe.normalize,
      },
    layerIsMoe: layers.map((p) => p.mlp.kind === "moe"),
  };
  const w = m.weights;
  const layerView = (L: LayerWeights): RopeDenseLayerWeights => {
    const f = L.ffn;
    let ffn: RopeDenseLayerWeights["ffn"];
    if (f.kind === "dense") ffn = { ...f, gate: f.gate! };
    else {
      const e = f.experts as Extract<MoeFfnWeights["experts"], { format: "float" }>;
      ffn = { kind: "moe", router: f.router, gate: e.gate, up: e.up, down: e.down };
    }
    return { ...L, ffn };
  };
  return {
    config,
    weights: { embed: w.embed, layers: w.layers.map(layerView), finalNorm: w.finalNorm, unembed: w.unembed },
  };
}

export function gpt2View(m: LoadedModel): View<Gpt2ViewConfig, Gpt2Weights> {
  const c = m.config, layers = m.plan.layers, w = m.weights;
  const mlp = uniform(
    layers,
    (p) => p.mlp.kind === "dense" && p.mlp.act.kind === "gelu_tanh" && p.mlp.bias ? p.mlp : null,
  );
  const why = firstReason([
    [c.rope !== null || !w.posEmbed, "learned positions"],
    [c.norm.kind !== "layernorm" || !uniform(layers, (p) => p.norm === "layernorm"), "LayerNorm"],
    [c.numKvHeads !== c.numHeads, "as many KV heads as heads"],
    [
      !uniform(
        layers,
        (p) => p.attention.bias && !p.attention.sinks && !p.attention.qkNorm && p.attention.window === 0,
      ),
      "biased full attention without sinks or QK-norm",
    ],
    [!mlp, "the same GELU MLP with biases on every layer"],
  ]);
  if (why) return `needs ${why}`;
  const layerView = (L: LayerWeights): Gpt2LayerWeights => {
    const f = L.ffn as DenseFfnWeights;
    return {
      ln1W: L.attnNorm,
      ln1B: L.attnNormBias!,
      ...biasedAttention(L),
      ln2W: L.mlpNorm,
      ln2B: L.mlpNormBias!,
      fc: f.up,
      fcBias: f.upBias!,
      proj: f.down,
      projBias: f.downBias!,
    };
  };
  return {
    config: { ...c, ffnSize: (mlp as { width: number }).width },
    weights: {
      tokenEmbed: w.embed,
      posEmbed: w.posEmbed!,
      layers: w.layers.map(layerView),
      finalNormW: w.finalNorm,
      finalNormB: w.finalNormBias!,
      unembed: w.unembed,
    },
  };
}
