// shaders/row_topk.wgsl (ops.ts rowTopkArgmax(), rowTopk()) against the reference rowTopkArgmax() and
// rowTopk(): ties, rows shorter than a workgroup, the NONFINITE flag of rows holding NaN or infinity.

import { assertEquals } from "../../assert.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import {
  rowTopk as refRowTopk,
  rowTopkArgmax as refRowTopkArgmax,
} from "../../../src/backends/ref/kernels.ts";
import { rowTopk, rowTopkArgmax } from "../../../src/backends/webgpu/ops.ts";

/** Bit 31 of a picked index: the row holds a NaN or infinite logit. */
const NONFINITE = 0x80000000;

Deno.test(
  "row_topk argmax picks the largest (lowest index on ties) per row, and flags rows holding NaN or infinity",
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
      rowTopkArgmax(h.rec, h.put(l), out, rows, n);
      const got = Array.from(await h.u32(out, rows));
      assertEquals(got.slice(0, 2), [0, 1].map((t) => refRowTopkArgmax(l, t, n)), `n ${n}`);
      assertEquals(got.slice(2).map((id) => (id & NONFINITE) !== 0), [true, true, true], `n ${n} flags`);
      assertEquals(got[4] & ~NONFINITE, 1, `n ${n}: +inf is still the largest`);
    }
  }),
);

Deno.test(
  "row_topk main returns the k largest (value desc, index asc), ties included, flagging a row with -inf",
  withHarness(async (h) => {
    const r = rng(6);
    for (const [n, k] of [[5, 5], [5, 1], [300, 17], [1000, 64], [3000, 3]]) {
      const rows = 2;
      const l = randomF32(rows * n, r).map((v) => Math.round(v * 8) / 8); // many ties
      l[n + 1] = -Infinity;
      const ids = h.put(rows * k * 4), vals = h.put(rows * k * 4);
      rowTopk(h.rec, h.put(l), ids, vals, rows, n, k);
      const gotIds = await h.u32(ids, rows * k), gotVals = await h.f32(vals, rows * k);
      for (let t = 0; t < rows; t++) {
        const row = l.subarray(t * n, (t + 1) * n);
        const want = refRowTopk(row, k);
        // row 1 holds -inf: its first id carries the NONFINITE bit, the others are plain
        const flagged = want.map((id, j) => t === 1 && j === 0 ? (id | NONFINITE) >>> 0 : id);
        assertEquals(Array.from(gotIds.subarray(t * k, (t + 1) * k)), flagged, `n ${n} k ${k} row ${t}`);
        assertEquals(Array.from(gotVals.subarray(t * k, (t + 1) * k)), want.map((i) => row[i]));
      }
    }
  }),
);
