// The GPT-2 / Qwen3 / Qwen3-MoE WASM backends against the fixtures' independent float64 references: prompt
// logits, debug values, greedy tokens over the KV cache, chunked prefill, and prefill in short steps.

import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { createArchWasmBackend } from "../../../src/backends/wasm/dense_arch_backend.ts";
import { loadAnyModel, type LoadedGpt2, type LoadedQwen3 } from "../../../src/model/load_any.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";
import { checkAgainstReference } from "../fixture_check.ts";

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
];

for (const [fixture, debug, exact] of CASES) {
  const model = loadAnyModel(`${FIXTURES}/${fixture}`) as LoadedGpt2 | LoadedQwen3;

  Deno.test(`wasm ${fixture} matches the reference: prompt logits, debug values, greedy steps, chunked prefill`, async () => {
    const worst = await checkAgainstReference(
      fixture,
      () => createArchWasmBackend(model, { maxContext: 64 }),
      debug,
      exact,
    );
    assert(worst > 0, "a float32 backend cannot match a float64 reference bit for bit");
  });

  Deno.test(`wasm ${fixture} in 5-token prefill steps gives the logits of one 64-token step`, async () => {
    const toks = readReference(fixture).prompt_token_ids;
    const one = createArchWasmBackend(model, { maxContext: 64 });
    const steps = createArchWasmBackend(model, { maxContext: 64, maxTokens: 5 });
    const a = await one.forward(toks, 0, { logits: "all" }),
      b = await steps.forward(toks, 0, { logits: "all" });
    assertEquals(b.length, toks.length * model.config.vocabSize);
    assert(
      maxAbsDiff(b, Array.from(a)) < 1e-6,
      `prefill in steps differs by ${maxAbsDiff(b, Array.from(a))}`,
    );
    const last = await steps.forward(toks, 0, { logits: "last" });
    assert(maxAbsDiff(last, Array.from(a.subarray((toks.length - 1) * model.config.vocabSize))) < 1e-6);
  });
}

Deno.test("wasm GPT-2 caps its context at n_positions; bad positions and token ids throw RangeError", () => {
  const model = loadAnyModel(`${FIXTURES}/gpt2-tiny`) as LoadedGpt2;
  const b = createArchWasmBackend(model, { maxContext: 1000 });
  assert(b.maxContext === 64);
  b.forwardSync([1], 63, { logits: "none" });
  assertThrows(() => b.forwardSync([1], 64, { logits: "none" }), RangeError, /context overflow/);
  assertThrows(() => b.forwardSync([389], 0, { logits: "none" }), RangeError, /token id 389/);
  assertThrows(() => b.forwardSync([1.5], 0, { logits: "none" }), RangeError, /token id 1.5/);
});
