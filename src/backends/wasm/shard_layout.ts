// Weight placement for the WASM backend: the weights are split into shards, each one wasm memory (at most
// 4 GiB) holding a row-slice of every matrix, a group of KV heads (their q/k/v rows, sinks and KV cache, so
// attention runs in the shard), the small tensors every shard needs (norms, router, rope tables), and its
// own input/output buffers. Shards are plain data so the layout can be posted to the worker that computes
// on it; shard_fill.ts copies the weights in.

import { OssiError } from "../../errors.ts";
import type { GptOssConfig } from "../../model/gpt_oss.ts";
import { Arena, MAX_PAGES } from "./kernels.ts";
import { TOPK_MAX } from "../backend.ts";

/**
 * Rows [r0, r0+rows) of a dense matrix [*, cols] and of its f32 bias (0: no bias). "bf16": the file's
 * words, for f32_bf16w_matmul. "i8": the fast path's int8 weights with a bf16 scale per 32 columns,
 * packed by pack_i8w_bf16 (groups of four rows, rows padded to a multiple of 4), for f32_i8w_matmul.
 */
export interface DenseSlice {
  readonly format: "bf16" | "i8";
  readonly w: number;
  readonly bias: number;
  readonly r0: number;
  readonly rows: number;
  readonly cols: number;
}

/**
 * Rows [r0, r0+rows) of every expert, bias [E, rows]. "mxfp4": the checkpoint's blocks [E, rows, cols/32,
 * 16] and scales [E, rows, cols/32], for the exact path's 22-bit kernels. "mxfp4_rows4": per expert the
 * pack_mxfp4_rows4 packing (mxfp4Rows4Bytes each) in `blocks` and no `scales`, for the int8 kernels.
 */
export interface ExpertSlice {
  readonly format: "mxfp4" | "mxfp4_rows4";
  readonly blocks: number;
  readonly scales: number;
  readonly bias: number;
  readonly r0: number;
  readonly rows: number;
  readonly cols: number;
}

export interface LayerSlices {
  /** The shard's heads' rows (see ShardHeads); no rows when it has no KV head. */
  readonly q: DenseSlice;
  readonly k: DenseSlice;
  readonly v: DenseSlice;
  readonly o: DenseSlice;
  /** The whole router in every shard: each routes its tokens itself (same bits everywhere). */
  readonly router: DenseSlice;
  /** Rows are whole gate/up pairs: r0 and rows are even. */
  readonly gateUp: ExpertSlice;
  readonly down: ExpertSlice;
  /** f32 [hidden] norm weights, in every shard. */
  readonly attnNorm: number;
  readonly mlpNorm: number;
  /** f32 [heads] sinks of the shard's query heads. */
  readonly sinks: number;
  /**
   * Per KV slot, f32 [maxContext, kvHeads*headDim] keys and values of the shard's KV heads (rope applied
   * to keys).
   */
  readonly kCache: readonly number[];
  readonly vCache: readonly number[];
}

/**
 * The attention heads a shard owns: KV heads [kv0, kv0+kvHeads) and their query heads [h0, h0+heads)
 * (heads = kvHeads * numHeads/numKvHeads). Shards beyond the model's KV heads own none.
 */
export interface ShardHeads {
  readonly h0: number;
  readonly heads: number;
  readonly kv0: number;
  readonly kvHeads: number;
}

