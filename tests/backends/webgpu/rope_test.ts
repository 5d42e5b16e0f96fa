// shaders/rope.wgsl (ops.ts rope()) against the reference rope(): YaRN tables, rows at their own positions
// in their own KV slots, and without rotation (learned positions) a plain split and cache append.

import { assert, assertEquals } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { rope as refRope } from "../../../src/backends/ref/kernels.ts";
import { ropeTables } from "../../../src/model/rope.ts";
import { gptOssRope } from "../../rope_configs.ts";
import { rope } from "../../../src/backends/webgpu/ops.ts";
import { cosSinTable } from "../../../src/backends/webgpu/rope_table.ts";

Deno.test(
  "rope rotates q and k of fused rows and appends k, v to each row's slot at its position",
  withHarness(async (h) => {
    const r = rng(12);
    // [heads, kvHeads, dim, truncate, (position, slot) of each row]
    const cases: [number, number, number, boolean, [number, number][]][] = [
      [4, 2, 16, false, [[9, 0]]],
      [3, 1, 8, true, Array.from({ length: 6 }, (_, t): [number, number] => [t, 0])],
      [8, 8, 64, false, [[100, 0], [101, 0], [102, 0]]],
      [4, 2, 64, false, [[4000, 0]]], // a large angle
      [2, 1, 12, false, [[37, 2], [0, 0], [5, 1], [6, 1]]], // three sequences in three slots
    ];
    for (const [heads, kvHeads, dim, truncate, rows] of cases) {
      const tokens = rows.length, scaling = gptOssRope(dim, truncate), tables = ropeTables(scaling);
      const slots = 1 + Math.max(...rows.map(([, s]) => s)), ctx = 2 + Math.max(...rows.map(([p]) => p));
      const qw = heads * dim, kvw = kvHeads * dim, stride = qw + 2 * kvw;
      const qkv = randomF32(tokens * stride, r);
      const wantQ = new Float32Array(tokens * qw), wantK = new Float32Array(slots * ctx * kvw).fill(7);
      const wantV = new Float32Array(slots * ctx * kvw).fill(7);
      rows.forEach(([pos, slot], t) => {
        const at = (slot * ctx + pos) * kvw;
        wantQ.set(qkv.subarray(t * stride, t * stride + qw), t * qw);
        refRope(wantQ, t * qw, heads, dim, pos, tables);
        wantK.set(qkv.subarray(t * stride + qw, t * stride + qw + kvw), at);
        refRope(wantK, at, kvHeads, dim, pos, tables);
        wantV.set(qkv.subarray(t * stride + qw + kvw, (t + 1) * stride), at);
      });
      const q = h.put(tokens * qw * 4),
        k = h.put(new Float32Array(slots * ctx * kvw).fill(7)),
        v = h.put(new Float32Array(slots * ctx * kvw).fill(7));
      rope(h.rec, {
        qkv: h.put(qkv),
        q,
        kCache: k,
        vCache: v,
        cosSin: h.put(cosSinTable({ rope: scaling }, ctx)),
        rows: { buffer: h.put(Uint32Array.from(rows.flat())), ctx, maxPos: ctx - 2 },
        tokens,
        heads,
        kvHeads,
        headDim: dim,
      });
      const what = `(${heads}+${kvHeads})x${dim} rows ${JSON.stringify(rows)}`;
      assert(maxRelDiff(await h.f32(q, tokens * qw), wantQ) < 1e-5, `${what}: q`);
      assert(maxRelDiff(await h.f32(k, slots * ctx * kvw), wantK) < 1e-5, `${what}: k cache`);
      assertEquals(Array.from(await h.f32(v, slots * ctx * kvw)), Array.from(wantV), `${what}: v cache`);
    }
  }),
);

Deno.test(
  "rope without rotation copies q and appends k, v to the caches unchanged",
  withHarness(async (h) => {
    const r = rng(27);
    for (const [tokens, heads, dim, pos0] of [[1, 4, 16, 9], [6, 2, 64, 0]]) {
      const w = heads * dim, ctx = pos0 + tokens + 2;
      const qkv = randomF32(tokens * 3 * w, r);
      const q = h.put(tokens * w * 4), k = h.put(ctx * w * 4), v = h.put(ctx * w * 4);
      rope(h.rec, {
        qkv: h.put(qkv),
        q,
        kCache: k,
        vCache: v,
        cosSin: h.put(16),
        rows: {
          buffer: h.put(Uint32Array.from({ length: 2 * tokens }, (_, i) => i % 2 ? 0 : pos0 + i / 2)),
          ctx,
          maxPos: pos0 + tokens - 1,
        },
        tokens,
        heads,
        kvHeads: heads,
        headDim: dim,
        rope: false,
      });
      const wantQ = new Float32Array(tokens * w),
        wantK = new Float32Array(ctx * w),
        wantV = new Float32Array(ctx * w);
      for (let t = 0; t < tokens; t++) {
        wantQ.set(qkv.subarray(t * 3 * w, t * 3 * w + w), t * w);
        wantK.set(qkv.subarray(t * 3 * w + w, t * 3 * w + 2 * w), (pos0 + t) * w);
        wantV.set(qkv.subarray(t * 3 * w + 2 * w, (t + 1) * 3 * w), (pos0 + t) * w);
      }
      assertEquals(Array.from(await h.f32(q, tokens * w)), Array.from(wantQ), "q");
      assertEquals(Array.from(await h.f32(k, ctx * w)), Array.from(wantK), "k cache");
      assertEquals(Array.from(await h.f32(v, ctx * w)), Array.from(wantV), "v cache");
    }
  }),
);
