// `inspect` without weights: a model's shape and size from config.json and the safetensors headers (or,
// for a folder holding only config.json, from the tensor table its architecture file implies).

import { isFile, joinPath, listWeightFiles, readHeaders, readJson } from "../io/checkpoint.ts";
import { MissingError } from "../errors.ts";
import { type DType, DTYPE_BYTES } from "../io/safetensors.ts";
import type { Architecture } from "./architecture.ts";
import type { Mat } from "./dtypes.ts";
import { architectureOf } from "./registry.ts";
import { loadWeights, type TensorRef, type WeightReader } from "./weights.ts";

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
    readonly kind: "learned absolute" | "RoPE" | "RoPE + YaRN" | "RoPE + llama3" | "RoPE + linear";
    readonly theta?: number;
    /** The scaling's factor (YaRN, llama3). */
    readonly factor?: number;
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

/** Records the tensors a plan reads (loadWeights() over this reader), with their stored shapes. */
class TableRecorder implements WeightReader {
  readonly table: TensorEntry[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly float: DType) {}

  private add(ref: TensorRef, shape: readonly number[], dtype: DType): void {
    if (this.seen.has(ref.name)) return;
    this.seen.add(ref.name);
    const full = ref.rows ? [ref.rows.of, ...shape.slice(1)] : [...shape];
    this.table.push({ name: ref.name, dtype, shape: ref.transposed ? [full[1], full[0]] : full });
  }

  mat(ref: TensorRef, rows: number, cols: number): Mat {
    this.add(ref, [rows, cols], this.float);
    return { dtype: "F32", rows, cols, data: new Float32Array(0) };
  }

  vec(ref: TensorRef, shape: readonly number[]): Float32Array {
    this.add(ref, shape, this.float);
    return new Float32Array(0);
  }

  u8(ref: TensorRef, shape: readonly number[]): Uint8Array {
    this.add(ref, shape, "U8");
    return new Uint8Array(0);
  }
}

const ACTIVATION_NAMES = {
  gelu_tanh: "GELU (tanh) MLP",
  swiglu: "SwiGLU",
  swiglu_clamped: "clamped SwiGLU",
} as const;

/** The implied tensor table and the summary of a config, from its architecture's plan and names. */
function describe(arch: Architecture, file: string, json: Record<string, unknown>): Described {
  const c = arch.parseConfig(file, json), plan = arch.plan(c), names = arch.tensorNames(c, null, file);
  const float = floatDtype(json, arch.defaultDtype), recorder = new TableRecorder(float);
  const weights = loadWeights(recorder, c, plan, names);
  const table = [
    ...recorder.table,
    ...(names.buffers ?? []).map((b) => ({ name: b.name, dtype: float, shape: b.shape })),
  ];
  const layers = plan.layers, moe = layers.flatMap((p) => p.mlp.kind === "moe" ? [p.mlp] : []);
  const sliding = layers.map((p) => p.attention.window).filter((w) => w > 0);
  const mlp = moe[0] ?? layers[0].mlp;
  const scaling = c.rope?.scaling;
  return {
    table,
    numExperts: moe[0]?.experts ?? 0,
    topK: moe[0]?.topK ?? 0,
    summary: {
      layers: c.numLayers,
      width: c.hiddenSize,
      attention: {
        ...heads(c.numHeads, c.numKvHeads, c.headDim),
        slidingWindow: sliding[0] ?? 0,
        slidingLayers: sliding.length,
        sinks: layers.some((p) => p.attention.sinks),
        qkNorm: layers.some((p) => p.attention.qkNorm),
        bias: layers.some((p) => p.attention.bias),
      },
      position: !c.rope
        ? { kind: "learned absolute" }
        : scaling?.kind === "yarn"
        ? { kind: "RoPE + YaRN", theta: c.rope.theta, factor: scaling.factor }
        : scaling?.kind === "llama3"
        ? { kind: "RoPE + llama3", theta: c.rope.theta, factor: scaling.factor }
        : scaling?.kind === "linear"
        ? { kind: "RoPE + linear", theta: c.rope.theta, factor: scaling.factor }
        : { kind: "RoPE", theta: c.rope.theta },
      maxContext: c.maxContext,
      norm: { kind: c.norm.kind === "rmsnorm" ? "RMSNorm" : "LayerNorm", eps: c.norm.eps },
      ffn: {
        kind: ACTIVATION_NAMES[mlp.act.kind],
        width: mlp.width,
        experts: moe[0]?.experts ?? 0,
        topK: moe[0]?.topK ?? 0,
        sparseLayers: moe.length,
        router: !moe[0]
          ? null
          : moe[0].routing === "topk_softmax"
          ? "top-k logits, then softmax"
          : `softmax, then top-k${moe[0].normalize ? " (renormalised)" : " (not renormalised)"}`,
      },
      vocab: c.vocabSize,
      tiedEmbeddings: weights.unembed === weights.embed,
      kvCache: kvBytes(layers.map((p) => p.attention.window), c.numKvHeads * c.headDim),
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
  const d = describe(architectureOf(file, json), file, json);
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
  return describe(architectureOf(file, json), file, json).table;
}