/** Per-shard activations, sized for `maxTokens` tokens per call. */
export interface ShardIo {
  /** Input rows: [tokens, width] (or [tokens*k, ffn] for the down projection). */
  readonly x: number;
  /** Size of x in bytes. */
  readonly xBytes: number;
  /** x reordered (bf16 kernels) or quantized (int8 weights: i16XqRowBytes, MXFP4: mxfp4XqRowBytes per row) for the kernel in use. */
  readonly xp: number;
  /** Output rows of this shard's slice: attention of its heads, o rows, SwiGLU pairs, down rows, logits. */
  readonly y: number;
  /** [tokens, hidden] the rmsnorm of x. */
  readonly xn: number;
  /** [tokens, heads*headDim] queries, [tokens, kvHeads*headDim] keys and values of the shard's heads. */
  readonly q: number;
  readonly k: number;
  readonly v: number;
  /** [heads/kvHeads, maxContext] attention scores. */
  readonly scores: number;
  /** [tokens, experts] router logits. */
  readonly router: number;
  readonly tmp: number;
  readonly lists: number;
  /** [tokens*k] i32 chosen experts and f32 weights, written by the MoeUp step for the Down step. */
  readonly sel: number;
  readonly selW: number;
  /** UnembedTopK candidates, best first: [TOPK_MAX] i32 rows of the unembedding slice (token = r0 + row;
   * -1: none) and their f32 logits. */
  readonly topkIds: number;
  readonly topkVals: number;
}

export interface ShardLayout {
  readonly index: number;
  readonly pages: number;
  readonly weightBytes: number;
  readonly heads: ShardHeads;
  readonly layers: readonly LayerSlices[];
  readonly unembed: DenseSlice;
  /** f32 [maxContext, headDim/2] rope tables. */
  readonly cos: number;
  readonly sin: number;
  readonly io: ShardIo;
}

/** The scalars every shard step needs besides its layout. */
export interface ShardParams {
  readonly hidden: number;
  readonly qWidth: number;
  readonly headDim: number;
  readonly eps: number;
  /** Per layer: attention window (0: full). */
  readonly windows: readonly number[];
  readonly ffn: number;
  readonly experts: number;
  readonly k: number;
  readonly swigluLimit: number;
  readonly swigluAlpha: number;
  readonly maxTokens: number;
  /** MoE activations quantized to int8 (1) instead of 22 bits (0). */
  readonly moeInt8: number;
  /** Levels of the int8-weight matmuls' activations: 1..127 (127, one int8 level, for the fast path). */
  readonly xQMax: number;
}

/** How the dense matrices are stored; the default is the exact path (bf16 as in the file). */
export interface DenseFormats {
  /** Attention and unembedding as int8 (the fast path). */
  readonly int8Weights?: boolean;
  /** The router as int8 too: only for the quality gate's llama.cpp-like yardstick. */
  readonly int8Router?: boolean;
  /** Experts packed four rows at a time for the int8-activation kernels (the fast path). */
  readonly expertRows4?: boolean;
}

export function shardParams(c: GptOssConfig, maxTokens: number, moeInt8 = false, xQMax = 127): ShardParams {
  return {
    hidden: c.hiddenSize,
    qWidth: c.numHeads * c.headDim,
    headDim: c.headDim,
    eps: c.norm.eps,
    windows: c.layerWindows,
    ffn: c.intermediateSize,
    experts: c.numExperts,
    k: c.expertsPerToken,
    swigluLimit: c.swigluLimit,
    swigluAlpha: c.swigluAlpha,
    maxTokens,
    moeInt8: moeInt8 ? 1 : 0,
    xQMax,
  };
}

/** Rows [r0, r1) of `rows` for shard s of n, in units of `unit` rows. */
function split(rows: number, s: number, n: number, unit = 1): [number, number] {
  const units = rows / unit;
  return [Math.floor((units * s) / n) * unit, Math.floor((units * (s + 1)) / n) * unit];
}

/** Bytes of one row of quantize_mxfp4_x output (asm mxfp4_xq_row_bytes): per 32 values, 128 bytes. */
export function mxfp4XqRowBytes(cols: number): number {
  return (cols / 32) * 128;
}

/** Bytes of one row of quantize_i16_x output (asm i16_xq_row_bytes): i16 values, then block scales. */
export function i16XqRowBytes(cols: number): number {
  return Math.ceil((cols * 2 + (cols / 32) * 4) / 16) * 16;
}

/** Bytes of one packed group of four int8 rows (asm i8w_group_bytes): weights, then bf16 block scales. */
export function i8wGroupBytes(cols: number): number {
  return Math.ceil((cols * 4 + (cols / 32) * 8) / 16) * 16;
}

