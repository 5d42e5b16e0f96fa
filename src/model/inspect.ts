// `inspect` without weights: a model's shape and size from config.json and the safetensors headers (or,
// for a folder holding only config.json, from the tensor table its architecture file implies).

import { isFile, joinPath, listWeightFiles, readHeaders, readJson } from "../io/checkpoint.ts";
import { MissingError } from "../io/errors.ts";
import { type DType, DTYPE_BYTES } from "../io/safetensors.ts";
import { gpt2Names, parseGpt2Config } from "./gpt2.ts";
import { gptOssNames, parseGptOssConfig } from "./gpt_oss.ts";
import { modelFamily } from "./load_any.ts";
import { parseQwen3Config, qwen3Names } from "./qwen3.ts";

/** One tensor as a header lists it. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** How a tensor counts: lookup tables and buffers are not multiplied per token; experts only k of E. */
export type TensorRole = "embedding" | "unembedding" | "expert" | "dense" | "buffer";

export interface FormatSize {
  /** Storage dtype, or MXFP4 for the U8 block/scale pairs (4.25 bits per parameter). */
  readonly format: string;
  readonly params: number;
  readonly bytes: number;
}

export interface ModelSummary {
  readonly name: string;
  readonly dir: string;
  readonly modelType: string;
  readonly countedFrom: "safetensors headers" | "config.json";
  readonly params: {
    readonly total: number;
    /** Multiplied per token: everything but lookup tables (a tied embedding counts once, as the head). */
    readonly active: number;
    /** active plus the input embedding tables (the convention of Qwen's "A3B"). */
    readonly activeWithEmbeddings: number;
    readonly embedding: number;
  };
  /** Weights in memory by format (ossi maps them as stored). */
  readonly weights: readonly FormatSize[];
  /** Bytes per safetensors dtype, and the file sizes (headers included) or the estimate without files. */
  readonly disk: { readonly byDtype: Readonly<Record<string, number>>; readonly totalBytes: number };
  readonly layers: number;
  readonly width: number;
  readonly attention: {
    readonly kind: "MHA" | "GQA" | "MQA";
    readonly heads: number;
    readonly kvHeads: number;
    readonly headDim: number;
    /** Tokens per sliding window (0: none) and how many layers slide. */
    readonly slidingWindow: number;
    readonly slidingLayers: number;
    readonly sinks: boolean;
    readonly qkNorm: boolean;
    readonly bias: boolean;
  };
  readonly position: {
    readonly kind: "learned absolute" | "RoPE" | "RoPE + YaRN";
    readonly theta?: number;
    readonly yarnFactor?: number;
  };
  readonly maxContext: number;
  readonly norm: { readonly kind: "LayerNorm" | "RMSNorm"; readonly eps: number };
  readonly ffn: {
    readonly kind: "GELU (tanh) MLP" | "SwiGLU" | "clamped SwiGLU";
    /** Dense MLP width, or per-expert width for MoE layers. */
    readonly width: number;
    readonly experts: number;
    readonly topK: number;
    readonly sparseLayers: number;
    readonly router: string | null;
  };
  readonly vocab: number;
  readonly tiedEmbeddings: boolean;
  /** K and V of every layer at 16 bits; past the window, sliding layers stop growing. */
  readonly kvCache: { readonly bytesPerToken: number; readonly bytesPerTokenPastWindow: number };
}

/** The folder with config.json: the folder itself, else its original/. */
function configDir(path: string): string {
  if (isFile(joinPath(path, "config.json"))) return path;
  if (isFile(joinPath(path, "original", "config.json"))) return joinPath(path, "original");
  throw new MissingError(`${path}: no config.json (not a model folder)`);
}

export function roleOf(name: string): TensorRole {
  if (/(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(name)) return "buffer";
  if (/(^|\.)(wte|wpe|embed_tokens|embedding)\.weight$/.test(name)) return "embedding";
  if (/^(lm_head|unembedding)\.weight$/.test(name)) return "unembedding";
  if (/\.mlp\.experts\.|\.mlp\.mlp[12]_/.test(name)) return "expert";
  return "dense";
}

/** MXFP4 halves: `*_blocks` hold two 4-bit values per byte, `*_scales` one shared exponent per 32. */
function mxfp4Part(t: TensorEntry): "blocks" | "scales" | null {
  if (t.dtype !== "U8") return null;
  if (/[._]blocks$/.test(t.name)) return "blocks";
  if (/[._]scales$/.test(t.name)) return "scales";
  return null;
}

const count = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);
const bytesOf = (t: TensorEntry) => count(t.shape) * DTYPE_BYTES[t.dtype];

