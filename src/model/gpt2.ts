// GPT-2 (`GPT2LMHeadModel`) as data: config parsing, the tensor-name table (Hub names with or without the
// `transformer.` prefix) and weight loading, with Conv1D [in, out] weights transposed to [out, in] at load.

import type { TensorStore } from "../io/checkpoint.ts";
import { FormatError } from "../io/errors.ts";
import type { Tensor } from "../io/safetensors.ts";
import { ConfigReader } from "./config.ts";
import { expectTensor, type Mat, matOf, toF32 } from "./dtypes.ts";

export interface Gpt2Config {
  readonly arch: "gpt2";
  /** The config.json this came from, for error messages. */
  readonly source: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** hiddenSize / numHeads: GPT-2 has no separate head_dim key. */
  readonly headDim: number;
  /** MLP inner width (n_inner, or 4 * n_embd when null). */
  readonly ffnSize: number;
  /** Learned positions: the context can never exceed n_positions. */
  readonly maxContext: number;
  readonly layerNormEps: number;
  readonly eosTokenIds: readonly number[];
}

/** Activations that are the tanh-approximated GELU the reference kernel computes. */
const TANH_GELU = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

export function parseGpt2Config(file: string, json: Record<string, unknown>): Gpt2Config {
  const c = new ConfigReader(file, json);
  const hiddenSize = c.int(["n_embd", "hidden_size"]);
  const numHeads = c.int(["n_head", "num_attention_heads"]);
  if (hiddenSize % numHeads !== 0) {
    throw new FormatError(`${file}: n_embd (${hiddenSize}) is not a multiple of n_head (${numHeads})`);
  }
  const act = json.activation_function ?? "gelu_new";
  if (typeof act !== "string" || !TANH_GELU.includes(act)) {
    throw new FormatError(
      `${file}: activation_function ${JSON.stringify(act)} is not supported (expected 'gelu_new')`,
    );
  }
  return Object.freeze({
    arch: "gpt2" as const,
    source: file,
    vocabSize: c.int("vocab_size"),
    hiddenSize,
    numLayers: c.int(["n_layer", "num_hidden_layers"]),
    numHeads,
    headDim: hiddenSize / numHeads,
    ffnSize: c.int("n_inner", 4 * hiddenSize),
    maxContext: c.int(["n_positions", "max_position_embeddings"]),
    layerNormEps: c.number("layer_norm_epsilon", 1e-5),
    eosTokenIds: Object.freeze(c.intList("eos_token_id")),
  });
}

/** Tensor names of a GPT-2 checkpoint; `prefix` is "" (Hub gpt2) or "transformer." (other exports). */
export function gpt2Names(prefix: string) {
  return {
    tokenEmbed: prefix + "wte.weight",
    posEmbed: prefix + "wpe.weight",
    finalNormW: prefix + "ln_f.weight",
    finalNormB: prefix + "ln_f.bias",
    /** Present only in untied exports; otherwise logits use wte. */
    lmHead: "lm_head.weight",
    layer: (i: number) => {
      const p = `${prefix}h.${i}.`;
      return {
        ln1W: p + "ln_1.weight",
        ln1B: p + "ln_1.bias",
        qkv: p + "attn.c_attn.weight", // [in, 3*out]: columns q | k | v
        qkvBias: p + "attn.c_attn.bias",
        o: p + "attn.c_proj.weight",
        oBias: p + "attn.c_proj.bias",
        ln2W: p + "ln_2.weight",
        ln2B: p + "ln_2.bias",
        fc: p + "mlp.c_fc.weight",
        fcBias: p + "mlp.c_fc.bias",
        proj: p + "mlp.c_proj.weight",
        projBias: p + "mlp.c_proj.bias",
        // `attn.bias` (causal-mask buffer) and `attn.masked_bias` are not weights: never read.
      };
    },
  };
}

/** "" or "transformer.", from the tensor names present. */
export function detectGpt2Prefix(store: TensorStore): string {
  if (store.has("wte.weight")) return "";
  if (store.has("transformer.wte.weight")) return "transformer.";
  throw new FormatError(
    `${store.dir}: not a GPT-2 checkpoint (neither 'wte.weight' nor 'transformer.wte.weight' found)`,
  );
}

