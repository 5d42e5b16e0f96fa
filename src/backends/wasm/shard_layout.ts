// Weight placement for the WASM backend: the weights are split into shards, each one wasm memory (at most
// 4 GiB) holding a row-slice of every matrix, plus its own input/output buffers. Shards are plain data so
// the layout can be posted to the worker that computes on it.

import { OssiError } from "../../errors.ts";
import type { Mat } from "../../model/dtypes.ts";
import type { GptOssConfig } from "../../model/gpt_oss.ts";
import type { GptOssWeights } from "../legacy_views.ts";
import type { Mxfp4Experts } from "../../model/mxfp4.ts";
import { Arena, MAX_PAGES } from "./kernels.ts";
import { TOPK_MAX } from "../backend.ts";

/** Rows [r0, r0+rows) of a bf16 matrix [*, cols] and of its f32 bias (0: no bias). */
export interface Bf16Slice {
  readonly w: number;
  readonly bias: number;
  readonly r0: number;
  readonly rows: number;
  readonly cols: number;
}

/** Rows [r0, r0+rows) of every expert: blocks [E, rows, cols/32, 16], scales [E, rows, cols/32], bias [E, rows]. */
export interface ExpertSlice {
  readonly blocks: number;
  readonly scales: number;
  readonly bias: number;
  readonly r0: number;
  readonly rows: number;
  readonly cols: number;
}

export interface LayerSlices {
  readonly q: Bf16Slice;
  readonly k: Bf16Slice;
  readonly v: Bf16Slice;
  readonly o: Bf16Slice;
  readonly router: Bf16Slice;
  /** Rows are whole gate/up pairs: r0 and rows are even. */
  readonly gateUp: ExpertSlice;
  readonly down: ExpertSlice;
}

/** Per-shard activations, sized for `maxTokens` tokens per call. */
export interface ShardIo {
  /** Input rows: [tokens, width] (or [tokens*k, ffn] for the down projection). */
  readonly x: number;
  /** x reordered (bf16 kernels) or quantized (MXFP4 kernels: mxfp4XqRowBytes per row) for the kernel in use. */
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
  readonly unembed: Bf16Slice;
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
}

export function shardParams(c: GptOssConfig, maxTokens: number, moeInt8 = false): ShardParams {
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

/** Shards keep below this many bytes so buffers and alignment fit in a 4 GiB memory. */
const SHARD_BUDGET = 3.5 * 2 ** 30;

/** Enough shards for the 4 GiB limit, a multiple of `threads` so each worker gets the same share. */
export function shardCount(c: GptOssConfig, threads: number): number {
  return threads * Math.max(1, Math.ceil(placedWeightBytes(c) / threads / SHARD_BUDGET));
}

export function planShards(c: GptOssConfig, shards: number, maxTokens: number): ShardLayout[] {
  const H = c.hiddenSize,
    qw = c.numHeads * c.headDim,
    kvw = c.numKvHeads * c.headDim,
    E = c.numExperts,
    F = c.intermediateSize;
  const K = c.expertsPerToken, T = maxTokens;
  const layouts: ShardLayout[] = [];
  for (let s = 0; s < shards; s++) {
    const a = new Arena();
    const bf16 = (total: number, cols: number, bias: boolean): Bf16Slice => {
      const [r0, r1] = split(total, s, shards);
      const rows = r1 - r0;
      return { w: a.alloc(rows * cols * 2), bias: bias ? a.alloc(rows * 4) : 0, r0, rows, cols };
    };
    const experts = (total: number, cols: number, unit: number): ExpertSlice => {
      const [r0, r1] = split(total, s, shards, unit);
      const rows = r1 - r0;
      return {
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
        q: bf16(qw, H, true),
        k: bf16(kvw, H, true),
        v: bf16(kvw, H, true),
        o: bf16(H, qw, true),
        router: bf16(E, H, true),
        gateUp: experts(2 * F, H, 2),
        down: experts(H, F, 1),
      });
    }
    const unembed = bf16(c.vocabSize, H, false);
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
    const io: ShardIo = {
      x: a.alloc(T * K * maxIn * 4),
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

/** Copies this shard's slices out of the (mapped) weights into its memory; reports bytes copied and each layer done. */
export function fillShard(
  layout: ShardLayout,
  memory: WebAssembly.Memory,
  w: GptOssWeights,
  onBytes: (bytes: number) => void,
  afterLayer: () => void = () => {},
): void {
  const u8 = new Uint8Array(memory.buffer), f32 = new Float32Array(memory.buffer);
  const putBf16 = (s: Bf16Slice, m: Mat, bias: Float32Array | null, what: string) => {
    const d = bf16Data(m, what);
    const src = d.subarray(s.r0 * s.cols, (s.r0 + s.rows) * s.cols);
    u8.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), s.w);
    if (bias) f32.set(bias.subarray(s.r0, s.r0 + s.rows), s.bias / 4);
    onBytes(src.byteLength);
  };
  const putExperts = (s: ExpertSlice, m: Mxfp4Experts) => {
    const bpr = m.cols / 2, spr = m.cols / 32;
    for (let e = 0; e < m.numExperts; e++) {
      const row0 = e * m.rows + s.r0;
      u8.set(m.blocks.subarray(row0 * bpr, (row0 + s.rows) * bpr), s.blocks + e * s.rows * bpr);
      u8.set(m.scales.subarray(row0 * spr, (row0 + s.rows) * spr), s.scales + e * s.rows * spr);
      f32.set(m.bias.subarray(row0, row0 + s.rows), s.bias / 4 + e * s.rows);
      onBytes(s.rows * (bpr + spr));
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
