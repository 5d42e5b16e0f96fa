// moe_router (asm/moe_router.ts), both routing orders, against the reference routers: topk_softmax
// (gpt-oss) and softmax_topk (Qwen3-MoE, with and without norm_topk_prob), ties to the lower index.

import { assert, assertEquals } from "../../assert.ts";
import { moeRouterTopkSoftmax } from "../../../src/backends/ref/kernels.ts";
import { moeRouterSoftmaxTopk } from "../../../src/backends/ref/kernels_dense.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { rng } from "../../random.ts";

Deno.test("moe_router_topk_softmax() matches moeRouterTopkSoftmax(), ties going to the lower index", () => {
  const r = rng(6);
  for (const [n, k, tokens] of [[32, 4, 3], [8, 2, 5], [5, 5, 1]]) {
    const logits = Float32Array.from({ length: tokens * n }, () => Math.round(r() * 6) / 2); // many ties
    const h = new Harness();
    const sel = h.zeros(tokens * k * 4), w = h.zeros(tokens * k * 4);
    h.k.moe_router_topk_softmax(h.put(logits), tokens, n, k, sel, w);
    for (let t = 0; t < tokens; t++) {
      const want = moeRouterTopkSoftmax(logits.subarray(t * n, (t + 1) * n), k);
      assertEquals(Array.from(h.i32(sel + t * k * 4, k)), Array.from(want.experts));
      assert(maxRelDiff(h.f32(w + t * k * 4, k), want.weights) < 1e-6);
    }
  }
});

Deno.test("moe_router_softmax_topk() matches moeRouterSoftmaxTopk() with and without norm_topk_prob, ties to the lower index", () => {
  const r = rng(15);
  for (
    const [n, k, tokens, ties] of [[8, 3, 4, 0], [128, 8, 3, 0], [16, 4, 5, 1], [5, 5, 2, 1], [3, 1, 2, 0]]
  ) {
    const logits = Float32Array.from(
      { length: tokens * n },
      () => ties ? Math.round(r() * 6) / 2 : (r() * 2 - 1) * 4,
    );
    for (const norm of [true, false]) {
      const h = new Harness(), kk = h.k;
      const sel = h.zeros(tokens * k * 4), w = h.zeros(tokens * k * 4);
      kk.moe_router_softmax_topk(h.put(logits), tokens, n, k, norm ? 1 : 0, sel, w);
      for (let t = 0; t < tokens; t++) {
        const want = moeRouterSoftmaxTopk(logits.subarray(t * n, (t + 1) * n), k, norm);
        assertEquals(Array.from(h.i32(sel + t * k * 4, k)), Array.from(want.experts), `n ${n} token ${t}`);
        assert(maxRelDiff(h.f32(w + t * k * 4, k), want.weights) < 1e-6);
      }
      if (!norm && k < n) {
        const sum = h.f32(w, k).reduce((a, b) => a + b, 0);
        assert(sum < 1, "without norm_topk_prob the kept weights sum to less than 1");
      }
    }
  }
});
