// swiglu (asm/swiglu.ts) against the reference swiglu(): silu(gate) * up, partial tails, saturated gates.

import { assert } from "../../assert.ts";
import { swiglu } from "../../../src/backends/ref/kernels_dense.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("swiglu() matches swiglu(): silu(gate) * up with a partial tail, saturated gates too", () => {
  const r = rng(13);
  for (const n of [8, 37, 1, 160]) {
    const gate = randomF32(n, r, 15), up = randomF32(n, r, 3);
    gate[0] = n > 1 ? 100 : -100;
    const want = new Float32Array(n);
    swiglu(want, gate, up, n);
    const h = new Harness(), k = h.k;
    const out = h.zeros(n * 4);
    k.swiglu(out, h.put(gate), h.put(up), n);
    const d = maxRelDiff(h.f32(out, n), want);
    assert(d < 2e-6, `swiglu ${n} differs by ${d}`);
  }
});
