// shaders/swiglu.wgsl (ops_ffn.ts swiglu()) against the reference swiglu() on fused [gate | up] rows.

import { assert } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { swiglu as refSwiglu } from "../../../src/backends/ref/kernels_dense.ts";
import { swiglu } from "../../../src/backends/webgpu/ops_ffn.ts";

Deno.test(
  "swiglu matches swiglu() on fused [gate | up] rows, with large negative gates",
  withHarness(async (h) => {
    const r = rng(24);
    for (const [tokens, n] of [[1, 64], [3, 100], [7, 33]]) {
      const x = randomF32(tokens * 2 * n, r, 8);
      x[0] = -200;
      const gate = new Float32Array(tokens * n), up = new Float32Array(tokens * n);
      for (let t = 0; t < tokens; t++) {
        gate.set(x.subarray(t * 2 * n, t * 2 * n + n), t * n);
        up.set(x.subarray(t * 2 * n + n, (t + 1) * 2 * n), t * n);
      }
      const want = new Float32Array(tokens * n);
      refSwiglu(want, gate, up, tokens * n);
      const y = h.put(tokens * n * 4);
      swiglu(h.rec, h.put(x), y, tokens, n);
      const d = maxRelDiff(await h.f32(y, tokens * n), want);
      assert(d < 1e-5, `swiglu ${tokens}x${n}: differs by ${d}`);
    }
  }),
);