export interface Gpt2LayerWeights {
  ln1W: Float32Array; // [hidden]
  ln1B: Float32Array; // [hidden]
  q: Mat; // [hidden, hidden] F32, rows = output features; head j owns rows headDim*j ..
  qBias: Float32Array; // [hidden]
  k: Mat; // [hidden, hidden]
  kBias: Float32Array; // [hidden]
  v: Mat; // [hidden, hidden]
  vBias: Float32Array; // [hidden]
  o: Mat; // [hidden, hidden]
  oBias: Float32Array; // [hidden]
  ln2W: Float32Array; // [hidden]
  ln2B: Float32Array; // [hidden]
  fc: Mat; // [ffn, hidden]
  fcBias: Float32Array; // [ffn]
  proj: Mat; // [hidden, ffn]
  projBias: Float32Array; // [hidden]
}

export interface Gpt2Weights {
  tokenEmbed: Mat; // [vocab, hidden]
  posEmbed: Mat; // [maxContext, hidden]
  layers: Gpt2LayerWeights[];
  finalNormW: Float32Array; // [hidden]
  finalNormB: Float32Array; // [hidden]
  unembed: Mat; // [vocab, hidden]: wte when tied
}

const FLOAT = ["BF16", "F16", "F32"] as const;

/** A Conv1D weight [in, out] as an F32 Mat [out, in] (a copy: y = W x with the other kernels). */
function transposed(t: Tensor): Mat {
  const [rows, cols] = [t.shape[1], t.shape[0]];
  const src = toF32(t);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < cols; i++) for (let o = 0; o < rows; o++) data[o * cols + i] = src[i * rows + o];
  return { dtype: "F32", rows, cols, data };
}

/** Rows [r0, r1) of an F32 Mat as a view. */
function rowsOf(m: Mat, r0: number, r1: number): Mat {
  return { dtype: m.dtype, rows: r1 - r0, cols: m.cols, data: m.data.subarray(r0 * m.cols, r1 * m.cols) };
}

export function loadGpt2Weights(store: TensorStore, cfg: Gpt2Config): Gpt2Weights {
  const names = gpt2Names(detectGpt2Prefix(store));
  const H = cfg.hiddenSize, F = cfg.ffnSize;
  const get = (name: string, shape: number[]): Tensor => {
    const t = store.tensor(name);
    expectTensor(t, FLOAT, shape);
    return t;
  };
  const vec = (name: string, n: number) => toF32(get(name, [n]));
  const conv = (name: string, inDim: number, outDim: number) => transposed(get(name, [inDim, outDim]));

  const layers: Gpt2LayerWeights[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const n = names.layer(i);
    const qkv = conv(n.qkv, H, 3 * H), qkvBias = vec(n.qkvBias, 3 * H);
    layers.push({
      ln1W: vec(n.ln1W, H),
      ln1B: vec(n.ln1B, H),
      q: rowsOf(qkv, 0, H),
      qBias: qkvBias.subarray(0, H),
      k: rowsOf(qkv, H, 2 * H),
      kBias: qkvBias.subarray(H, 2 * H),
      v: rowsOf(qkv, 2 * H, 3 * H),
      vBias: qkvBias.subarray(2 * H, 3 * H),
      o: conv(n.o, H, H),
      oBias: vec(n.oBias, H),
      ln2W: vec(n.ln2W, H),
      ln2B: vec(n.ln2B, H),
      fc: conv(n.fc, H, F),
      fcBias: vec(n.fcBias, F),
      proj: conv(n.proj, F, H),
      projBias: vec(n.projBias, H),
    });
  }
  const tokenEmbed = matOf(get(names.tokenEmbed, [cfg.vocabSize, H]));
  return {
    tokenEmbed,
    posEmbed: matOf(get(names.posEmbed, [cfg.maxContext, H])),
    layers,
    finalNormW: vec(names.finalNormW, H),
    finalNormB: vec(names.finalNormB, H),
    unembed: store.has(names.lmHead) ? matOf(get(names.lmHead, [cfg.vocabSize, H])) : tokenEmbed,
  };
}
