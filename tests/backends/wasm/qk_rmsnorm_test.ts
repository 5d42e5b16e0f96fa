// qk_rmsnorm (asm/qk_rmsnorm.ts) against the reference qkRmsnorm(): per head, in place, several heads and
// tokens, odd head_dim.

import { assert } from "../../assert.ts";
import { qkRmsnorm } from "../../../src/backends/ref/kernels_dense.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("qk_rmsnorm() matches qkRmsnorm() per head, in place: several heads and tokens, odd head_dim", () => {
  const r = rng(14);
  for (const [rows, heads, dim] of [[1, 4, 32], [5, 2, 16], [3, 3, 7], [2, 8, 128], [1, 1, 2]]) {
    const x = randomF32(rows * heads * dim, r, 4), w = randomF32(dim, r);
    const want = x.slice();
    qkRmsnorm(want, w, 1e-6, rows, heads, dim);
    const h = new Harness(), k = h.k;
    const at = h.put(x);
    k.qk_rmsnorm(at, h.put(w), 1e-6, rows, heads, dim);
    const d = maxRelDiff(h.f32(at, x.length), want);
    assert(d < 2e-6, `qk_rmsnorm ${rows}x${heads}x${dim} differs by ${d}`);
  }
});