/** Parameters of a tensor (MXFP4 blocks: 2 per byte; scales and buffers: none). */
export function paramsOf(t: TensorEntry): number {
  const part = mxfp4Part(t);
  if (part === "blocks") return 2 * count(t.shape);
  if (part === "scales" || roleOf(t.name) === "buffer") return 0;
  return count(t.shape);
}

/** Float dtype of a config's torch_dtype, for tensor tables made without files. */
function floatDtype(json: Record<string, unknown>, fallback: DType): DType {
  const d = json.torch_dtype ?? json.dtype;
  return d === "bfloat16" ? "BF16" : d === "float16" ? "F16" : d === "float32" ? "F32" : fallback;
}

interface Described {
  readonly table: TensorEntry[];
  readonly numExperts: number;
  readonly topK: number;
  readonly summary: Omit<
    ModelSummary,
    "name" | "dir" | "modelType" | "countedFrom" | "params" | "weights" | "disk"
  >;
}

function describeGptOss(file: string, json: Record<string, unknown>): Described {
  const c = parseGptOssConfig(file, json);
  const n = gptOssNames("hub", c), H = c.hiddenSize, E = c.numExperts, F = c.intermediateSize;
  const qw = c.numHeads * c.headDim, kvw = c.numKvHeads * c.headDim, f = floatDtype(json, "BF16");
  const t = (name: string, shape: number[], dtype: DType = f): TensorEntry => ({ name, dtype, shape });
  const table = [t(n.embed.name, [c.vocabSize, H])];
  for (let l = 0; l < c.numLayers; l++) {
    const L = n.layer(l);
    table.push(
      t(L.attnNorm.name, [H]),
      t(L.q.name, [qw, H]),
      t(L.qBias.name, [qw]),
      t(L.k.name, [kvw, H]),
      t(L.kBias.name, [kvw]),
      t(L.v.name, [kvw, H]),
      t(L.vBias.name, [kvw]),
      t(L.o.name, [H, qw]),
      t(L.oBias.name, [H]),
      t(L.sinks.name, [c.numHeads]),
      t(L.mlpNorm.name, [H]),
      t(L.router.name, [E, H]),
      t(L.routerBias.name, [E]),
      t(L.gateUpBlocks.name, [E, 2 * F, H / 32, 16], "U8"),
      t(L.gateUpScales.name, [E, 2 * F, H / 32], "U8"),
      t(L.gateUpBias.name, [E, 2 * F]),
      t(L.downBlocks.name, [E, H, F / 32, 16], "U8"),
      t(L.downScales.name, [E, H, F / 32], "U8"),
      t(L.downBias.name, [E, H]),
    );
  }
  table.push(t(n.finalNorm.name, [H]), t(n.unembed.name, [c.vocabSize, H]));
  const sliding = c.layerWindows.filter((w) => w > 0);
  return {
    table,
    numExperts: E,
    topK: c.expertsPerToken,
    summary: {
      layers: c.numLayers,
      width: H,
      attention: {
        ...heads(c.numHeads, c.numKvHeads, c.headDim),
        slidingWindow: sliding[0] ?? 0,
        slidingLayers: sliding.length,
        sinks: true,
        qkNorm: false,
        bias: true,
      },
      position: c.rope.yarn
        ? { kind: "RoPE + YaRN", theta: c.rope.theta, yarnFactor: c.rope.yarn.factor }
        : { kind: "RoPE", theta: c.rope.theta },
      maxContext: c.maxContext,
      norm: { kind: "RMSNorm", eps: c.rmsNormEps },
      ffn: {
        kind: "clamped SwiGLU",
        width: F,
        experts: E,
        topK: c.expertsPerToken,
        sparseLayers: c.numLayers,
        router: "top-k logits, then softmax",
      },
      vocab: c.vocabSize,
      tiedEmbeddings: false,
      kvCache: kvBytes(c.layerWindows, c.numKvHeads * c.headDim),
    },
  };
}

