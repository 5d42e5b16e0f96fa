// Thin host wrappers, one per WGSL kernel of the layer stack, each named after its kernel's stem in camelCase
// (f32_bf16w_matmul -> f32Bf16wMatmul; README "Kernels"); the FFN's are in ops_ffn.ts and ops_moe.ts. They
// check shapes, fill Params, pick the variant, dispatch, count the weight bytes read; they allocate nothing:
// every buffer is passed in.

import type { GpuMat } from "./gpu_weights.ts";
import type { Recorder } from "./recorder.ts";

export const WG = 64;
/** Rows and the 2-D grid that covers them (row = wid.y * 32768 + wid.x in the shaders). */
export const rowGrid = (rows: number): [number, number] => [Math.min(rows, 32768), Math.ceil(rows / 32768)];
/** Workgroups for one thread per element (index = gid.y * 65535 * WG + gid.x). */
export const elemGrid = (n: number): [number, number] => {
  const g = Math.max(1, Math.ceil(n / WG));
  return [Math.min(g, 65535), Math.ceil(g / 65535)];
};

export function check(ok: boolean, what: string): void {
  if (!ok) throw new RangeError(`webgpu kernel: ${what}`);
}

export interface MatmulArgs {
  readonly w: GpuMat;
  readonly bias: GPUBuffer | null;
  /** Placeholder bound where a kernel has no bias (bindings must be complete). */
  readonly dummy: GPUBuffer;
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  readonly xStride?: number;
  readonly y: GPUBuffer;
  readonly yOffset?: number;
  readonly yStride?: number;
  readonly tokens: number;
  /** Force the row kernel or the tiled GEMM (benchmarks); default by token count (GEMM_MIN_TOKENS). */
  readonly kernel?: "rows" | "gemm";
}

/** Tokens from which the matmul runs as tiled GEMM (64 rows x 64 tokens per workgroup): below, the
 * one-row-per-workgroup kernel reads each weight once for up to 8 tokens (1 at decode) and wastes less. */
export const GEMM_MIN_TOKENS = 9;
const GEMM_ROWS = 64, GEMM_TOKENS = 64;

/** Bytes of one element of a matrix in its storage dtype (WDT 2 is f32). */
const elemBytes = (wdt: number) => (wdt === 2 ? 4 : 2);

/**
 * y[t, yOffset + r] = W x[t] + b over every part of W: one token as a matrix-vector product, up to 8 tokens
 * per workgroup row, and from GEMM_MIN_TOKENS tokens as tiled GEMM.
 */
export function f32Bf16wMatmul(rec: Recorder, a: MatmulArgs): void {
  const { w } = a;
  check(a.tokens > 0 && w.cols % 2 === 0, `matmul tokens ${a.tokens}, cols ${w.cols}`);
  const gemm = a.kernel ? a.kernel === "gemm" : a.tokens >= GEMM_MIN_TOKENS;
  // tokens per row workgroup: 1, 2, 4 or 8, the fewest that hold them (a decode step of 2 sequences does
  // not carry 8 accumulators); each row's sum is the same whatever TT
  const TT = Math.min(8, 2 ** Math.ceil(Math.log2(a.tokens)));
  const tiles = Math.ceil(a.tokens / (gemm ? GEMM_TOKENS : TT));
  for (const part of w.parts) {
    const params = {
      rows: part.rows,
      cols: w.cols,
      tokens: a.tokens,
      row0: part.row0,
      x_stride: a.xStride ?? w.cols,
      x_offset: a.xOffset ?? 0,
      y_stride: a.yStride ?? w.rows,
      y_offset: a.yOffset ?? 0,
    };
    const bindings = { 1: part.buffer, 2: a.x, 3: a.bias ?? a.dummy, 4: a.y };
    if (gemm) {
      rec.dispatch("f32_bf16w_matmul", "gemm", { WDT: w.wdt, HAS_BIAS: a.bias !== null }, bindings, params, [
        Math.ceil(part.rows / GEMM_ROWS),
        tiles,
      ]);
    } else {
      rec.dispatch(
        "f32_bf16w_matmul",
        "main",
        { WG, TT, WDT: w.wdt, HAS_BIAS: a.bias !== null },
        bindings,
        params,
        [...rowGrid(part.rows), tiles],
      );
    }
    rec.countWeights(tiles * part.rows * (w.cols * elemBytes(w.wdt) + (a.bias ? 4 : 0)));
  }
}