/** Bytes of `rows` expert rows packed by pack_mxfp4_rows4 (asm mxfp4_rows4_bytes): groups of four rows. */
export function mxfp4Rows4Bytes(rows: number, cols: number): number {
  return Math.ceil(rows / 4) * Math.ceil(((cols / 32) * 68) / 16) * 16;
}

/** Bytes of the KV caches of `slots` slots of `maxContext` tokens, all layers and heads. */
export function kvCacheBytes(c: GptOssConfig, maxContext: number, slots = 1): number {
  return slots * c.numLayers * maxContext * c.numKvHeads * c.headDim * 4 * 2;
}

/** Bytes of weights a model places in shards (everything but the embedding, which is read per token). */
export function placedWeightBytes(c: GptOssConfig): number {
  const H = c.hiddenSize,
    qw = c.numHeads * c.headDim,
    kvw = c.numKvHeads * c.headDim,
    E = c.numExperts,
    F = c.intermediateSize;
  const bf16 = (rows: number, cols: number) => rows * cols * 2 + rows * 4;
  const mx = (rows: number, cols: number) => E * rows * ((cols / 32) * 17 + 4);
  const layer = bf16(qw, H) + 2 * bf16(kvw, H) + bf16(H, qw) + bf16(E, H) + mx(2 * F, H) + mx(H, F);
  return c.numLayers * layer + bf16(c.vocabSize, H);
}

/** Most tokens one Unembed step takes (a shard's logits buffer holds this many rows). */
export const UNEMBED_ROWS = 64;

/** Shards keep below this many bytes so buffers and alignment fit in a 4 GiB memory. */
const SHARD_BUDGET = 3.5 * 2 ** 30;

/**
 * Enough shards for the 4 GiB limit (weights and the KV caches of `slots` slots of maxContext tokens), a
 * multiple of `threads` so each worker gets the same share.
 */
export function shardCount(c: GptOssConfig, threads: number, maxContext = 0, slots = 1): number {
  const bytes = placedWeightBytes(c) + kvCacheBytes(c, maxContext, slots);
  return threads * Math.max(1, Math.ceil(bytes / threads / SHARD_BUDGET));
}

/**
 * Places every matrix's row-slices in `shards` memories, dense ones in the given formats (int8 ones need
 * widths that are multiples of 32).
 */