function describeGpt2(file: string, json: Record<string, unknown>): Described {
  const c = parseGpt2Config(file, json);
  const n = gpt2Names(""), H = c.hiddenSize, F = c.ffnSize, f = floatDtype(json, "F32");
  const t = (name: string, shape: number[]): TensorEntry => ({ name, dtype: f, shape });
  const table = [t(n.tokenEmbed, [c.vocabSize, H]), t(n.posEmbed, [c.maxContext, H])];
  for (let l = 0; l < c.numLayers; l++) {
    const L = n.layer(l);
    table.push(
      t(L.ln1W, [H]),
      t(L.ln1B, [H]),
      t(`h.${l}.attn.bias`, [1, 1, c.maxContext, c.maxContext]),
      t(L.qkv, [H, 3 * H]),
      t(L.qkvBias, [3 * H]),
      t(L.o, [H, H]),
      t(L.oBias, [H]),
      t(L.ln2W, [H]),
      t(L.ln2B, [H]),
      t(L.fc, [H, F]),
      t(L.fcBias, [F]),
      t(L.proj, [F, H]),
      t(L.projBias, [H]),
    );
  }
  table.push(t(n.finalNormW, [H]), t(n.finalNormB, [H]));
  return {
    table,
    numExperts: 0,
    topK: 0,
    summary: {
      layers: c.numLayers,
      width: H,
      attention: {
        ...heads(c.numHeads, c.numHeads, c.headDim),
        slidingWindow: 0,
        slidingLayers: 0,
        sinks: false,
        qkNorm: false,
        bias: true,
      },
      position: { kind: "learned absolute" },
      maxContext: c.maxContext,
      norm: { kind: "LayerNorm", eps: c.layerNormEps },
      ffn: { kind: "GELU (tanh) MLP", width: F, experts: 0, topK: 0, sparseLayers: 0, router: null },
      vocab: c.vocabSize,
      tiedEmbeddings: true,
      kvCache: kvBytes(new Array(c.numLayers).fill(0), H),
    },
  };
}

function describeQwen3(file: string, json: Record<string, unknown>): Described {
  const c = parseQwen3Config(file, json);
  const H = c.hiddenSize,
    D = c.headDim,
    qw = c.numHeads * D,
    kvw = c.numKvHeads * D,
    f = floatDtype(json, "BF16");
  const t = (name: string, shape: number[]): TensorEntry => ({ name, dtype: f, shape });
  const table = [t(qwen3Names.embed, [c.vocabSize, H])];
  for (let l = 0; l < c.numLayers; l++) {
    const L = qwen3Names.layer(l);
    table.push(t(L.attnNorm, [H]), t(L.q, [qw, H]), t(L.k, [kvw, H]), t(L.v, [kvw, H]), t(L.o, [H, qw]));
    if (c.attentionBias) table.push(t(L.qBias, [qw]), t(L.kBias, [kvw]), t(L.vBias, [kvw]), t(L.oBias, [H]));
    table.push(t(L.qNorm, [D]), t(L.kNorm, [D]), t(L.mlpNorm, [H]));
    if (c.layerIsMoe[l]) {
      const { numExperts: E, expertSize: S } = c.moe!;
      table.push(t(L.router, [E, H]));
      for (let e = 0; e < E; e++) {
        table.push(t(L.expertGate(e), [S, H]), t(L.expertUp(e), [S, H]), t(L.expertDown(e), [H, S]));
      }
    } else {
      const F = c.intermediateSize;
      table.push(t(L.gate, [F, H]), t(L.up, [F, H]), t(L.down, [H, F]));
    }
  }
  table.push(t(qwen3Names.finalNorm, [H]));
  if (!c.tieEmbeddings) table.push(t(qwen3Names.lmHead, [c.vocabSize, H]));
  const sliding = c.layerWindows.filter((w) => w > 0);
  const sparse = c.layerIsMoe.filter(Boolean).length;
  return {
    table,
    numExperts: c.moe?.numExperts ?? 0,
    topK: c.moe?.expertsPerToken ?? 0,
    summary: {
      layers: c.numLayers,
      width: H,
      attention: {
        ...heads(c.numHeads, c.numKvHeads, D),
        slidingWindow: sliding[0] ?? 0,
        slidingLayers: sliding.length,
        sinks: false,
        qkNorm: true,
        bias: c.attentionBias,
      },
      position: c.rope.yarn
        ? { kind: "RoPE + YaRN", theta: c.rope.theta, yarnFactor: c.rope.yarn.factor }
        : { kind: "RoPE", theta: c.rope.theta },
      maxContext: c.maxContext,
      norm: { kind: "RMSNorm", eps: c.rmsNormEps },
      ffn: {
        kind: "SwiGLU",
        width: c.moe && sparse > 0 ? c.moe.expertSize : c.intermediateSize,
        experts: c.moe?.numExperts ?? 0,
        topK: c.moe?.expertsPerToken ?? 0,
        sparseLayers: sparse,
        router: c.moe
          ? `softmax, then top-k${c.moe.normTopkProb ? " (renormalised)" : " (not renormalised)"}`
          : null,
      },
      vocab: c.vocabSize,
      tiedEmbeddings: c.tieEmbeddings,
      kvCache: kvBytes(c.layerWindows, kvw),
    },
  };
}

