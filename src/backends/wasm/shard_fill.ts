// Fills a shard's memory at load: copies its row-slices out of the (mapped) checkpoint, widening them to
// f32 or packing them for the fast path's int8 kernels where its layout says so (see shard_layout.ts).

import { loadRow, type Mat } from "../../model/dtypes.ts";
import type { Mxfp4Experts } from "../../model/mxfp4.ts";
import type { ModelWeights } from "../../model/weights.ts";
import type { Kernels } from "./kernels.ts";
import {
  type DenseSlice,
  type ExpertSlice,
  i8wGroupBytes,
  mxfp4Rows4Bytes,
  type NormSlice,
  type ShardLayout,
} from "./shard_layout.ts";

/** The packing kernels, instantiated over the shard's memory. */
export type Packers = Pick<Kernels, "pack_i8w_bf16" | "pack_i8w_f32" | "pack_mxfp4_rows4">;

/**
 * Copies this shard's slices out of the (mapped) weights into its memory, with the norms, its heads'
 * QK-norms and sinks, and the rope tables; calls `afterPart` after each layer and after the unembedding.
 * Packed slices are packed by `k` from rows staged in io.x, which holds no activations yet.
 */
export function fillShard(
  layout: ShardLayout,
  memory: WebAssembly.Memory,
  w: ModelWeights,
  rope: { cos: Float32Array; sin: Float32Array } | null,
  k: Packers,
  afterPart: () => void = () => {},
): void {
  const u8 = new Uint8Array(memory.buffer), f32 = new Float32Array(memory.buffer);
  const u32 = new Uint32Array(memory.buffer), stage = layout.io.x;
  if (rope) {
    f32.set(rope.cos, layout.cos / 4);
    f32.set(rope.sin, layout.sin / 4);
  }
  /** Rows [r, r + n) of m widened to f32 at byte offset `at`. */
  const widen = (m: Mat, r: number, n: number, at: number) => {
    for (let i = 0; i < n; i++) {
      const o = at / 4 + i * m.cols;
      loadRow(m, r + i, f32.subarray(o, o + m.cols), u32.subarray(o, o + m.cols));
    }
  };
  const putDense = (s: DenseSlice, m: Mat, bias: Float32Array | null) => {
    if (s.format === "bf16") {
      const d = (m.data as Uint16Array).subarray(s.r0 * s.cols, (s.r0 + s.rows) * s.cols);
      u8.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), s.w);
    } else if (s.format === "f32") widen(m, s.r0, s.rows, s.w);
    else packI8(s, m);
    if (bias) f32.set(bias.subarray(s.r0, s.r0 + s.rows), s.bias / 4);
  };
  // rows go through the staging area io.x in chunks of whole row groups (4 rows): bf16 as it is, the
  // other dtypes widened to f32
  const packI8 = (s: DenseSlice, m: Mat) => {
    const bf16 = m.dtype === "BF16", chunk = Math.floor(layout.io.xBytes / ((bf16 ? 2 : 4) * s.cols) / 4) * 4;
    if (chunk < 4) {
      throw new Error(`wasm backend: staging area too small for a row group of ${s.cols} columns`);
    }
    for (let r = 0; r < s.rows; r += chunk) {
      const n = Math.min(chunk, s.rows - r), dst = s.w + (r / 4) * i8wGroupBytes(s.cols), at = s.r0 + r;
      if (bf16) {
        const d = (m.data as Uint16Array).subarray(at * s.cols, (at + n) * s.cols);
        u8.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), stage);
        k.pack_i8w_bf16(stage, n, s.cols, dst);
      } else {
        widen(m, at, n, stage);
        k.pack_i8w_f32(stage, n, s.cols, dst);
      }
    }
  };
  const putNorm = (s: NormSlice, weight: Float32Array, bias: Float32Array | null) => {
    f32.set(weight, s.w / 4);
    if (s.b) f32.set(bias!, s.b / 4);
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
      const n = Math.min(chunk, s.rows - r), at = row0 + r, scales = stage + n * bpr;
      u8.set(m.blocks.subarray(at * bpr, (at + n) * bpr), stage);
      u8.set(m.scales.subarray(at * spr, (at + n) * spr), scales);
      k.pack_mxfp4_rows4(stage, scales, n, m.cols, dst + mxfp4Rows4Bytes(r, m.cols));
    }
  };
  const { h0, heads } = layout.heads;
  layout.layers.forEach((L, l) => {
    const W = w.layers[l], f = W.ffn, x = L.ffn;
    putNorm(L.attnNorm, W.attnNorm, W.attnNormBias);
    putDense(L.q, W.q, W.qBias);
    putDense(L.k, W.k, W.kBias);
    putDense(L.v, W.v, W.vBias);
    putDense(L.o, W.o, W.oBias);
    if (L.qNorm) (f32.set(W.qNorm!, L.qNorm / 4), f32.set(W.kNorm!, L.kNorm / 4));
    if (W.sinks) f32.set(W.sinks.subarray(h0, h0 + heads), L.sinks / 4);
    else f32.fill(-Infinity, L.sinks / 4, L.sinks / 4 + heads);
    putNorm(L.mlpNorm, W.mlpNorm, W.mlpNormBias);
    if (x.kind === "dense" && f.kind === "dense") {
      if (x.gate) putDense(x.gate, f.gate!, f.gateBias);
      putDense(x.up, f.up, f.upBias);
      putDense(x.down, f.down, f.downBias);
    } else if (x.kind !== "dense" && f.kind === "moe") {
      putDense(x.router, f.router, f.routerBias);
      if (x.kind === "mxfp4" && f.experts.format === "mxfp4") {
        putExperts(x.gateUp, f.experts.gateUp);
        putExperts(x.down, f.experts.down);
      } else if (x.kind === "float" && f.experts.format === "float") {
        const e = f.experts;
        x.gate.forEach((s, i) => putDense(s, e.gate[i], null));
        x.up.forEach((s, i) => putDense(s, e.up[i], null));
        x.down.forEach((s, i) => putDense(s, e.down[i], null));
      }
    }
    afterPart();
  });
  putDense(layout.unembed, w.unembed, null);
  afterPart();
}
