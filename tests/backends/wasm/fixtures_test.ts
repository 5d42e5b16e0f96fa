// The wasm pass on the GPT-2, Qwen3, Qwen3-MoE and Llama fixtures against their independent float64
// references: prompt logits, debug values, greedy tokens over the KV cache, chunked prefill, and prefill in
// short steps.

import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { OssiError } from "../../../src/errors.ts";
import { createWasmBackend } from "../../../src/backends/wasm/create.ts";
import { type LoadedModel, loadModel } from "../../../src/model/load.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";
import { checkAgainstReference, forward1 } from "../fixture_check.ts";

const wasmOf = (model: LoadedModel, maxContext = 64, maxTokens?: number) =>
  createWasmBackend(model, { maxContext, slots: 1, maxTokens });

const RESIDUALS = {
  residual_after_attention: "residual_after_attention",
  residual_after_mlp: "residual_after_mlp",
};
const QWEN3 = {
  ...RESIDUALS,
  q_after_qk_norm_and_rope: "q_after_qk_norm_and_rope",
  k_after_qk_norm_and_rope: "k_after_qk_norm_and_rope",
};
const CASES: [string, Record<string, string>, Record<string, string>][] = [
  ["gpt2-tiny", RESIDUALS, {}],
  ["qwen3-tiny", QWEN3, {}],
  [
    "qwen3-moe-tiny",
    { ...QWEN3, router_logits: "router_logits", expert_weights: "expert_weights" },
    { experts_selected: "router_topk" },
  ],
  ["llama-tiny", { ...RESIDUALS, q_after_rope: "q_after_rope", k_after_rope: "k_after_rope" }, {}],
];

for (const [fixture, debug, exact] of CASES) {
  const model = loadModel(`${FIXTURES}/${fixture}`);

  Deno.test(`wasm ${fixture} matches the reference: prompt logits, debug values, greedy steps, chunked prefill`, async () => {
    const worst = await checkAgainstReference(
      fixture,
      () => wasmOf(model),
      debug,
      exact,
    );
    assert(worst > 0, "a float32 backend cannot match a float64 reference bit for bit");
  });

  Deno.test(`wasm ${fixture} in 5-token prefill steps gives the logits of one 64-token step`, async () => {
    const toks = readReference(fixture).prompt_token_ids;
    const one = await wasmOf(model);
    const steps = await wasmOf(model, 64, 5);
    try {
      const a = await forward1(one, toks, 0, "all"),
        b = await forward1(steps, toks, 0, "all");
      assertEquals(b.length, toks.length * model.config.vocabSize);
      assert(
        maxAbsDiff(b, Array.from(a)) < 1e-6,
        `prefill in steps differs by ${maxAbsDiff(b, Array.from(a))}`,
      );
      const last = await forward1(steps, toks, 0, "last");
      assert(maxAbsDiff(last, Array.from(a.subarray((toks.length - 1) * model.config.vocabSize))) < 1e-6);
    } finally {
      one.dispose();
      steps.dispose();
    }
  });
}

Deno.test("wasm GPT-2 caps its context at n_positions; bad positions and token ids throw RangeError", async () => {
  const b = await wasmOf(loadModel(`${FIXTURES}/gpt2-tiny`), 1000);
  try {
    assert(b.maxContext === 64);
    await forward1(b, [1], 63, "none");
    await assertRejects(() => forward1(b, [1], 64, "none"), RangeError, /context overflow/);
    await assertRejects(() => forward1(b, [389], 0, "none"), RangeError, /token id 389/);
    await assertRejects(() => forward1(b, [1.5], 0, "none"), RangeError, /token id 1.5/);
  } finally {
    b.dispose();
  }
});

Deno.test("wasm refuses --moe-int8 in one line for a model without routed experts", async () => {
  const err = await assertRejects(
    () => createWasmBackend(loadModel(`${FIXTURES}/qwen3-tiny`), { maxContext: 64, slots: 1, moeInt8: true }),
    OssiError,
  );
  assertMatch(err.message, /^--moe-int8 applies to routed experts, which this model does not have$/);
});
