// shaders/layernorm.wgsl (ops.ts layernorm()) against the reference layernorm(): bias, population variance,
// widths around the workgroup size, a row offset, and add_main (the residual add fused).

import { assert, assertEquals } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { layernorm as refLayernorm } from "../../../src/backends/ref/kernels_dense.ts";
import { layernorm } from "../../../src/backends/webgpu/ops.ts";

Deno.test(
  "layernorm matches layernorm() (bias, population variance) around the workgroup size, with a row offset",
  withHarness(async (h) => {
    const r = rng(21);
    for (const [tokens, n] of [[1, 64], [3, 30], [5, 130], [2, 768]]) {
      // a large common offset: a one-pass variance would lose it
      const x = randomF32((tokens + 1) * n, r, 3).map((v) => v + 50);
      const w = randomF32(n, r), b = randomF32(n, r);
      const want = new Float32Array(tokens * n);
      refLayernorm(want, x.subarray(n), w, b, 1e-5, tokens, n);
      const y = h.put(tokens * n * 4);
      layernorm(h.rec, {
        x: h.put(x),
        row0: 1,
        w: { kind: "layernorm", w: h.put(w), b: h.put(b) },
        y,
        tokens,
        n,
        eps: 1e-5,
      });
      const d = maxRelDiff(await h.f32(y, tokens * n), want);
      assert(d < 2e-5, `layernorm ${tokens}x${n}: differs by ${d}`);
    }
  }),
);

Deno.test(
  "layernorm add_main adds the residual in place, then normalises like layernorm()",
  withHarness(async (h) => {
    const r = rng(28);
    for (const [tokens, n] of [[1, 64], [5, 96], [2, 200]]) {
      const x = randomF32(tokens * n, r, 3), res = randomF32(tokens * n, r), w = randomF32(n, r);
      const b = randomF32(n, r), sum = x.map((v, i) => v + res[i]);
      const want = new Float32Array(tokens * n);
      refLayernorm(want, sum, w, b, 1e-5, tokens, n);
      const xb = h.put(x), y = h.put(tokens * n * 4);
      layernorm(h.rec, {
        x: xb,
        residual: h.put(res),
        w: { kind: "layernorm", w: h.put(w), b: h.put(b) },
        y,
        tokens,
        n,
        eps: 1e-5,
      });
      const d = maxRelDiff(await h.f32(y, tokens * n), want);
      assert(d < 2e-5, `add_main ${tokens}x${n}: norm differs by ${d}`);
      assertEquals(
        Array.from(await h.f32(xb, tokens * n)),
        Array.from(sum),
        `add_main ${tokens}x${n}: residual`,
      );
    }
  }),
);
