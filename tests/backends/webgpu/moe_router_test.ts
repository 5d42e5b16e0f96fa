// shaders/moe_router.wgsl (ops_moe.ts moeRouter()) against the reference routers: softmax_topk (normalised or
// not) and ties to the lower expert. The topk_softmax order runs in every f32_mxfp4w_moe_test.ts case.

import { assert, assertEquals } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { moeRouterSoftmaxTopk } from "../../../src/backends/ref/kernels_dense.ts";
import { moeRouter } from "../../../src/backends/webgpu/ops_moe.ts";

Deno.test(
  "moe_router softmax_topk picks the experts of moeRouterSoftmaxTopk() (ties: lower index) with its weights, normalised or not",
  withHarness(async (h) => {
    const r = rng(25);
    for (const [tokens, experts, k] of [[1, 8, 2], [5, 128, 8], [70, 60, 4], [3, 4, 4]]) {
      for (const norm of [true, false]) {
        const logits = randomF32(tokens * experts, r, 4);
        logits[1] = logits[2]; // a tie
        const sel = h.put(tokens * k * 4), selW = h.put(tokens * k * 4);
        moeRouter(h.rec, {
          routing: "softmax_topk",
          normalize: norm,
          logits: h.put(logits),
          sel,
          selW,
          tokens,
          experts,
          k,
        });
        const gotSel = await h.u32(sel, tokens * k), gotW = await h.f32(selW, tokens * k);
        const wantSel: number[] = [], wantW: number[] = [];
        for (let t = 0; t < tokens; t++) {
          const s = moeRouterSoftmaxTopk(logits.subarray(t * experts, (t + 1) * experts), k, norm);
          wantSel.push(...s.experts);
          wantW.push(...s.weights);
        }
        const what = `${tokens}x${experts} top-${k} norm=${norm}`;
        assertEquals(Array.from(gotSel), wantSel, `${what}: experts`);
        assert(maxRelDiff(gotW, wantW) < 1e-5, `${what}: weights differ by ${maxRelDiff(gotW, wantW)}`);
      }
    }
  }),
);
