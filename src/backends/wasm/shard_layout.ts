// Weight placement for the WASM backend: the weights are split into shards, each one wasm memory (at most
// 4 GiB) holding a row-slice of every matrix, plus its own input/output buffers. Shards are plain data so
// the layout can be posted to the worker that computes on it.

import { OssiError } from "../../io/errors.ts";
import type { ModelConfig } from "../../model/config.ts";
import type { Mat } from "../../model/dtypes.ts";
import type { GptOssWeights } from "../../model/gpt_oss.ts";
import type { Mxfp4Experts } from "../../model/mxfp4.ts";
import { Arena, type Kernels, MAX_PAGES } from "./kernels.ts";
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
  readonly q: DenseSlice;
  readonly k: DenseSlice;
  readonly v: DenseSlice;
  readonly o: DenseSlice;
  readonly router: DenseSlice;
  /** Rows are whole gate/up pairs: r0 and rows are even. */
  readonly gateUp: ExpertSlice;
  readonly down: ExpertSlice;
}

/** Per-shard activations, sized for `maxTokens` tokens per call. */
export interface ShardIo {
  /** Input rows: [tokens, width] (or [tokens*k, ffn] for the down projection). */
  readonly x: number;
  /** Size of x in bytes. */
  readonly xBytes: number;
  /** x reordered (bf16 kernels) or quantized (int8: i8XqRowBytes, MXFP4: mxfp4XqRowBytes per row) for the kernel in use. */
  readonly xp: number;
  /** Output rows of this shard's slice; q for the QKV step. */
  readonly y: number;
  readonly yk: number;
  readonly yv: number;
  readonly tmp: number;
  readonly lists: number;
  /** [tokens*k] i32 chosen experts and f32 weights, written by the host before the MoE steps. */
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
  readonly layers: readonly LayerSlices[];
  readonly unembed: DenseSlice;
  readonly io: ShardIo;
}

