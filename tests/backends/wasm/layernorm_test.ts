// layernorm (asm/layernorm.ts) against the reference layernorm(): exact-fit widths, partial tails, several
// tokens, random shapes, an offset mean.

import { assert } from "../../assert.ts";
import { layernorm } from "../../../src/backends/ref/kernels_dense.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("layernorm() matches the reference layernorm(): exact fit, tails, several tokens, an offset mean", () => {
  const r = rng(11);
  for (
    const [tokens, n] of [[1, 64], [3, 768], [5, 7], [2, 1], [4, 13], [
      1 + Math.floor(r() * 6),
      1 + Math.floor(r() * 300),
    ]]
  ) {
    const x = randomF32(tokens * n, r, 3).map((v) => v + 5), w = randomF32(n, r), b = randomF32(n, r);
    const want = new Float32Array(tokens * n);
    layernorm(want, x, w, b, 1e-5, tokens, n);
    const h = new Harness(), k = h.k;
    const y = h.zeros(x.byteLength);
    k.layernorm(y, h.put(x), h.put(w), h.put(b), 1e-5, tokens, n);
    const d = maxRelDiff(h.f32(y, tokens * n), want);
    assert(d < 2e-5, `layernorm ${tokens}x${n} differs by ${d}`);
  }
});
