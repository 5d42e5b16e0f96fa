// Weight placement for the WASM backend: the weights are split into shards, each one wasm memory (at most
// 4 GiB) holding a row-slice of every matrix, a group of KV heads (their q/k/v rows, QK-norms, sinks and
// KV cache of every slot, so attention runs in the shard), the small tensors every shard needs (norms,
// routers, rope tables), and its own input/output buffers. Shards are plain data so the layout can be
// posted to the worker that computes on it; shard_fill.ts copies the weights in. Nothing here asks which
// architecture a model is: the plan and the weights' dtypes decide every slice and format.

import { OssiError } from "../../errors.ts";
import type { ModelConfig } from "../../model/config.ts";
import type { Mat } from "../../model/dtypes.ts";
import type { LayerPlan, ModelPlan } from "../../model/plan.ts";
import type { LayerWeights, ModelWeights } from "../../model/weights.ts";
import { TOPK_MAX } from "../backend.ts";
import { Arena, MAX_PAGES, PAGE_BYTES } from "./kernels.ts";

/**
 * How a dense matrix is stored. "bf16": the file's words, for f32_bf16w_matmul (cols % 8 == 0). "f32":
 * widened at load (f16, f32, or bf16 of another width), for f32_f32w_matmul. "i8": the fast path's int8
 * weights with a bf16 scale per 32 columns (packed by pack_i8w_bf16/_f32 in groups of four rows, rows
 * padded to a multiple of 4), for f32_i8w_matmul (cols % 32 == 0).
 */
export type DenseFormat = "bf16" | "f32" | "i8";