/** A norm as the plan says (LayerNorm or RMSNorm) with its weights; only LayerNorm has a bias. */
export interface NormWeights {
  readonly kind: "layernorm" | "rmsnorm";
  readonly w: GPUBuffer;
  readonly b: GPUBuffer | null;
}

export interface NormArgs {
  /** [rows, n]: the rows to normalise (the residual stream). */
  readonly x: GPUBuffer;
  /** First row of x (default 0; 0 with a residual). */
  readonly row0?: number;
  /** Added to x in place first (x += residual, then y = norm(x)): the residual add fused with the norm. */
  readonly residual?: GPUBuffer | null;
  readonly w: NormWeights;
  /** [tokens, n] */
  readonly y: GPUBuffer;
  readonly tokens: number;
  readonly n: number;
  readonly eps: number;
}

/** The plan's norm of `tokens` rows: layernorm() or rmsnorm() as its weights say. */
export function norm(rec: Recorder, a: NormArgs): void {
  if (a.w.kind === "layernorm") layernorm(rec, a);
  else rmsnorm(rec, a);
}

/** RMSNorm of `tokens` rows, one workgroup per row (with a residual: add_main, the add fused). */
export function rmsnorm(rec: Recorder, a: NormArgs): void {
  normRows(rec, "rmsnorm", a);
}

/** LayerNorm (population variance, with bias) of `tokens` rows, one workgroup per row. */
export function layernorm(rec: Recorder, a: NormArgs): void {
  normRows(rec, "layernorm", a);
}

/** Both norms take the same bindings and Params; only LayerNorm binds a bias. */
function normRows(rec: Recorder, kernel: "layernorm" | "rmsnorm", a: NormArgs): void {
  const row0 = a.row0 ?? 0, add = !!a.residual, ln = kernel === "layernorm", b = a.w.b;
  check(a.tokens > 0 && a.n > 0 && (!add || row0 === 0), `norm ${a.tokens}x${a.n} from row ${row0}`);
  check(
    a.w.kind === kernel && ln === (b !== null),
    `${a.w.kind} ${b ? "with" : "without"} a bias as ${kernel}`,
  );
  // shared binding numbers: 1 x, 2 w, 3 b (LayerNorm), 4 y, 5 the residual stream, 6 what is added to it
  const bindings: Record<number, GPUBuffer> = add ? { 2: a.w.w, 4: a.y, 5: a.x, 6: a.residual! } : {
    1: a.x,
    2: a.w.w,
    4: a.y,
  };
  if (b) bindings[3] = b;
  rec.dispatch(
    kernel,
    add ? "add_main" : "main",
    { WG },
    bindings,
    { tokens: a.tokens, n: a.n, x_offset: row0 * a.n, eps: a.eps },
    [a.tokens],
  );
  rec.countWeights((ln ? 2 : 1) * a.n * 4); // every row reads the same weights
}

/** Per-head RMSNorm, in place, of the q and k heads of fused [q | k | v] rows `stride` floats apart. */
export function qkRmsnorm(
  rec: Recorder,
  qkv: GPUBuffer,
  qW: GPUBuffer,
  kW: GPUBuffer,
  tokens: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  stride: number,
  eps: number,
): void {
  check(stride >= (heads + kvHeads) * headDim, `qk_rmsnorm stride ${stride}`);
  rec.dispatch(
    "qk_rmsnorm",
    "main",
    { WG },
    { 1: qkv, 2: qW, 3: kW },
    { tokens, heads, kv_heads: kvHeads, head_dim: headDim, stride, eps },
    [heads + kvHeads, tokens],
  );
  rec.countWeights(2 * headDim * 4);
}

/**
 * The rows of a forward step as the per-row kernels (RoPE and the cache append, attention) see them: each
 * row is one token of one sequence of the batch, at its own position in its own KV slot.
 */
