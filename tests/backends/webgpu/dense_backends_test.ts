// The WebGPU backends of GPT-2, Qwen3 and Qwen3-MoE against the independent float64 references of the
// gpt2-tiny, qwen3-tiny and qwen3-moe-tiny fixtures (prompt logits, debug values, experts chosen, greedy
// decoding over the KV cache, chunked prefill), plus chunking, weight splitting and the greedy/topk paths.

import { assert, assertEquals } from "../../assert.ts";
import { argmax } from "../../../src/backends/ref/kernels.ts";
import { createArchWebGpuBackend } from "../../../src/backends/webgpu/arch_backend.ts";
import type { DenseGpuOptions } from "../../../src/backends/webgpu/dense_gpu_backend.ts";
import { loadAnyModel, type LoadedGpt2, type LoadedQwen3 } from "../../../src/model/load_any.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";
import { checkAgainstReference } from "../fixture_check.ts";
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
};

/** `n` backends built up front (checkAgainstReference's factory is synchronous). */
async function backends(model: LoadedGpt2 | LoadedQwen3, n: number, opts: Partial<DenseGpuOptions> = {}) {
  const gpu = await sharedGpu();
  const made = [];
  for (let i = 0; i < n; i++) {
    made.push(await createArchWebGpuBackend(model, { maxContext: 64, gpu, ...opts }));
  }
  return made;
}

for (const [fixture, [debug, exact]] of Object.entries(FIXTURE_DEBUG)) {
  const model = loadAnyModel(`${FIXTURES}/${fixture}`) as LoadedGpt2 | LoadedQwen3;

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
      const all = await b.forward(toks, 0, { logits: "all" });
      const d = maxAbsDiff(all, ref.prompt_logits);
      assert(d <= ref.recommended_tolerance.logits_max_abs_diff, `chunked prompt logits differ by ${d}`);
      const logits = all.slice((toks.length - 1) * V);
      assertEquals(await b.greedy(toks, 0), argmax(logits));
      const top = await b.topk(toks, 0, 5);
      const order = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x] || x - y).slice(0, 5);
      assertEquals(Array.from(top.ids), order);
      assert(maxAbsDiff(top.logits, order.map((t) => logits[t])) === 0, "topk values");
      // overwrite positions 4.. with other tokens, then roll back to the prompt: same logits as before
      await b.forward([1, 2, 3], 4, { logits: "none" });
      const again = await b.forward(toks.slice(4), 4, { logits: "last" });
      assert(maxAbsDiff(again, Array.from(logits)) < 1e-5, "rollback");
    } finally {
      b.dispose();
    }
  });
}
