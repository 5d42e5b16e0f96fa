// shaders/gelu_tanh.wgsl (ops_ffn.ts geluTanh()) against the reference geluTanh(): large and tiny inputs,
// a partial workgroup.

import { assert } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { geluTanh as refGelu } from "../../../src/backends/ref/kernels_dense.ts";
import { geluTanh } from "../../../src/backends/webgpu/ops_ffn.ts";

Deno.test(
  "gelu_tanh matches geluTanh() including large and tiny inputs and a partial workgroup",
  withHarness(async (h) => {
    const r = rng(22);
    for (const n of [64, 1, 1000]) {
      const x = randomF32(n, r, 6);
      if (n > 10) x.set([0, -0, 30, -30, 1e-4, -1e-4, 100, -100, 3.5, -3.5]);
      const want = x.slice();
      refGelu(want);
      const b = h.put(x);
      geluTanh(h.rec, b, n);
      const d = maxRelDiff(await h.f32(b, n), want);
      assert(d < 1e-6, `gelu_tanh n=${n}: differs by ${d}`);
    }
  }),
);