export interface StepRows {
  /** [rows] vec2<u32>: (position, slot) of each row. */
  readonly buffer: GPUBuffer;
  /** Cache rows per slot: the caches are [slots, ctx, width]. */
  readonly ctx: number;
  /** The largest position of a row: the most keys a query of the step sees, minus one. */
  readonly maxPos: number;
}

export interface RopeArgs {
  readonly qkv: GPUBuffer; // [tokens, (heads + 2 kvHeads) headDim] fused projection output
  readonly q: GPUBuffer; // [tokens, heads*headDim] rotated q
  readonly kCache: GPUBuffer; // [slots, ctx, kvHeads*headDim]: each row's (slot, position) gets its rotated k
  readonly vCache: GPUBuffer; // the same for v
  readonly cosSin: GPUBuffer;
  readonly rows: StepRows;
  readonly tokens: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** The caches hold f16 (the "f16kv" shader variant). */
  readonly kvF16?: boolean;
  /** false: no rotation (learned positions); q, k, v are only split and appended. Default true. */
  readonly rope?: boolean;
}

/** Splits fused q|k|v rows: rope on q and k, k and v appended to the KV caches at each row's slot and position. */
export function rope(rec: Recorder, a: RopeArgs): void {
  const half = a.headDim / 2, kvw = a.kvHeads * a.headDim;
  rec.dispatch(
    "rope",
    "main",
    a.rope === false ? { WG, ROPE: false } : { WG },
    { 1: a.cosSin, 2: a.rows.buffer, 3: a.qkv, 4: a.q, 5: a.kCache, 6: a.vCache },
    {
      tokens: a.tokens,
      heads: a.heads,
      kv_heads: a.kvHeads,
      head_dim: a.headDim,
      ctx: a.rows.ctx,
      stride: (a.heads + 2 * a.kvHeads) * a.headDim,
    },
    elemGrid(a.tokens * ((a.heads + a.kvHeads) * half + kvw)),
    a.kvF16 ? "f16kv" : "f32",
  );
}

export interface SdpaSinkWindowArgs {
  readonly q: GPUBuffer;
  readonly k: GPUBuffer; // [slots, ctx, kvHeads*headDim]
  readonly v: GPUBuffer;
  readonly sinks: GPUBuffer;
  readonly out: GPUBuffer;
  readonly rows: StepRows;
  readonly tokens: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly window: number;
  /** The caches hold f16 (the "f16kv" shader variant). */
  readonly kvF16?: boolean;
  /**
   * Scratch for split attention (flash-decoding): without it every (head, token) runs on one workgroup.
   * `floats` is its size; tokens * heads * splits * (headDim + 2) floats must fit for a split to be used.
   */
  readonly split?: { readonly scratch: GPUBuffer; readonly floats: number };
  /** Keys per split (a multiple of 64; default SPLIT_KEYS). */
  readonly splitKeys?: number;
  /** Split when at most this many rows (default SPLIT_MAX_ROWS; prefill has workgroups enough). */
  readonly splitMaxTokens?: number;
}

/** Keys per workgroup of split attention: a decode step over more keys than this is split. */
export const SPLIT_KEYS = 256;

/** Rows up to which attention may split: decode steps of up to this many sequences. */
export const SPLIT_MAX_ROWS = 16;

/** Partials split attention needs for `keys` keys (the most a query sees). */
export const attentionSplits = (keys: number, splitKeys = SPLIT_KEYS) => Math.ceil(keys / splitKeys);

/**
 * Attention with sinks over the KV caches, each row against its own slot up to its own position. With
 * `split` scratch, a step of few rows over a long context runs as flash-decoding: ceil(keys / splitKeys)
 * workgroups per (head, row) for the longest row's keys, then one combine.
 */
