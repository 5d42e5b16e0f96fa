// shaders/rmsnorm.wgsl (ops.ts rmsnorm()) against the reference rmsnorm(): widths around the workgroup size,
// a row offset, and add_main (the residual add fused).

import { assert, assertEquals } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { rmsnorm as refRmsnorm } from "../../../src/backends/ref/kernels.ts";
import { rmsnorm } from "../../../src/backends/webgpu/ops.ts";

Deno.test(
  "rmsnorm matches the reference for widths around the workgroup size, with a row offset",
  withHarness(async (h) => {
    const r = rng(1);
    for (const [tokens, n] of [[1, 64], [3, 2880 / 10], [4, 30], [2, 130]]) {
      const x = randomF32((tokens + 1) * n, r, 3), w = randomF32(n, r);
      const want = new Float32Array(tokens * n);
      refRmsnorm(want, x.subarray(n), w, 1e-5, tokens, n);
      const y = h.put(tokens * n * 4);
      rmsnorm(h.rec, {
        x: h.put(x),
        row0: 1,
        w: { kind: "rmsnorm", w: h.put(w), b: null },
        y,
        tokens,
        n,
        eps: 1e-5,
      });
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
      rmsnorm(h.rec, {
        x: xb,
        residual: h.put(res),
        w: { kind: "rmsnorm", w: h.put(w), b: null },
        y,
        tokens,
        n,
        eps: 1e-5,
      });
      assert(maxRelDiff(await h.f32(y, tokens * n), want) < 1e-5, `add_main ${tokens}x${n}: norm differs`);
      assertEquals(
        Array.from(await h.f32(xb, tokens * n)),
        Array.from(sum),
        `add_main ${tokens}x${n}: residual`,
      );
    }
  }),
);
