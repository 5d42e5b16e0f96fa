// The wasm pass against the reference backend on shapes the fixtures do not have, built in memory:
// Qwen3-MoE with norm_topk_prob false and with a dense-only layer, Qwen3 with a sliding window,
// attention biases and an untied head, GPT-2 untied, and random Qwen3 / GPT-2 shapes with odd widths and
// f16 / f32 / bf16 weights (so both matmul kernels and the widening at load run).

import { assert, assertEquals } from "../../assert.ts";
import { rowTopkArgmax } from "../../../src/backends/ref/kernels.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import { createWasmBackend } from "../../../src/backends/wasm/create.ts";
import { f32ToBf16, f32ToF16, type FloatDType, type Mat } from "../../../src/model/dtypes.ts";
import type { LoadedModel } from "../../../src/model/load.ts";
import { randomModel } from "../../../scripts/random_model.ts";
import { maxAbsDiff } from "../../fixture_util.ts";
import { fixtureVariants } from "../dense_variants.ts";
import { forward1 } from "../fixture_check.ts";
import { randomF32, rng } from "../../random.ts";

function randomMat(r: () => number, rows: number, cols: number, dtype: FloatDType, scale = 0.3): Mat {
  const v = randomF32(rows * cols, r, scale);
  if (dtype === "F32") return { dtype, rows, cols, data: v };
  return { dtype, rows, cols, data: Uint16Array.from(v, dtype === "BF16" ? f32ToBf16 : f32ToF16) };
}

/** A random Qwen3-MoE (or dense Qwen3 when experts == 0) with odd head counts and widths, mixed dtypes. */
function randomQwen3(seed: number): LoadedModel {
  const r = rng(seed), pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const kvHeads = pick([1, 2, 3]), E = pick([0, 5]);
  return randomModel({
    model_type: E ? "qwen3_moe" : "qwen3",
    vocab_size: pick([45, 70]),
    hidden_size: pick([24, 36, 40]),
    num_hidden_layers: 3,
    num_attention_heads: kvHeads * pick([1, 2]),
    num_key_value_heads: kvHeads,
    head_dim: pick([4, 12, 20]),
    intermediate_size: pick([20, 44]),
    attention_bias: r() < 0.5,
    tie_word_embeddings: false,
    layer_types: ["full_attention", "sliding_attention", "full_attention"],
    sliding_window: 4,
    ...(E
      ? {
        num_experts: E,
        num_experts_per_tok: pick([1, 2, 3]),
        moe_intermediate_size: pick([12, 16]),
        norm_topk_prob: r() < 0.5,
        mlp_only_layers: [1],
      }
      : {}),
  }, { rng: r, dtypes: ["BF16", "F16", "F32"], scale: 0.3 });
}

/** A random GPT-2 with an odd FFN width (not a multiple of 4) and f16 or f32 weights. */
function randomGpt2(seed: number): LoadedModel {
  const r = rng(seed), pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const heads = pick([1, 3]);
  return randomModel({
    model_type: "gpt2",
    vocab_size: 50,
    n_embd: heads * pick([4, 8]),
    n_head: heads,
    n_inner: pick([13, 30]),
    n_layer: 2,
    n_positions: 40,
  }, { rng: r, dtypes: ["F16", "F32"], scale: 0.3 });
}

function variants(): [string, LoadedModel][] {
  return [
    ...fixtureVariants(rng(77), randomMat, randomF32),
    ...[1, 2, 3, 4, 5].map((s): [string, LoadedModel] => {
      const m = randomQwen3(s), k = m.config;
      return [
        `random ${k.arch} ${s}: hidden ${k.hiddenSize}, ${k.numHeads}/${k.numKvHeads} heads of ${k.headDim}`,
        m,
      ];
    }),
    ...[6, 7].map((s): [string, LoadedModel] => {
      const m = randomGpt2(s), k = m.config;
      return [`random gpt2 ${s}: hidden ${k.hiddenSize}, ffn ${m.plan.layers[0].mlp.width}`, m];
    }),
  ];
}

Deno.test("wasm GPT-2/Qwen3 variants match the reference backend: prompt logits and 4 greedy steps", async () => {
  const tokens = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % 45);
  for (const [what, model] of variants()) {
    const ref = new RefBackend(model.config, model.plan, model.weights, { maxContext: 32 });
    const wb = await createWasmBackend(model, { maxContext: 32, slots: 1, maxTokens: 5 });
    try {
      const V = model.config.vocabSize;
      const want = await forward1(ref, tokens, 0, "all");
      const got = await forward1(wb, tokens, 0, "all");
      const d = maxAbsDiff(got, Array.from(want));
      assert(d < 1e-3, `${what}: prompt logits differ by ${d}`);
      let a = rowTopkArgmax(want, tokens.length - 1, V);
      for (let i = 0; i < 4; i++) {
        const w = await forward1(ref, [a], tokens.length + i, "last");
        const g = await forward1(wb, [a], tokens.length + i, "last");
        assert(maxAbsDiff(g, Array.from(w)) < 1e-3, `${what}: step ${i} logits`);
        assertEquals(rowTopkArgmax(g), rowTopkArgmax(w), `${what}: step ${i}`);
        a = rowTopkArgmax(w);
      }
      // rolling back: rerunning the last two positions with other tokens overwrites their cache entries
      const back = [3, 4], p = tokens.length + 2;
      const w2 = await forward1(ref, back, p, "all"),
        g2 = await forward1(wb, back, p, "all");
      assert(maxAbsDiff(g2, Array.from(w2)) < 1e-3, `${what}: after rollback`);
    } finally {
      wb.dispose();
    }
  }
});