/** Rows [r0, r0+rows) of a dense matrix [*, cols] and of its f32 bias (0: no bias). */
export interface DenseSlice {
  readonly format: DenseFormat;
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

/** f32 [hidden] norm weight and bias (0: RMSNorm, which has none). */
export interface NormSlice {
  readonly w: number;
  readonly b: number;
}

/**
 * The shard's part of a layer's feed-forward. Each slice of the activation (SwiGLU or GELU output) is
 * columns [act.c0, act.c0 + act.cols) of it: the rows of gate and up (MXFP4: the interleaved gate/up row
 * pairs) that make them; down is split by its output rows. A router is whole in every shard: each routes
 * its tokens itself, with the same bits everywhere.
 */
export type FfnSlices =
  | {
    readonly kind: "dense";
    readonly gate: DenseSlice | null;
    readonly up: DenseSlice;
    readonly down: DenseSlice;
  }
  | {
    readonly kind: "mxfp4";
    readonly router: DenseSlice;
    readonly gateUp: ExpertSlice;
    readonly down: ExpertSlice;
  }
  | {
    readonly kind: "float";
    readonly router: DenseSlice;
    readonly gate: readonly DenseSlice[];
    readonly up: readonly DenseSlice[];
    readonly down: readonly DenseSlice[];
  };

export interface LayerSlices {
  readonly attnNorm: NormSlice;
  /** The shard's heads' rows (see ShardHeads); no rows when it has no KV head. */
  readonly q: DenseSlice;
  readonly k: DenseSlice;
  readonly v: DenseSlice;
  readonly o: DenseSlice;
  /** f32 [headDim] QK-norm weights; 0: the layer has none. */
  readonly qNorm: number;
  readonly kNorm: number;
  /** f32 [heads] sinks of the shard's query heads (-inf without sinks: exp(-inf) adds nothing). */
  readonly sinks: number;
  /**
   * Per KV slot, f32 [maxContext, kvHeads*headDim] keys and values of the shard's KV heads (rope applied
   * to keys).
   */
  readonly kCache: readonly number[];
  readonly vCache: readonly number[];
  readonly mlpNorm: NormSlice;
  readonly ffn: FfnSlices;
  /** The columns of the FFN activation this shard computes. */
  readonly act: { readonly c0: number; readonly cols: number };
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
  /** Input rows: [tokens, width] (or [tokens*k, ffn] for the down projection); staging at load. */
  readonly x: number;
  /** Size of x in bytes. */
  readonly xBytes: number;
  /** x reordered (bf16), quantized (i8: i8wXqRowBytes, MXFP4: mxfp4XqRowBytes per row) for the kernel. */
  readonly xp: number;
  /** Output rows of this shard's slice: attention of its heads, o rows, activation columns, down rows, logits. */
  readonly y: number;
  /** [tokens, hidden] the norm of x. */
  readonly xn: number;
  /** [tokens, heads*headDim] queries, [tokens, kvHeads*headDim] keys and values of the shard's heads. */
  readonly q: number;
  readonly k: number;
  readonly v: number;
  /** [heads/kvHeads, maxContext] attention scores. */
  readonly scores: number;
  /** [tokens, experts] router logits. */
  readonly router: number;
  /** Expert (and dense MLP) scratch: [tokens*k, max(2 * act cols, expert rows)]. */
  readonly tmp: number;
  /** Float experts: the rows routed to one expert, gathered: [tokens*k, max input width]. */
  readonly xg: number;
  /** Float experts: each (token, choice)'s down rows before the weighted sum: [tokens*k, down rows]. */
  readonly slotOut: number;
  readonly lists: number;
  /** MXFP4 experts on int8 activations (expertRows4): mxfp4Q8ScratchBytes(tokens*k, widest input). */
  readonly moeScratch: number;
  /** [tokens*k] i32 chosen experts and f32 weights, written by the FfnUp step for the Down step. */
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
  /** f32 [maxContext, headDim/2] rope tables (0: learned positions). */
  readonly cos: number;
  readonly sin: number;
  readonly io: ShardIo;
}

/** The scalars every shard step needs besides its layout. */
export interface ShardParams {
  readonly hidden: number;
  readonly headDim: number;
  readonly eps: number;
  /** What each layer computes (norm kind, attention, feed-forward). */
  readonly layers: readonly LayerPlan[];
  readonly maxTokens: number;
  /** MXFP4 experts' activations quantized to int8 (1) instead of 22 bits (0). */
  readonly moeInt8: number;
  /** Levels of the int8-weight matmuls' activations: 1..127 (127, one int8 level, for the fast path). */
  readonly xQMax: number;
  /** Levels of float experts' activations on int8 weights: 127 (int8) on the fast path, else xQMax. */
  readonly expertQMax: number;
}

/** How the matrices are stored; the default is the exact path (the file's bf16, else f32). */
export interface DenseFormats {
  /** Every dense matrix but the routers as int8 where its width allows (the fast path). */
  readonly int8Weights?: boolean;
  /** The routers as int8 too: only for the quality gate's llama.cpp-like yardstick. */
  readonly int8Router?: boolean;
  /** MXFP4 experts packed four rows at a time for the int8-activation kernels (the fast path). */
  readonly expertRows4?: boolean;
}

export function shardParams(
  c: ModelConfig,
  plan: ModelPlan,
  maxTokens: number,
  moeInt8 = false,
  xQMax = 127,
): ShardParams {
  return {
    hidden: c.hiddenSize,
    headDim: c.headDim,
    eps: c.norm.eps,
    layers: plan.layers,
    maxTokens,
    moeInt8: moeInt8 ? 1 : 0,
    xQMax,
    expertQMax: moeInt8 ? 127 : xQMax,
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

/** Bytes of one row of quantize_i8w_x output (asm i8w_xq_row_bytes): int8 values, block scales and sums. */
export function i8wXqRowBytes(cols: number): number {
  return Math.ceil((cols + (cols / 32) * 8) / 16) * 16;
}

/** Bytes of one packed group of four int8 rows (asm i8w_group_bytes): weights, then bf16 block scales. */
export function i8wGroupBytes(cols: number): number {
  return Math.ceil((cols * 4 + (cols / 32) * 8) / 16) * 16;
}

/**
 * Bytes of f32_mxfp4w_matmul_q8's scratch for n rows (asm mxfp4_q8_scratch_bytes): the rows regathered,
 * 32 rows of codes decoded to int8, the n x 32 outputs.
 */
export function mxfp4Q8ScratchBytes(n: number, cols: number): number {
  return n * Math.ceil((cols + (cols / 32) * 8) / 16) * 16 + 8 * i8wGroupBytes(cols) + n * 128;
}

/** Bytes of `rows` expert rows packed by pack_mxfp4_rows4 (asm mxfp4_rows4_bytes): groups of four rows. */
export function mxfp4Rows4Bytes(rows: number, cols: number): number {
  return Math.ceil(rows / 4) * Math.ceil(((cols / 32) * 68) / 16) * 16;
}

/** The format of a dense matrix: int8 when asked and its width allows, else bf16 where the kernel takes it. */
export function denseFormat(m: Mat, int8: boolean): DenseFormat {
  if (int8 && m.cols % 32 === 0) return "i8";
  return m.dtype === "BF16" && m.cols % 8 === 0 ? "bf16" : "f32";
}

/** Bytes of `rows` rows of `cols` columns stored as `format`. */
export function denseBytes(format: DenseFormat, rows: number, cols: number): number {
  if (format === "i8") return Math.ceil(rows / 4) * i8wGroupBytes(cols);
  return rows * cols * (format === "bf16" ? 2 : 4);
}

/** Most tokens one Unembed step takes (a shard's logits buffer holds this many rows). */
export const UNEMBED_ROWS = 64;

/** Shards keep below this many bytes so buffers and alignment fit in a 4 GiB memory. */
const SHARD_BUDGET = 3.5 * 2 ** 30;
/** More shards than this is a model or context no wasm machine holds. */
const MAX_SHARDS = 256;

/** What planShards() lays out: the model and how many tokens, positions and slots it serves. */
export interface ShardModel {
  readonly config: ModelConfig;
  readonly plan: ModelPlan;
  readonly weights: ModelWeights;
  readonly maxTokens: number;
  readonly maxContext: number;
  readonly slots: number;
  readonly formats: DenseFormats;
}

/**
 * The fewest shards, a multiple of `threads` (each worker gets the same share), whose memories each stay
 * under the budget with their KV caches.
 */
export function shardCount(m: ShardModel, threads: number): number {
  for (let n = threads; n <= MAX_SHARDS; n += threads) {
    if (planShards(m, n).every((s) => s.pages * PAGE_BYTES <= SHARD_BUDGET)) return n;
  }
  throw new OssiError(
    `wasm backend: the weights and ${m.slots} KV cache${m.slots > 1 ? "s" : ""} of ${m.maxContext} ` +
      `tokens do not fit in ${MAX_SHARDS} memories of 4 GiB; use a smaller context or fewer slots`,
  );
}

/** The widest FFN activation and the most rows per token a layer's feed-forward runs (its top-k, or 1). */
function ffnShape(plan: ModelPlan): { width: number; k: number; experts: number } {
  let width = 0, k = 1, experts = 0;
  for (const p of plan.layers) {
    width = Math.max(width, p.mlp.width);
    if (p.mlp.kind === "moe") (k = Math.max(k, p.mlp.topK)), (experts = Math.max(experts, p.mlp.experts));
  }
  return { width, k, experts };
}

/** Throws when a shard's memory would pass wasm32's 4 GiB. */
export function checkShardsFit(layouts: readonly ShardLayout[]): void {
  const big = layouts.find((s) => s.pages > MAX_PAGES);
  if (big) {
    throw new OssiError(
      `wasm backend: shard ${big.index} needs ${
        (big.pages / 16384).toFixed(2)
      } GiB (> 4 GiB); use more shards, a smaller context or fewer slots`,
    );
  }
}

/** Places every matrix's row-slices in `shards` memories (see checkShardsFit()). */
export function planShards(m: ShardModel, shards: number): ShardLayout[] {
  const { config: c, plan, weights: w, formats } = m;
  const int8 = formats.int8Weights ?? false;
  const H = c.hiddenSize, hd = c.headDim, T = m.maxTokens, group = c.numHeads / c.numKvHeads;
  const { width: F, k: K, experts: E } = ffnShape(plan);
  const layouts: ShardLayout[] = [];
  for (let s = 0; s < shards; s++) {
    const a = new Arena();
    const [kv0, kv1] = split(c.numKvHeads, s, shards);
    const heads: ShardHeads = { h0: kv0 * group, heads: (kv1 - kv0) * group, kv0, kvHeads: kv1 - kv0 };
    /** Rows `range` of matrix `mat` (by default this shard's split of its rows), in its format. */
    const dense = (mat: Mat, bias: Float32Array | null, asInt8: boolean, range?: [number, number]) => {
      const [r0, r1] = range ?? split(mat.rows, s, shards);
      const format = denseFormat(mat, asInt8), rows = r1 - r0;
      const slice: DenseSlice = {
        format,
        w: a.alloc(denseBytes(format, rows, mat.cols)),
        bias: bias ? a.alloc(rows * 4) : 0,
        r0,
        rows,
        cols: mat.cols,
      };
      return slice;
    };
    const experts = (e: number, rows: number, cols: number, unit: number): ExpertSlice => {
      const [r0, r1] = split(rows, s, shards, unit), n = r1 - r0;
      if (formats.expertRows4) {
        const blocks = a.alloc(e * mxfp4Rows4Bytes(n, cols));
        return { format: "mxfp4_rows4", blocks, scales: 0, bias: a.alloc(e * n * 4), r0, rows: n, cols };
      }
      const blocks = a.alloc((e * n * cols) / 2), scales = a.alloc((e * n * cols) / 32);
      return { format: "mxfp4", blocks, scales, bias: a.alloc(e * n * 4), r0, rows: n, cols };
    };
    const norm = (bias: boolean): NormSlice => ({ w: a.alloc(H * 4), b: bias ? a.alloc(H * 4) : 0 });
    const ffn = (p: LayerPlan, L: LayerWeights): { ffn: FfnSlices; act: LayerSlices["act"] } => {
      const f = L.ffn;
      if (f.kind === "dense") {
        const up = dense(f.up, f.upBias, int8), down = dense(f.down, f.downBias, int8);
        const gate = f.gate ? dense(f.gate, f.gateBias, int8) : null;
        return { ffn: { kind: "dense", gate, up, down }, act: { c0: up.r0, cols: up.rows } };
      }
      const router = dense(f.router, f.routerBias, formats.int8Router ?? false, [0, f.router.rows]);
      if (f.experts.format === "mxfp4") {
        const x = f.experts, gateUp = experts(x.gateUp.numExperts, x.gateUp.rows, x.gateUp.cols, 2);
        const down = experts(x.down.numExperts, x.down.rows, x.down.cols, 1);
        return {
          ffn: { kind: "mxfp4", router, gateUp, down },
          act: { c0: gateUp.r0 / 2, cols: gateUp.rows / 2 },
        };
      }
      const x = f.experts, rows = split(p.mlp.width, s, shards);
      const gate = x.gate.map((g) => dense(g, null, int8, rows)),
        up = x.up.map((u) => dense(u, null, int8, rows));
      const down = x.down.map((d) => dense(d, null, int8));
      return {
        ffn: { kind: "float", router, gate, up, down },
        act: { c0: rows[0], cols: rows[1] - rows[0] },
      };
    };
    const qRows: [number, number] = [heads.h0 * hd, (heads.h0 + heads.heads) * hd];
    const kvRows: [number, number] = [kv0 * hd, kv1 * hd];
    const cache = () => Array.from({ length: m.slots }, () => a.alloc(m.maxContext * heads.kvHeads * hd * 4));
    const layers = plan.layers.map((p, l): LayerSlices => {
      const L = w.layers[l], qkNorm = p.attention.qkNorm, layerNorm = p.norm === "layernorm";
      return {
        attnNorm: norm(layerNorm),
        q: dense(L.q, L.qBias, int8, qRows),
        k: dense(L.k, L.kBias, int8, kvRows),
        v: dense(L.v, L.vBias, int8, kvRows),
        o: dense(L.o, L.oBias, int8),
        qNorm: qkNorm ? a.alloc(hd * 4) : 0,
        kNorm: qkNorm ? a.alloc(hd * 4) : 0,
        sinks: a.alloc(heads.heads * 4),
        kCache: cache(),
        vCache: cache(),
        mlpNorm: norm(layerNorm),
        ...ffn(p, L),
      };
    });
    const unembed = dense(w.unembed, null, int8);
    const weightBytes = a.offset;
    // activations: the widest input a step takes, and the most rows (tokens times the top-k)
    const maxIn = Math.max(H, c.numHeads * hd, F), rowsMax = T * K, maxCols = Math.ceil(maxIn / 32) * 32;
    const most = (get: (L: LayerSlices) => number) => Math.max(0, ...layers.map(get));
    const actCols = most((L) => L.act.cols);
    const ffnRows = most((L) => ffnOutRows(L.ffn));
    const yFloats = Math.max(
      T * most((L) => Math.max(L.q.rows, L.o.rows)),
      rowsMax * actCols,
      T * ffnRows,
      Math.min(T, UNEMBED_ROWS) * unembed.rows,
    );
    // x also stages four rows of the widest matrix as f32 while the weights are packed at load
    const xBytes = Math.max(rowsMax, 4) * maxIn * 4;
    const io: ShardIo = {
      x: a.alloc(xBytes),
      xBytes,
      xp: a.alloc(rowsMax * mxfp4XqRowBytes(maxCols)),
      y: a.alloc(yFloats * 4),
      xn: a.alloc(T * H * 4),
      q: a.alloc(T * layers[0].q.rows * 4),
      k: a.alloc(T * layers[0].k.rows * 4),
      v: a.alloc(T * layers[0].v.rows * 4),
      scores: a.alloc(group * m.maxContext * 4),
      router: a.alloc(T * E * 4),
      tmp: a.alloc(rowsMax * Math.max(2 * actCols, most((L) => expertRows(L.ffn))) * 4),
      xg: a.alloc(E ? rowsMax * maxIn * 4 : 0),
      slotOut: a.alloc(E ? rowsMax * ffnRows * 4 : 0),
      lists: a.alloc(rowsMax * 8),
      moeScratch: a.alloc(formats.expertRows4 && E ? mxfp4Q8ScratchBytes(rowsMax, maxCols) : 0),
      sel: a.alloc(rowsMax * 4),
      selW: a.alloc(rowsMax * 4),
      topkIds: a.alloc(TOPK_MAX * 4),
      topkVals: a.alloc(TOPK_MAX * 4),
    };
    const tables = c.rope ? (m.maxContext * hd) / 2 * 4 : 0;
    const cos = tables ? a.alloc(tables) : 0, sin = tables ? a.alloc(tables) : 0;
    layouts.push({ index: s, pages: a.pages, weightBytes, heads, layers, unembed, cos, sin, io });
  }
  return layouts;
}

/** Output rows of a feed-forward's down slice. */
function ffnOutRows(f: FfnSlices): number {
  return f.kind === "float" ? f.down[0].rows : f.down.rows;
}

/** Rows of one expert matmul's output (the MXFP4 kernels' tmp holds gate_up or down rows). */
function expertRows(f: FfnSlices): number {
  return f.kind === "mxfp4" ? Math.max(f.gateUp.rows, f.down.rows) : f.kind === "float" ? f.down[0].rows : 0;
}
