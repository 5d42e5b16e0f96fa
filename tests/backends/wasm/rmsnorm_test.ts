// rmsnorm (asm/rmsnorm.ts) against the reference rmsnorm(): one and several tokens.

import { assert } from "../../assert.ts";
import { rmsnorm } from "../../../src/backends/ref/kernels.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("rmsnorm() matches the reference on one and several tokens", () => {
  for (const [tokens, n, seed] of [[1, 64, 1], [5, 2880, 2], [3, 4, 3]]) {
    const r = rng(seed);
    const x = randomF32(tokens * n, r, 3), w = randomF32(n, r);
    const want = new Float32Array(tokens * n);
    rmsnorm(want, x, w, 1e-5, tokens, n);
    const h = new Harness(1024);
    const y = h.zeros(x.byteLength);
    h.k.rmsnorm(y, h.put(x), h.put(w), 1e-5, tokens, n);
    assert(maxRelDiff(h.f32(y, tokens * n), want) < 1e-5);
  }
});