/** The scalars every shard step needs besides its layout. */
export interface ShardParams {
  readonly hidden: number;
  readonly qWidth: number;
  readonly ffn: number;
  readonly experts: number;
  readonly k: number;
  readonly swigluLimit: number;
  readonly swigluAlpha: number;
  readonly maxTokens: number;
  /** MoE activations quantized to int8 (1) instead of 22 bits (0). */
  readonly moeInt8: number;
  /** Levels of the int8-weight matmuls' activations: 16383 (the fast path) or 127 (the Q8_0 yardstick). */
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

export function shardParams(c: ModelConfig, maxTokens: number, moeInt8 = false, xQMax = 16383): ShardParams {
  return {
    hidden: c.hiddenSize,
    qWidth: c.numHeads * c.headDim,
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

/** Bytes of one row of quantize_i8_x output (asm i8_xq_row_bytes): two digit planes, signs, block scales. */
export function i8XqRowBytes(cols: number): number {
  return Math.ceil((cols * 3 + (cols / 32) * 4) / 16) * 16;
}

/** Bytes of one packed group of four int8 rows (asm i8w_group_bytes): weights, then bf16 block scales. */
export function i8wGroupBytes(cols: number): number {
  return Math.ceil((cols * 4 + (cols / 32) * 8) / 16) * 16;
}

/** Bytes of `rows` expert rows packed by pack_mxfp4_rows4 (asm mxfp4_rows4_bytes): groups of four rows. */
export function mxfp4Rows4Bytes(rows: number, cols: number): number {
  return Math.ceil(rows / 4) * Math.ceil(((cols / 32) * 68) / 16) * 16;
}

/** Bytes of weights a model places in shards (everything but the embedding, which is read per token). */
export function placedWeightBytes(c: ModelConfig): number {
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

/** Shards keep below this many bytes so buffers and alignment fit in a 4 GiB memory. */
const SHARD_BUDGET = 3.5 * 2 ** 30;

/** Enough shards for the 4 GiB limit, a multiple of `threads` so each worker gets the same share. */
export function shardCount(c: ModelConfig, threads: number): number {
  return threads * Math.max(1, Math.ceil(placedWeightBytes(c) / threads / SHARD_BUDGET));
}

/**
 * Places every matrix's row-slices in `shards` memories, dense ones in the given formats (int8 ones need
 * widths that are multiples of 32).
 */
export function planShards(
  c: ModelConfig,
  shards: number,
  maxTokens: number,
  formats: DenseFormats = {},
): ShardLayout[] {
  const int8Weights = formats.int8Weights ?? false;
  const H = c.hiddenSize,
    qw = c.numHeads * c.headDim,
    kvw = c.numKvHeads * c.headDim,
    E = c.numExperts,
    F = c.intermediateSize;
  const K = c.expertsPerToken, T = maxTokens;
  const layouts: ShardLayout[] = [];
  for (let s = 0; s < shards; s++) {
    const a = new Arena();
    const dense = (total: number, cols: number, bias: boolean, int8: boolean): DenseSlice => {
      const [r0, r1] = split(total, s, shards);
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
    const layers: LayerSlices[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      layers.push({
        q: dense(qw, H, true, int8Weights),
        k: dense(kvw, H, true, int8Weights),
        v: dense(kvw, H, true, int8Weights),
        o: dense(H, qw, true, int8Weights),
        // the router stays bf16: int8 there flips expert choices (a tenth of the fast path's loss for a
        // 0.02% of the bytes)
        router: dense(E, H, true, formats.int8Router ?? false),
        gateUp: experts(2 * F, H, 2),
        down: experts(H, F, 1),
      });
    }
    const unembed = dense(c.vocabSize, H, false, int8Weights);
    const weightBytes = a.offset;
    const L = layers[0];
    const maxIn = Math.max(H, qw, F);
    const maxOut = Math.max(
      L.q.rows,
      L.o.rows,
      L.router.rows,
      L.down.rows,
      unembed.rows,
      K * (L.gateUp.rows / 2),
    );
    const xBytes = T * K * maxIn * 4;
    const io: ShardIo = {
      x: a.alloc(xBytes),
      xBytes,
      xp: a.alloc(T * K * Math.max(maxIn * 4, mxfp4XqRowBytes(maxIn))),
      y: a.alloc(T * maxOut * 4),
      yk: a.alloc(T * L.k.rows * 4),
      yv: a.alloc(T * L.v.rows * 4),
      tmp: a.alloc(T * K * Math.max(L.gateUp.rows, L.down.rows) * 4),
      lists: a.alloc(T * K * 8),
      sel: a.alloc(T * K * 4),
      selW: a.alloc(T * K * 4),
      topkIds: a.alloc(TOPK_MAX * 4),
      topkVals: a.alloc(TOPK_MAX * 4),
    };
    if (a.pages > MAX_PAGES) {
      throw new OssiError(
        `wasm backend: shard ${s} needs ${(a.offset / 2 ** 30).toFixed(2)} GiB (> 4 GiB); use more shards`,
      );
    }
    layouts.push({ index: s, pages: a.pages, weightBytes, layers, unembed, io });
  }
  return layouts;
}

function bf16Data(m: Mat, what: string): Uint16Array {
  if (m.dtype !== "BF16") {
    throw new OssiError(
      `wasm backend: ${what} is ${m.dtype}; it supports BF16 matrices only (try --backend ref)`,
    );
  }
  return m.data as Uint16Array;
}

/**
 * Copies this shard's slices out of the (mapped) weights into its memory; reports bytes copied and each
 * layer done. int8 slices are packed by the kernels `k` (instantiated over this memory) from bf16 rows
 * staged in io.x, which holds no activations yet.
 */
export function fillShard(
  layout: ShardLayout,
  memory: WebAssembly.Memory,
  w: GptOssWeights,
  k: Pick<Kernels, "pack_i8w_bf16" | "pack_mxfp4_rows4">,
  onBytes: (bytes: number) => void,
  afterLayer: () => void = () => {},
): void {
  const u8 = new Uint8Array(memory.buffer), f32 = new Float32Array(memory.buffer);
  const putBf16 = (s: DenseSlice, m: Mat, bias: Float32Array | null, what: string) => {
    const d = bf16Data(m, what);
    const src = d.subarray(s.r0 * s.cols, (s.r0 + s.rows) * s.cols);
    if (s.format === "bf16") u8.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), s.w);
    else packI8(s, src);
    if (bias) f32.set(bias.subarray(s.r0, s.r0 + s.rows), s.bias / 4);
    onBytes(src.byteLength);
  };
  // bf16 rows go through the staging area io.x in chunks of whole row groups (4 rows)
  const packI8 = (s: DenseSlice, src: Uint16Array) => {
    const chunk = Math.floor(layout.io.xBytes / 2 / s.cols / 4) * 4;
    if (chunk < 4) {
      throw new Error(`wasm backend: staging area too small for a row group of ${s.cols} columns`);
    }
    for (let r = 0; r < s.rows; r += chunk) {
      const n = Math.min(chunk, s.rows - r);
      u8.set(new Uint8Array(src.buffer, src.byteOffset + r * s.cols * 2, n * s.cols * 2), layout.io.x);
      k.pack_i8w_bf16(layout.io.x, n, s.cols, s.w + (r / 4) * i8wGroupBytes(s.cols));
    }
  };

  const putExperts = (s: ExpertSlice, m: Mxfp4Experts) => {
    const bpr = m.cols / 2, spr = m.cols / 32;
    for (let e = 0; e < m.numExperts; e++) {
      const row0 = e * m.rows + s.r0;
      if (s.format === "mxfp4_rows4") packRows4(s, m, e, row0);
      else {
        u8.set(m.blocks.subarray(row0 * bpr, (row0 + s.rows) * bpr), s.blocks + e * s.rows * bpr);
        u8.set(m.scales.subarray(row0 * spr, (row0 + s.rows) * spr), s.scales + e * s.rows * spr);
      }
      f32.set(m.bias.subarray(row0, row0 + s.rows), s.bias / 4 + e * s.rows);
      onBytes(s.rows * (bpr + spr));
    }
  };
  // expert rows go through io.x as blocks then scales, in chunks of whole row groups
  const packRows4 = (s: ExpertSlice, m: Mxfp4Experts, e: number, row0: number) => {
    const bpr = m.cols / 2, spr = m.cols / 32, chunk = Math.floor(layout.io.xBytes / (bpr + spr) / 4) * 4;
    if (chunk < 4) {
      throw new Error(`wasm backend: staging area too small for a row group of ${m.cols} columns`);
    }
    const dst = s.blocks + e * mxfp4Rows4Bytes(s.rows, s.cols);
    for (let r = 0; r < s.rows; r += chunk) {
      const n = Math.min(chunk, s.rows - r), at = row0 + r, scales = layout.io.x + n * bpr;
      u8.set(m.blocks.subarray(at * bpr, (at + n) * bpr), layout.io.x);
      u8.set(m.scales.subarray(at * spr, (at + n) * spr), scales);
      k.pack_mxfp4_rows4(layout.io.x, scales, n, m.cols, dst + mxfp4Rows4Bytes(r, m.cols));
    }
  };
  layout.layers.forEach((L, l) => {
    const W = w.layers[l];
    putBf16(L.q, W.q, W.qBias, `layer ${l} q`);
    putBf16(L.k, W.k, W.kBias, `layer ${l} k`);
    putBf16(L.v, W.v, W.vBias, `layer ${l} v`);
    putBf16(L.o, W.o, W.oBias, `layer ${l} o`);
    putBf16(L.router, W.router, W.routerBias, `layer ${l} router`);
    putExperts(L.gateUp, W.gateUp);
    putExperts(L.down, W.down);
    afterLayer();
  });
  putBf16(layout.unembed, w.unembed, null, "unembedding");
}