function heads(q: number, kv: number, headDim: number) {
  return {
    kind: q === kv ? "MHA" as const : kv === 1 ? "MQA" as const : "GQA" as const,
    heads: q,
    kvHeads: kv,
    headDim,
  };
}

/** 16-bit K and V rows of width `kvWidth` per layer; sliding layers stop growing past their window. */
function kvBytes(windows: readonly number[], kvWidth: number) {
  const perLayer = 2 * kvWidth * 2;
  return {
    bytesPerToken: windows.length * perLayer,
    bytesPerTokenPastWindow: windows.filter((w) => w === 0).length * perLayer,
  };
}

/** Parameter totals of a tensor table; experts count k/E towards the active total. */
export function countParams(
  table: readonly TensorEntry[],
  numExperts: number,
  topK: number,
): ModelSummary["params"] {
  const by: Record<TensorRole, number> = { embedding: 0, unembedding: 0, expert: 0, dense: 0, buffer: 0 };
  let tokenEmbed = 0;
  for (const t of table) {
    const role = roleOf(t.name), p = paramsOf(t);
    by[role] += p;
    if (role === "embedding" && !/(^|\.)wpe\.weight$/.test(t.name)) tokenEmbed += p;
  }
  // Without an output matrix the token embedding is the head, and is multiplied every token.
  const head = by.unembedding > 0 ? by.unembedding : tokenEmbed;
  const active = by.dense + head + (numExperts > 0 ? by.expert * topK / numExperts : by.expert);
  const total = by.dense + by.expert + by.embedding + by.unembedding;
  return {
    total,
    active,
    activeWithEmbeddings: active + by.embedding - (by.unembedding > 0 ? 0 : tokenEmbed),
    embedding: by.embedding,
  };
}

function formats(table: readonly TensorEntry[]): FormatSize[] {
  const m = new Map<string, { params: number; bytes: number }>();
  for (const t of table) {
    const key = mxfp4Part(t) ? "MXFP4" : t.dtype;
    const e = m.get(key) ?? { params: 0, bytes: 0 };
    e.params += paramsOf(t);
    e.bytes += bytesOf(t);
    m.set(key, e);
  }
  return [...m].map(([format, e]) => ({ format, ...e })).sort((a, b) => b.bytes - a.bytes);
}

/** Summarises the model in `path` from config.json and the safetensors headers only. */
export function inspectModel(path: string): ModelSummary {
  const dir = configDir(path);
  const file = joinPath(dir, "config.json");
  const json = readJson(file);
  const family = modelFamily(file, json);
  const d = family === "gpt2"
    ? describeGpt2(file, json)
    : family === "qwen3"
    ? describeQwen3(file, json)
    : describeGptOss(file, json);
  const files = listWeightFiles(dir);
  let table = d.table, totalBytes: number;
  if (files.length > 0) {
    const headers = readHeaders(dir);
    table = headers.flatMap((h) => [...h.header.tensors.values()]);
    totalBytes = files.reduce((a, f) => a + Deno.statSync(f).size, 0);
  } else {
    totalBytes = table.reduce((a, t) => a + bytesOf(t), 0);
  }
  const byDtype: Record<string, number> = {};
  for (const t of table) byDtype[t.dtype] = (byDtype[t.dtype] ?? 0) + bytesOf(t);
  return {
    name: path.replace(/\/+$/, "").split("/").pop() || path,
    dir,
    modelType: typeof json.model_type === "string" ? json.model_type : "gpt_oss",
    countedFrom: files.length > 0 ? "safetensors headers" : "config.json",
    params: countParams(table, d.numExperts, d.topK),
    weights: formats(table),
    disk: { byDtype, totalBytes },
    ...d.summary,
  };
}

/** The tensor table an architecture implies for a config (what a Hub checkpoint of it would list). */
export function impliedTensors(path: string): TensorEntry[] {
  const dir = configDir(path), file = joinPath(dir, "config.json"), json = readJson(file);
  const family = modelFamily(file, json);
  return (family === "gpt2" ? describeGpt2 : family === "qwen3" ? describeQwen3 : describeGptOss)(file, json)
    .table;
}