export function sdpaSinkWindow(rec: Recorder, a: SdpaSinkWindowArgs): void {
  check(
    a.headDim <= 2 * WG && a.heads % a.kvHeads === 0,
    `attention head_dim ${a.headDim}, heads ${a.heads}/${a.kvHeads}`,
  );
  const splitKeys = a.splitKeys ?? SPLIT_KEYS;
  check(splitKeys > 0 && splitKeys % WG === 0, `attention split_keys ${splitKeys}`);
  const lastPos = a.rows.maxPos;
  const keys = a.window > 0 ? Math.min(a.window, lastPos + 1) : lastPos + 1;
  const splits = attentionSplits(keys, splitKeys);
  const split = a.split !== undefined && splits > 1 && a.tokens <= (a.splitMaxTokens ?? SPLIT_MAX_ROWS) &&
    a.tokens * a.heads * splits * (a.headDim + 2) <= a.split.floats;
  const params = {
    tokens: a.tokens,
    ctx: a.rows.ctx,
    heads: a.heads,
    kv_heads: a.kvHeads,
    head_dim: a.headDim,
    window: a.window,
    scale: 1 / Math.sqrt(a.headDim),
    splits: split ? splits : 1,
    split_keys: splitKeys,
  };
  rec.countWeights(a.heads * 4); // the sinks; the KV cache is not a weight
  const variant = a.kvF16 ? "f16kv" : "f32";
  const qkv = { 1: a.q, 2: a.k, 3: a.v };
  if (!split) {
    rec.dispatch(
      "sdpa_sink_window",
      "main",
      { WG },
      { ...qkv, 4: a.sinks, 5: a.out, 7: a.rows.buffer },
      params,
      [
        a.heads,
        a.tokens,
      ],
      variant,
    );
    return;
  }
  const part = a.split!.scratch;
  rec.dispatch(
    "sdpa_sink_window",
    "split",
    { WG },
    { ...qkv, 6: part, 7: a.rows.buffer },
    params,
    [a.heads, a.tokens, splits],
    variant,
  );
  rec.dispatch("sdpa_sink_window", "combine", { WG }, { 4: a.sinks, 5: a.out, 6: part }, params, [
    a.heads,
    a.tokens,
  ], variant);
}

/**
 * y[t] = row ids[t] of the embedding matrix (with `add`, y[t] += it: learned positions). The host knows
 * the ids: each row is copied from the part that holds it into `rows` (at least ids.length rows of w in its
 * dtype), then one dispatch widens them to f32.
 */
export function embeddingGather(
  rec: Recorder,
  ids: ArrayLike<number>,
  w: GpuMat,
  rows: GPUBuffer,
  y: GPUBuffer,
  add = false,
): void {
  const tokens = ids.length, rowBytes = w.cols * elemBytes(w.wdt), per = w.parts[0].rows;
  check(tokens > 0 && rows.size >= tokens * rowBytes, `embedding of ${tokens} rows`);
  for (let t = 0; t < tokens; t++) {
    const part = w.parts[Math.floor(ids[t] / per)];
    check(part !== undefined && ids[t] - part.row0 < part.rows, `embedding row ${ids[t]} of ${w.rows}`);
    rec.copy(part.buffer, (ids[t] - part.row0) * rowBytes, rows, t * rowBytes, rowBytes);
  }
  rec.dispatch("embedding_gather", add ? "add" : "main", { WG, WDT: w.wdt }, { 1: rows, 2: y }, {
    tokens,
    n: w.cols,
  }, [tokens]);
  rec.countWeights(tokens * rowBytes); // one row per token
}

/** y[i] += x[i], i < n. */
export function addInplace(rec: Recorder, x: GPUBuffer, y: GPUBuffer, n: number): void {
  rec.dispatch("add_inplace", "main", { WG }, { 1: x, 2: y }, { n }, elemGrid(n));
}

/** out[t] = argmax of row t of [rows, n] logits: row_topk with k = 1. */
export function rowTopkArgmax(
  rec: Recorder,
  logits: GPUBuffer,
  out: GPUBuffer,
  rows: number,
  n: number,
): void {
  rec.dispatch("row_topk", "argmax", { WG }, { 1: logits, 2: out }, { n, k: 1 }, [rows]);
}

/** ids[t, :k] and vals[t, :k]: the k largest of row t (value desc, index asc), k <= n. */
export function rowTopk(
  rec: Recorder,
  logits: GPUBuffer,
  ids: GPUBuffer,
  vals: GPUBuffer,
  rows: number,
  n: number,
  k: number,
): void {
  check(k >= 1 && k <= n, `row_topk k ${k} of ${n}`);
  rec.dispatch("row_topk", "main", { WG: 256 }, { 1: logits, 2: ids, 3: vals }, { n, k }, [rows]);
}
