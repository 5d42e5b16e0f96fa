// The GPT-2 reference backend against the independent float64 reference of the gpt2-tiny fixture.

import { assert, assertThrows } from "../../assert.ts";
import { Gpt2RefBackend } from "../../../src/backends/ref/gpt2_backend.ts";
import { loadAnyModel, type LoadedGpt2 } from "../../../src/model/load_any.ts";
import { FIXTURES } from "../../fixture_util.ts";
import { checkAgainstReference } from "../fixture_check.ts";

const model = loadAnyModel(`${FIXTURES}/gpt2-tiny`) as LoadedGpt2;

Deno.test("Gpt2RefBackend matches gpt2-tiny prompt logits, residuals, greedy tokens and step logits", async () => {
  assert(model.arch === "gpt2");
  await checkAgainstReference("gpt2-tiny", () => new Gpt2RefBackend(model.config, model.weights, 64), {
    residual_after_attention: "residual_after_attention",
    residual_after_mlp: "residual_after_mlp",
  });
});

Deno.test("Gpt2RefBackend caps its context at n_positions (learned positions end there)", async () => {
  const b = new Gpt2RefBackend(model.config, model.weights, 1000);
  assert(b.maxContext === 64);
  await b.forward([1], 63, { logits: "none" });
  assertThrows(() => b.forwardSync([1], 64, { logits: "none" }), RangeError, /context overflow/);
});