export function planShards(
  c: GptOssConfig,
  shards: number,
  maxTokens: number,
  maxContext: number,
  slots: number,
  formats: DenseFormats = {},
): ShardLayout[] {
  const int8Weights = formats.int8Weights ?? false;
  const H = c.hiddenSize, hd = c.headDim, E = c.numExperts, F = c.intermediateSize;
  const K = c.expertsPerToken, T = maxTokens, group = c.numHeads / c.numKvHeads;
  const layouts: ShardLayout[] = [];
  for (let s = 0; s < shards; s++) {
    const a = new Arena();
    const [kv0, kv1] = split(c.numKvHeads, s, shards);
    const heads: ShardHeads = { h0: kv0 * group, heads: (kv1 - kv0) * group, kv0, kvHeads: kv1 - kv0 };
    /** Rows `range` of a matrix with `cols` columns, by default this shard's split of its `total` rows. */
    const dense = (
      total: number,
      cols: number,
      bias: boolean,
      int8: boolean,
      range?: [number, number],
    ): DenseSlice => {
      const [r0, r1] = range ?? split(total, s, shards);
      const rows = r1 - r0;
      if (int8) {
        if (cols % 32 !== 0) {
          throw new OssiError(
            `wasm backend: int8 weights need widths that are multiples of 32 (got ${cols}); use --exact`,
          );
        }
        const w = a.alloc(Math.ceil(rows / 4) * i8wGroupBytes(cols));
        return { format: "i8", w, bias: bias ? a.alloc(rows * 4) : 0, r0, rows, cols };
      }
      return {
        format: "bf16",
        w: a.alloc(rows * cols * 2),
        bias: bias ? a.alloc(rows * 4) : 0,
        r0,
        rows,
        cols,
      };
    };
    const experts = (total: number, cols: number, unit: number): ExpertSlice => {
      const [r0, r1] = split(total, s, shards, unit);
      const rows = r1 - r0;
      if (formats.expertRows4) {
        return {
          format: "mxfp4_rows4",
          blocks: a.alloc(E * mxfp4Rows4Bytes(rows, cols)),
          scales: 0,
          bias: a.alloc(E * rows * 4),
          r0,
          rows,
          cols,
        };
      }
      return {
        format: "mxfp4",
        blocks: a.alloc((E * rows * cols) / 2),
        scales: a.alloc((E * rows * cols) / 32),
        bias: a.alloc(E * rows * 4),
        r0,
        rows,
        cols,
      };
    };
    const qRows: [number, number] = [heads.h0 * hd, (heads.h0 + heads.heads) * hd];
    const kvRows: [number, number] = [kv0 * hd, kv1 * hd];
    const layers: LayerSlices[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      layers.push({
        q: dense(0, H, true, int8Weights, qRows),
        k: dense(0, H, true, int8Weights, kvRows),
        v: dense(0, H, true, int8Weights, kvRows),
        o: dense(H, c.numHeads * hd, true, int8Weights),
        // the router stays bf16: int8 there flips expert choices (a tenth of the fast path's loss for a
        // 0.02% of the bytes)
        router: dense(E, H, true, formats.int8Router ?? false, [0, E]),
        gateUp: experts(2 * F, H, 2),
        down: experts(H, F, 1),
        attnNorm: a.alloc(H * 4),
        mlpNorm: a.alloc(H * 4),
        sinks: a.alloc(heads.heads * 4),
        kCache: Array.from({ length: slots }, () => a.alloc(maxContext * heads.kvHeads * hd * 4)),
        vCache: Array.from({ length: slots }, () => a.alloc(maxContext * heads.kvHeads * hd * 4)),
      });
    }
    const unembed = dense(c.vocabSize, H, false, int8Weights);
    const weightBytes = a.offset;
    const L = layers[0];
    const maxIn = Math.max(H, c.numHeads * hd, F);
    // the unembedding takes at most UNEMBED_ROWS tokens per step (its rows are the vocabulary's share)
    const yFloats = Math.max(
      T * Math.max(L.q.rows, L.o.rows, L.down.rows, K * (L.gateUp.rows / 2)),
      Math.min(T, UNEMBED_ROWS) * unembed.rows,
    );
    const xBytes = T * K * maxIn * 4;
    const io: ShardIo = {
      x: a.alloc(xBytes),
      xBytes,
      xp: a.alloc(T * K * Math.max(maxIn * 4, mxfp4XqRowBytes(maxIn))),
      y: a.alloc(yFloats * 4),
      xn: a.alloc(T * H * 4),
      q: a.alloc(T * L.q.rows * 4),
      k: a.alloc(T * L.k.rows * 4),
      v: a.alloc(T * L.v.rows * 4),
      scores: a.alloc(group * maxContext * 4),
      router: a.alloc(T * E * 4),
      tmp: a.alloc(T * K * Math.max(L.gateUp.rows, L.down.rows) * 4),
      lists: a.alloc(T * K * 8),
      sel: a.alloc(T * K * 4),
      selW: a.alloc(T * K * 4),
      topkIds: a.alloc(TOPK_MAX * 4),
      topkVals: a.alloc(TOPK_MAX * 4),
    };
    const cos = a.alloc((maxContext * hd) / 2 * 4), sin = a.alloc((maxContext * hd) / 2 * 4);
    if (a.pages > MAX_PAGES) {
      throw new OssiError(
        `wasm backend: shard ${s} needs ${
          (a.offset / 2 ** 30).toFixed(2)
        } GiB (> 4 GiB); use more shards, a smaller context or fewer slots`,
      );
    }
    layouts.push({ index: s, pages: a.pages, weightBytes, heads, layers, unembed, cos, sin, io });
  }
  return layouts;
}
