// The WebGPU pass on GPT-2, Qwen3, Qwen3-MoE and Llama against the independent float64 references of the
// gpt2-tiny, qwen3-tiny, qwen3-moe-tiny and llama-tiny fixtures (prompt logits, debug values, experts chosen,
// greedy decoding over the KV cache, chunked prefill), plus chunking, weight splitting and the greedy/topk
// paths (gpt-oss-tiny: webgpu_backend_test.ts).

import { assert, assertEquals } from "../../assert.ts";
import { rowTopkArgmax } from "../../../src/backends/ref/kernels.ts";
import { createWebGpuBackend, type WebGpuCreateOptions } from "../../../src/backends/webgpu/create.ts";
import { type LoadedModel, loadModel } from "../../../src/model/load.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";
import { checkAgainstReference, forward1, greedy1, topk1 } from "../fixture_check.ts";
import { sharedGpu } from "./gpu_harness.ts";

const QWEN3_DEBUG = {
  q_after_qk_norm_and_rope: "q_after_qk_norm_and_rope",
  k_after_qk_norm_and_rope: "k_after_qk_norm_and_rope",
  residual_after_attention: "residual_after_attention",
  residual_after_mlp: "residual_after_mlp",
};
const FIXTURE_DEBUG: Record<string, [Record<string, string>, Record<string, string>]> = {
  "gpt2-tiny": [{
    residual_after_attention: "residual_after_attention",
    residual_after_mlp: "residual_after_mlp",
  }, {}],
  "qwen3-tiny": [QWEN3_DEBUG, {}],
  "qwen3-moe-tiny": [
    { ...QWEN3_DEBUG, router_logits: "router_logits", expert_weights: "expert_weights" },
    { experts_selected: "router_topk" },
  ],
  "llama-tiny": [{
    q_after_rope: "q_after_rope",
    k_after_rope: "k_after_rope",
    residual_after_attention: "residual_after_attention",
    residual_after_mlp: "residual_after_mlp",
  }, {}],
};

/** `n` backends built up front (checkAgainstReference's factory is synchronous). */
async function backends(model: LoadedModel, n: number, opts: Partial<WebGpuCreateOptions> = {}) {
  const gpu = await sharedGpu();
  const made = [];
  for (let i = 0; i < n; i++) {
    made.push(await createWebGpuBackend(model, { maxContext: 64, slots: 1, gpu, ...opts }));
  }
  return made;
}

for (const [fixture, [debug, exact]] of Object.entries(FIXTURE_DEBUG)) {
  const model = loadModel(`${FIXTURES}/${fixture}`);

  Deno.test(`WebGPU ${fixture}: prompt logits, debug values, greedy and step logits, chunked prefill`, async () => {
    const made = await backends(model, 3);
    let i = 0;
    try {
      const worst = await checkAgainstReference(fixture, () => made[i++], debug, exact);
      assert(worst <= readReference(fixture).recommended_tolerance.logits_max_abs_diff);
    } finally {
      for (const b of made) b.dispose();
    }
  });

  // every weight matrix and the experts split into parts of at most 16 KiB; prompts in 5-token chunks
  Deno.test(`WebGPU ${fixture}, weights split in parts, 5-token chunks: reference logits; greedy(), topk(); rollback`, async () => {
    const [b] = await backends(model, 1, { maxTokens: 5, maxBindingBytes: 16384 });
    try {
      const ref = readReference(fixture), toks = ref.prompt_token_ids, V = model.config.vocabSize;
      const all = await forward1(b, toks, 0, "all");
      const d = maxAbsDiff(all, ref.prompt_logits);
      assert(d <= ref.recommended_tolerance.logits_max_abs_diff, `chunked prompt logits differ by ${d}`);
      const logits = all.slice((toks.length - 1) * V);
      assertEquals(await greedy1(b, toks, 0), rowTopkArgmax(logits));
      const top = await topk1(b, toks, 0, 5);
      const order = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x] || x - y).slice(0, 5);
      assertEquals(Array.from(top.ids), order);
      assert(maxAbsDiff(top.logits, order.map((t) => logits[t])) === 0, "topk values");
      // overwrite positions 4.. with other tokens, then roll back to the prompt: same logits as before
      await forward1(b, [1, 2, 3], 4, "none");
      const again = await forward1(b, toks.slice(4), 4, "last");
      assert(maxAbsDiff(again, Array.from(logits)) < 1e-5, "rollback");
    } finally {
      b.dispose();
    }
  });
}
