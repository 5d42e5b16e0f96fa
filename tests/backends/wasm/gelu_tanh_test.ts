// gelu_tanh (asm/gelu_tanh.ts) against the reference geluTanh(): saturated and tiny inputs, partial tails.

import { assert } from "../../assert.ts";
import { geluTanh } from "../../../src/backends/ref/kernels_dense.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("gelu_tanh() matches geluTanh() from -12 to 12, with a partial tail", () => {
  const r = rng(12);
  for (const n of [4, 1003, 3, 256]) {
    const x = randomF32(n, r, 12);
    if (n > 10) x.set([0, -0, 1e-8, -1e-8, 30, -30, 88, -88, 200, -200]);
    const want = x.slice();
    geluTanh(want);
    const h = new Harness(), k = h.k;
    const at = h.put(x);
    k.gelu_tanh(at, n);
    const d = maxRelDiff(h.f32(at, n), want);
    assert(d < 2e-6, `gelu ${n} differs by ${d}`);
  }
});
