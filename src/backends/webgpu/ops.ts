// Thin host wrappers, one per WGSL kernel: check shapes, fill Params, pick the variant, dispatch.
// They allocate nothing; every buffer is passed in.

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
export function matmul(rec: Recorder, a: MatmulArgs): void {
  const { w } = a;
  check(a.tokens > 0 && w.cols % 2 === 0, `matmul tokens ${a.tokens}, cols ${w.cols}`);
  const gemm = a.kernel ? a.kernel === "gemm" : a.tokens >= GEMM_MIN_TOKENS;
  const TT = a.tokens === 1 ? 1 : 8;
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

export function rmsnorm(
  rec: Recorder,
  x: GPUBuffer,
  xOffset: number,
  w: GPUBuffer,
  y: GPUBuffer,
  tokens: number,
  n: number,
  eps: number,
): void {
  rec.dispatch("rmsnorm", "main", { WG }, { 1: x, 2: w, 3: y }, { tokens, n, x_offset: xOffset, eps }, [
    tokens,
  ]);
  rec.countWeights(tokens * n * 4);
}

/** x += r (in place), then y = rmsnorm(x) * w, row by row: the residual add fused with the next norm. */
export function addRmsnorm(
  rec: Recorder,
  x: GPUBuffer,
  r: GPUBuffer,
  w: GPUBuffer,
  y: GPUBuffer,
  tokens: number,
  n: number,
  eps: number,
): void {
  rec.dispatch("rmsnorm", "add_main", { WG }, { 2: w, 3: y, 4: x, 5: r }, { tokens, n, x_offset: 0, eps }, [
    tokens,
  ]);
  rec.countWeights(tokens * n * 4);
}

/** Rotates `tokens` rows (at `offset`, `stride` apart) of `heads` vectors for positions pos0, pos0+1, ... */
export function rope(
  rec: Recorder,
  v: GPUBuffer,
  offset: number,
  stride: number,
  tokens: number,
  heads: number,
  headDim: number,
  pos0: number,
  cosSin: GPUBuffer,
): void {
  rec.dispatch(
    "rope_yarn",
    "main",
    { WG },
    { 1: cosSin, 2: v },
    { tokens, heads, kv_heads: 0, head_dim: headDim, pos0, offset, stride },
    elemGrid((tokens * heads * headDim) / 2),
  );
}

export interface RopeQkvArgs {
  readonly qkv: GPUBuffer; // [tokens, (heads + 2 kvHeads) headDim] fused projection output
  readonly q: GPUBuffer; // [tokens, heads*headDim] rotated q
  readonly kCache: GPUBuffer; // rows pos0.. get the rotated k
  readonly vCache: GPUBuffer; // rows pos0.. get v
  readonly cosSin: GPUBuffer;
  readonly tokens: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly pos0: number;
  /** The caches hold f16 (the "f16kv" shader variant). */
  readonly kvF16?: boolean;
  /** false: no rotation (learned positions); q, k, v are only split and appended. Default true. */
  readonly rope?: boolean;
}

/** Splits fused q|k|v rows: rope on q and k, k and v appended to the KV caches at positions pos0.. */
export function ropeQkv(rec: Recorder, a: RopeQkvArgs): void {
  const half = a.headDim / 2, kvw = a.kvHeads * a.headDim;
  rec.dispatch(
    "rope_yarn",
    "qkv_main",
    a.rope === false ? { WG, ROPE: false } : { WG },
    { 1: a.cosSin, 3: a.qkv, 4: a.q, 5: a.kCache, 6: a.vCache },
    {
      tokens: a.tokens,
      heads: a.heads,
      kv_heads: a.kvHeads,
      head_dim: a.headDim,
      pos0: a.pos0,
      offset: 0,
      stride: (a.heads + 2 * a.kvHeads) * a.headDim,
    },
    elemGrid(a.tokens * ((a.heads + a.kvHeads) * half + kvw)),
    a.kvF16 ? "f16kv" : "f32",
  );
}

export interface AttentionArgs {
  readonly q: GPUBuffer;
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly sinks: GPUBuffer;
  readonly out: GPUBuffer;
  readonly tokens: number;
  readonly pos0: number;
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
  /** Split when at most this many tokens (default 1: decode; prefill has workgroups enough). */
  readonly splitMaxTokens?: number;
}

/** Keys per workgroup of split attention: a decode step over more keys than this is split. */
export const SPLIT_KEYS = 256;

/** Partials split attention needs for `keys` keys (the most a query sees). */
export const attentionSplits = (keys: number, splitKeys = SPLIT_KEYS) => Math.ceil(keys / splitKeys);

/**
 * Attention with sinks over the KV cache. With `split` scratch, a step of few tokens over a long context
 * runs as flash-decoding: ceil(keys / splitKeys) workgroups per (head, token), then one combine.
 */
export function attention(rec: Recorder, a: AttentionArgs): void {
  check(
    a.headDim <= 2 * WG && a.heads % a.kvHeads === 0,
    `attention head_dim ${a.headDim}, heads ${a.heads}/${a.kvHeads}`,
  );
  const splitKeys = a.splitKeys ?? SPLIT_KEYS;
  check(splitKeys > 0 && splitKeys % WG === 0, `attention split_keys ${splitKeys}`);
  const lastPos = a.pos0 + a.tokens - 1;
  const keys = a.window > 0 ? Math.min(a.window, lastPos + 1) : lastPos + 1;
  const splits = attentionSplits(keys, splitKeys);
  const split = a.split !== undefined && splits > 1 && a.tokens <= (a.splitMaxTokens ?? 1) &&
    a.tokens * a.heads * splits * (a.headDim + 2) <= a.split.floats;
  const params = {
    tokens: a.tokens,
    pos0: a.pos0,
    heads: a.heads,
    kv_heads: a.kvHeads,
    head_dim: a.headDim,
    window: a.window,
    scale: 1 / Math.sqrt(a.headDim),
    splits: split ? splits : 1,
    split_keys: splitKeys,
  };
  rec.countWeights(a.tokens * a.heads * 4); // the sinks; the KV cache is not a weight
  const variant = a.kvF16 ? "f16kv" : "f32";
  const qkv = { 1: a.q, 2: a.k, 3: a.v };
  if (!split) {
    rec.dispatch("sdpa_sink_window", "main", { WG }, { ...qkv, 4: a.sinks, 5: a.out }, params, [
      a.heads,
      a.tokens,
    ], variant);
    return;
  }
  const part = a.split!.scratch;
  rec.dispatch(
    "sdpa_sink_window",
    "split",
    { WG },
    { ...qkv, 6: part },
    params,
    [a.heads, a.tokens, splits],
    variant,
  );
  rec.dispatch("sdpa_sink_window", "combine", { WG }, { 4: a.sinks, 5: a.out, 6: part }, params, [
    a.heads,
    a.tokens,
  ], variant);
}

/** y[t] = row ids[t] of the embedding matrix. */
export function embed(rec: Recorder, ids: GPUBuffer, w: GpuMat, y: GPUBuffer, tokens: number): void {
  for (const part of w.parts) {
    rec.dispatch("embedding_gather", "main", { WG, WDT: w.wdt }, { 1: ids, 2: part.buffer, 3: y }, {
      tokens,
      n: w.cols,
      row0: part.row0,
      rows: part.rows,
    }, [tokens]);
  }
  rec.countWeights(tokens * w.cols * elemBytes(w.wdt)); // one row per token, from whichever part holds it
}

/** y[i] += x[i], i < n. */
export function addInplace(rec: Recorder, x: GPUBuffer, y: GPUBuffer, n: number): void {
  rec.dispatch("add_inplace", "main", { WG }, { 1: x, 2: y }, { n }, elemGrid(n));
}

/** out[t] = argmax of row t of [rows, n] logits. */
export function argmax(rec: Recorder, logits: GPUBuffer, out: GPUBuffer, rows: number, n: number): void {
  rec.dispatch("argmax", "main", { WG }, { 1: logits, 2: out }, { n, k: 1 }, [rows]);
}

/** ids[t, :k] and vals[t, :k]: the k largest of row t (value desc, index asc), k <= n. */
export function topk(
  rec: Recorder,
  logits: GPUBuffer,
  ids: GPUBuffer,
  vals: GPUBuffer,
  rows: number,
  n: number,
  k: number,
): void {
  check(k >= 1 && k <= n, `topk k ${k} of ${n}`);
  rec.dispatch("argmax", "topk_main", { WG: 256 }, { 1: logits, 2: ids, 3: vals }, { n, k }, [rows]);
}
