// The Qwen3 reference backend against the independent float64 references of qwen3-tiny (dense) and
// qwen3-moe-tiny (MoE: router logits, experts chosen and their weights too).

import { assert } from "../../assert.ts";
import { Qwen3RefBackend } from "../../../src/backends/ref/qwen3_backend.ts";
import { ropeTables } from "../../../src/backends/ref/kernels.ts";
import { loadAnyModel, type LoadedQwen3 } from "../../../src/model/load_any.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";
import { checkAgainstReference } from "../fixture_check.ts";

const ATTENTION = {
  q_after_qk_norm_and_rope: "q_after_qk_norm_and_rope",
  k_after_qk_norm_and_rope: "k_after_qk_norm_and_rope",
  residual_after_attention: "residual_after_attention",
  residual_after_mlp: "residual_after_mlp",
};

for (const fixture of ["qwen3-tiny", "qwen3-moe-tiny"]) {
  const model = loadAnyModel(`${FIXTURES}/${fixture}`) as LoadedQwen3;

  Deno.test(`Qwen3RefBackend matches ${fixture} prompt logits, debug values, greedy tokens and step logits`, async () => {
    assert(model.arch === "qwen3");
    const moe = fixture.includes("moe");
    await checkAgainstReference(
      fixture,
      () => new Qwen3RefBackend(model.config, model.weights, 64),
      moe ? { ...ATTENTION, router_logits: "router_logits", expert_weights: "expert_weights" } : ATTENTION,
      moe ? { experts_selected: "router_topk" } : {},
    );
  });

  Deno.test(`ropeTables() reproduces ${fixture}'s inverse frequencies (theta 1e6, head_dim from config)`, () => {
    const want = readReference(fixture).debug.rope_inv_freq!;
    const t = ropeTables(model.config.rope);
    assert(maxAbsDiff(t.invFreq, want) < 1e-6 * want[0]);
    assert(t.concentration === 1);
  });
}
