// Fills a shard's memory at load: copies its row-slices out of the (mapped) checkpoint, packing them for
// the fast path's int8 kernels where its layout says so (see shard_layout.ts).

import { OssiError } from "../../errors.ts";
import type { Mat } from "../../model/dtypes.ts";
import type { GptOssWeights } from "../legacy_views.ts";
import type { Mxfp4Experts } from "../../model/mxfp4.ts";
import type { Kernels } from "./kernels.ts";
import {
  type DenseSlice,
  type ExpertSlice,
  i8wGroupBytes,
  mxfp4Rows4Bytes,
  type ShardLayout,
} from "./shard_layout.ts";

function bf16Data(m: Mat, what: string): Uint16Array {
  if (m.dtype !== "BF16") {
    throw new OssiError(
      `wasm backend: ${what} is ${m.dtype}; it supports BF16 matrices only (try --backend ref)`,
    );
  }
  return m.data as Uint16Array;
}

/**
 * Copies this shard's slices out of the (mapped) weights into its memory, with the norms, its heads' sinks
 * and the rope tables; reports bytes copied and each layer done. Packed slices are packed by the kernels
 * `k` (instantiated over this memory) from rows staged in io.x, which holds no activations yet.
 */
export function fillShard(
  layout: ShardLayout,
  memory: WebAssembly.Memory,
  w: GptOssWeights,
  rope: { cos: Float32Array; sin: Float32Array },
  k: Pick<Kernels, "pack_i8w_bf16" | "pack_mxfp4_rows4">,
  onBytes: (bytes: number) => void,
  afterLayer: () => void = () => {},
): void {
  const u8 = new Uint8Array(memory.buffer), f32 = new Float32Array(memory.buffer);
  f32.set(rope.cos, layout.cos / 4);
  f32.set(rope.sin, layout.sin / 4);
  const { h0, heads } = layout.heads;
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
    f32.set(W.attnNorm, L.attnNorm / 4);
    f32.set(W.mlpNorm, L.mlpNorm / 4);
    f32.set(W.sinks.subarray(h0, h0 + heads), L.sinks / 4);
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
