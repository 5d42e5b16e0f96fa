// weighted_row_sum (asm/weighted_row_sum.ts) against a scalar weighted sum, in the reference's order.

import { assert } from "../../assert.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("weighted_row_sum() sums the k rows of each token with its weights, in order", () => {
  const r = rng(16);
  for (const [tokens, k, n] of [[1, 2, 8], [3, 3, 64], [2, 4, 5]]) {
    const src = randomF32(tokens * k * n, r, 2), weights = randomF32(tokens * k, r);
    const want = new Float32Array(tokens * n);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < k; j++) {
        for (let i = 0; i < n; i++) want[t * n + i] += weights[t * k + j] * src[(t * k + j) * n + i];
      }
    }
    const h = new Harness(), kk = h.k;
    const out = h.put(randomF32(tokens * n, r)); // overwritten, not added to
    kk.weighted_row_sum(out, h.put(src), h.put(weights), tokens, k, n);
    assert(maxRelDiff(h.f32(out, tokens * n), want) < 1e-6);
  }
});
