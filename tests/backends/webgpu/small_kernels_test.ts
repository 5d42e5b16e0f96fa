// The small WGSL kernels against the scalar reference: rmsnorm, rope_yarn (YaRN tables), embedding_gather
// (all dtypes, split parts), add_inplace, argmax (ties, rows shorter than a workgroup).

import { assert, assertEquals } from "../../assert.ts";
import {
  argmax as refArgmax,
  rmsnorm as refRmsnorm,
  rope as refRope,
} from "../../../src/backends/ref/kernels.ts";
import { loadRow } from "../../../src/model/dtypes.ts";
import { ropeTables } from "../../../src/model/rope.ts";
import { gptOssRope } from "../../rope_configs.ts";
import { stackRows, WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import {
  addInplace,
  addRmsnorm,
  argmax,
  embed,
  rmsnorm,
  rope,
  ropeQkv,
  topk,
} from "../../../src/backends/webgpu/ops.ts";
import { cosSinTable } from "../../../src/backends/webgpu/webgpu_backend.ts";
import { withHarness } from "./gpu_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { randomMat } from "./random_model.ts";

Deno.test(
  "rmsnorm matches the reference for widths around the workgroup size, with a row offset",
  withHarness(async (h) => {
    const r = rng(1);
    for (const [tokens, n] of [[1, 64], [3, 2880 / 10], [4, 30], [2, 130]]) {
      const x = randomF32((tokens + 1) * n, r, 3), w = randomF32(n, r);
      const want = new Float32Array(tokens * n);
      refRmsnorm(want, x.subarray(n), w, 1e-5, tokens, n);
      const y = h.put(tokens * n * 4);
      rmsnorm(h.rec, h.put(x), n, h.put(w), y, tokens, n, 1e-5);
      const d = maxRelDiff(await h.f32(y, tokens * n), want);
      assert(d < 1e-5, `rmsnorm ${tokens}x${n}: differs by ${d}`);
    }
  }),
);

Deno.test(
  "rmsnorm add_main adds the residual in place, then normalises like the reference",
  withHarness(async (h) => {
    const r = rng(11);
    for (const [tokens, n] of [[1, 64], [5, 96], [2, 200]]) {
      const x = randomF32(tokens * n, r, 3), res = randomF32(tokens * n, r), w = randomF32(n, r);
      const sum = x.map((v, i) => v + res[i]);
      const want = new Float32Array(tokens * n);
      refRmsnorm(want, sum, w, 1e-5, tokens, n);
      const xb = h.put(x), y = h.put(tokens * n * 4);
      addRmsnorm(h.rec, xb, h.put(res), h.put(w), y, tokens, n, 1e-5);
      assert(maxRelDiff(await h.f32(y, tokens * n), want) < 1e-5, `add_main ${tokens}x${n}: norm differs`);
      assertEquals(
        Array.from(await h.f32(xb, tokens * n)),
        Array.from(sum),
        `add_main ${tokens}x${n}: residual`,
      );
    }
  }),
);

Deno.test(
  "rope_yarn matches rope() with YaRN tables, in place at an offset and stride",
  withHarness(async (h) => {
    const r = rng(2);
    for (
      const [tokens, heads, dim, pos0, truncate] of [[1, 4, 64, 4000, false], [5, 3, 16, 0, true], [
        3,
        2,
        12,
        37,
        false,
      ]] as const
    ) {
      const config = {
        rope: gptOssRope(dim, truncate),
      };
      const tables = ropeTables(config.rope);
      const stride = heads * dim + 3, off = 5;
      const x = randomF32(off + tokens * stride, r);
      const want = x.slice();
      for (let t = 0; t < tokens; t++) refRope(want, off + t * stride, heads, dim, pos0 + t, tables);
      const b = h.put(x);
      const cs = cosSinTable(config, pos0 + tokens);
      rope(h.rec, b, off, stride, tokens, heads, dim, pos0, h.put(cs));
      const d = maxRelDiff(await h.f32(b, x.length), want);
      assert(d < 1e-5, `rope ${tokens}x${heads}x${dim}@${pos0}: differs by ${d}`);
    }
  }),
);

Deno.test(
  "rope_yarn qkv_main rotates q and k of fused rows and appends k, v to the caches at pos0",
  withHarness(async (h) => {
    const r = rng(12);
    for (
      const [tokens, heads, kvHeads, dim, pos0] of [[1, 4, 2, 16, 9], [6, 3, 1, 8, 0], [3, 8, 8, 64, 100]]
    ) {
      const rope = gptOssRope(dim);
      const tables = ropeTables(rope);
      const qw = heads * dim, kvw = kvHeads * dim, stride = qw + 2 * kvw, ctx = pos0 + tokens + 2;
      const qkv = randomF32(tokens * stride, r);
      const wantQ = new Float32Array(tokens * qw), wantK = new Float32Array(ctx * kvw).fill(7);
      const wantV = new Float32Array(ctx * kvw).fill(7);
      for (let t = 0; t < tokens; t++) {
        wantQ.set(qkv.subarray(t * stride, t * stride + qw), t * qw);
        refRope(wantQ, t * qw, heads, dim, pos0 + t, tables);
        wantK.set(qkv.subarray(t * stride + qw, t * stride + qw + kvw), (pos0 + t) * kvw);
        refRope(wantK, (pos0 + t) * kvw, kvHeads, dim, pos0 + t, tables);
        wantV.set(qkv.subarray(t * stride + qw + kvw, (t + 1) * stride), (pos0 + t) * kvw);
      }
      const q = h.put(tokens * qw * 4),
        k = h.put(new Float32Array(ctx * kvw).fill(7)),
        v = h.put(new Float32Array(ctx * kvw).fill(7));
      const cs = cosSinTable({ rope }, ctx);
      ropeQkv(h.rec, {
        qkv: h.put(qkv),
        q,
        kCache: k,
        vCache: v,
        cosSin: h.put(cs),
        tokens,
        heads,
        kvHeads,
        headDim: dim,
        pos0,
      });
      const what = `${tokens}x(${heads}+${kvHeads})x${dim}@${pos0}`;
      assert(maxRelDiff(await h.f32(q, tokens * qw), wantQ) < 1e-5, `${what}: q`);
      assert(maxRelDiff(await h.f32(k, ctx * kvw), wantK) < 1e-5, `${what}: k cache`);
      assertEquals(Array.from(await h.f32(v, ctx * kvw)), Array.from(wantV), `${what}: v cache`);
    }
  }),
);

Deno.test("stackRows() keeps raw words for one dtype and widens mixed dtypes exactly", () => {
  const r = rng(13);
  const a = randomMat(r, 3, 4, "BF16"), b = randomMat(r, 2, 4, "BF16"), c = randomMat(r, 2, 4, "F16");
  const same = stackRows([a, b]);
  assertEquals([same.dtype, same.rows, Array.from(same.data)], ["BF16", 5, [...a.data, ...b.data]]);
  const mixed = stackRows([a, c]);
  const row = new Float32Array(4), bits = new Uint32Array(row.buffer);
  assertEquals(mixed.dtype, "F32");
  for (let i = 0; i < 5; i++) {
    loadRow(i < 3 ? a : c, i < 3 ? i : i - 3, row, bits);
    assertEquals(Array.from(mixed.data.subarray(i * 4, i * 4 + 4)), Array.from(row));
  }
});

Deno.test(
  "embedding_gather matches loadRow() for bf16, f16 and f32 tables, whole and split",
  withHarness(async (h) => {
    const r = rng(3);
    for (const dtype of ["BF16", "F16", "F32"] as const) {
      for (const maxBinding of [1 << 20, 40 * 4 * 3]) {
        const m = randomMat(r, 23, 40, dtype);
        const ids = [0, 22, 7, 7, 13];
        const want = new Float32Array(ids.length * 40);
        ids.forEach((id, t) =>
          loadRow(m, id, want.subarray(t * 40), new Uint32Array(want.buffer, t * 160, 40))
        );
        const up = new WeightUploader(h.gpu.device, maxBinding);
        const y = h.put(want.length * 4);
        embed(h.rec, h.put(Uint32Array.from(ids)), up.mat(m, "embed"), y, ids.length);
        assertEquals(
          Array.from(await h.f32(y, want.length)),
          Array.from(want),
          `${dtype} split ${maxBinding}`,
        );
        up.destroy();
      }
    }
  }),
);

Deno.test(
  "add_inplace adds exactly, including past one workgroup",
  withHarness(async (h) => {
    const r = rng(4);
    const x = randomF32(1000, r), y = randomF32(1000, r);
    const b = h.put(y);
    addInplace(h.rec, h.put(x), b, 999);
    const got = await h.f32(b, 1000);
    assertEquals(Array.from(got.subarray(0, 999)), Array.from(y.subarray(0, 999).map((v, i) => v + x[i])));
    assertEquals(got[999], y[999]);
  }),
);

/** Bit 31 of a picked index: the row holds a NaN or infinite logit. */
const NONFINITE = 0x80000000;

Deno.test(
  "argmax picks the largest (lowest index on ties) per row, and flags rows holding NaN or infinity",
  withHarness(async (h) => {
    const r = rng(5);
    for (const n of [5, 64, 1000]) {
      const rows = 5;
      const l = randomF32(rows * n, r);
      l[n + n - 1] = 5, l[n + 2] = 5; // row 1: a tie, the lower index wins
      l.fill(-Infinity, 2 * n, 3 * n); // row 2: all -inf
      l[3 * n + n - 1] = NaN; // row 3: one NaN, at the end
      l[4 * n + 1] = Infinity; // row 4: one +inf
      const out = h.put(rows * 4);
      argmax(h.rec, h.put(l), out, rows, n);
      const got = Array.from(await h.u32(out, rows));
      assertEquals(got.slice(0, 2), [0, 1].map((t) => refArgmax(l, t, n)), `n ${n}`);
      assertEquals(got.slice(2).map((id) => (id & NONFINITE) !== 0), [true, true, true], `n ${n} flags`);
      assertEquals(got[4] & ~NONFINITE, 1, `n ${n}: +inf is still the largest`);
    }
  }),
);

Deno.test(
  "argmax topk_main returns the k largest (value desc, index asc), ties included, flagging a row with -inf",
  withHarness(async (h) => {
    const r = rng(6);
    for (const [n, k] of [[5, 5], [5, 1], [300, 17], [1000, 64], [3000, 3]]) {
      const rows = 2;
      const l = randomF32(rows * n, r).map((v) => Math.round(v * 8) / 8); // many ties
      l[n + 1] = -Infinity;
      const ids = h.put(rows * k * 4), vals = h.put(rows * k * 4);
      topk(h.rec, h.put(l), ids, vals, rows, n, k);
      const gotIds = await h.u32(ids, rows * k), gotVals = await h.f32(vals, rows * k);
      for (let t = 0; t < rows; t++) {
        const row = l.subarray(t * n, (t + 1) * n);
        const want = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
        // row 1 holds -inf: its first id carries the NONFINITE bit, the others are plain
        const flagged = want.map((id, j) => t === 1 && j === 0 ? (id | NONFINITE) >>> 0 : id);
        assertEquals(Array.from(gotIds.subarray(t * k, (t + 1) * k)), flagged, `n ${n} k ${k} row ${t}`);
        assertEquals(Array.from(gotVals.subarray(t * k, (t + 1) * k)), want.map((i) => row[i]));
      }
    }
  }),
);
