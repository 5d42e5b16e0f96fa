// The WebGPU pass against the reference backend on other shapes of the GPT-2 / Qwen3 fixtures built in
// memory: Qwen3-MoE with norm_topk_prob false and with a dense-only layer, Qwen3 with a sliding-window layer,
// attention biases and an untied head, GPT-2 untied.

import { assert, assertEquals } from "../../assert.ts";
import { rowTopkArgmax } from "../../../src/backends/ref/kernels.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import { createWebGpuBackend } from "../../../src/backends/webgpu/create.ts";
import { maxAbsDiff } from "../../fixture_util.ts";
import { fixtureVariants } from "../dense_variants.ts";
import { forward1, greedy1 } from "../fixture_check.ts";
import { sharedGpu } from "./gpu_harness.ts";
import { randomF32, rng } from "../../random.ts";
import { randomMat } from "./random_model.ts";

const r = rng(41);

const variants = () => fixtureVariants(r, randomMat, randomF32);

Deno.test("WebGPU GPT-2/Qwen3 variants match the reference backend: prompt logits and 4 greedy steps", async () => {
  const gpu = await sharedGpu();
  const tokens = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % 300);
  for (const [what, model] of variants()) {
    const ref = new RefBackend(model.config, model.plan, model.weights, { maxContext: 32 });
    const gb = await createWebGpuBackend(model, { maxContext: 32, slots: 1, gpu, maxTokens: 8 });
    try {
      const want = await forward1(ref, tokens, 0, "all");
      const got = await forward1(gb, tokens, 0, "all");
      const d = maxAbsDiff(got, Array.from(want));
      assert(d < 2e-3, `${what}: prompt logits differ by ${d}`);
      let a = rowTopkArgmax(want, tokens.length - 1, model.config.vocabSize);
      for (let i = 0; i < 4; i++) {
        const next = rowTopkArgmax(await forward1(ref, [a], tokens.length + i, "last"));
        assertEquals(await greedy1(gb, [a], tokens.length + i), next, `${what}: step ${i}`);
        a = next;
      }
    } finally {
      ref.dispose();
      gb.dispose();
    }
  }
});
