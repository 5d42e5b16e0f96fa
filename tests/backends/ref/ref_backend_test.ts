// The reference backend against the independent float64 reference of the gpt-oss-tiny fixture.

import { assert, assertEquals } from "../../assert.ts";
import { loadModel } from "../../../src/model/load.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import { argmax, ropeTables } from "../../../src/backends/ref/kernels.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";

const ref = readReference("gpt-oss-tiny");
const tol = ref.recommended_tolerance.logits_max_abs_diff;

for (const layout of ["", "/original"]) {
  Deno.test(`RefBackend matches gpt-oss-tiny${layout || " (Hub layout)"} prompt logits, debug values and greedy tokens`, async () => {
    const model = loadModel(FIXTURES + "/gpt-oss-tiny" + layout);
    assertEquals(model.layout, layout ? "original" : "hub");
    const backend = new RefBackend(model.config, model.weights, 64);
    const dumps = new Map<string, Float32Array>();
    const logits = await backend.forward(ref.prompt_token_ids, 0, {
      logits: "all",
      debug: (name, layer, _rows, v) => dumps.set(`${name}.${layer}`, v.slice()),
    });
    const d = maxAbsDiff(logits, ref.prompt_logits);
    assert(d <= tol, `prompt logits differ by ${d}`);
    const V = model.config.vocabSize;
    assertEquals(ref.prompt_token_ids.map((_, t) => argmax(logits, t, V)), ref.prompt_argmax);

    const dtol = ref.recommended_tolerance.debug_values_max_abs_diff;
    assert(maxAbsDiff(dumps.get("embedding.-1")!, ref.debug.embedding_rows) <= dtol);
    ref.debug.layers.forEach((L, l) => {
      for (const [ours, theirs] of [
        ["residual_after_attention", "residual_after_attention"],
        ["router_logits", "router_logits"],
        ["residual_after_moe", "residual_after_moe"],
      ]) {
        const diff = maxAbsDiff(dumps.get(`${ours}.${l}`)!, L[theirs] as number[][]);
        assert(diff <= dtol, `layer ${l} ${ours} differs by ${diff}`);
      }
      const chosen = Array.from(dumps.get(`router_topk.${l}`)!);
      assertEquals(chosen, (L.experts_selected as number[][]).flat());
    });

    // greedy decoding one token at a time over the KV cache
    const n = ref.prompt_token_ids.length;
    let next = argmax(logits, n - 1, V);
    for (let i = 0; i < ref.greedy.token_ids.length; i++) {
      assertEquals(next, ref.greedy.token_ids[i], `greedy token ${i}`);
      if (i > 0) {
        // step i's logits are those that chose token i
      }
      const step = await backend.forward([next], n + i, { logits: "last" });
      if (i + 1 < ref.greedy.token_ids.length) {
        const sd = maxAbsDiff(step, ref.greedy.step_logits[i + 1]);
        assert(sd <= tol, `step ${i + 1} logits differ by ${sd}`);
      }
      next = argmax(step);
    }
  });
}

Deno.test("ropeTables() reproduces the fixture's YaRN inverse frequencies and concentration", () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const t = ropeTables(model.config.rope);
  assert(maxAbsDiff(t.invFreq, ref.debug.rope_inv_freq!) < 1e-9 + 1e-6 * Math.max(...ref.debug.rope_inv_freq!));
  assert(Math.abs(t.concentration - ref.debug.rope_concentration!) < 1e-6);
});

Deno.test("RefBackend prefill in chunks equals prefill in one call", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const a = new RefBackend(model.config, model.weights, 64), b = new RefBackend(model.config, model.weights, 64);
  const toks = ref.prompt_token_ids;
  const whole = await a.forward(toks, 0, { logits: "last" });
  await b.forward(toks.slice(0, 10), 0, { logits: "none" });
  await b.forward(toks.slice(10, 17), 10, { logits: "none" });
  const last = await b.forward(toks.slice(17), 17, { logits: "last" });
  assert(maxAbsDiff(last, Array.from(whole)) < 1e-5);
});
