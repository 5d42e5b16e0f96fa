// The reference backend against the independent float64 reference of the gpt-oss-tiny fixture.

import { checkAgainstReference, GPT_OSS_DEBUG, GPT_OSS_EXACT } from "../fixture_check.ts";
import { assert, assertEquals } from "../../assert.ts";
import { loadModel } from "../../../src/model/load.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import { ropeTables } from "../../../src/backends/ref/kernels.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";

const ref = readReference("gpt-oss-tiny");

for (const layout of ["", "/original"]) {
  Deno.test(`RefBackend matches gpt-oss-tiny${layout || " (Hub layout)"} prompt logits, debug values and greedy tokens`, async () => {
    const model = loadModel(FIXTURES + "/gpt-oss-tiny" + layout);
    assertEquals(model.layout, layout ? "original" : "hub");
    await checkAgainstReference(
      "gpt-oss-tiny",
      () => new RefBackend(model.config, model.weights, 64),
      GPT_OSS_DEBUG,
      GPT_OSS_EXACT,
    );
  });
}

Deno.test("ropeTables() reproduces the fixture's YaRN inverse frequencies and concentration", () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const t = ropeTables(model.config.rope);
  assert(
    maxAbsDiff(t.invFreq, ref.debug.rope_inv_freq!) < 1e-9 + 1e-6 * Math.max(...ref.debug.rope_inv_freq!),
  );
  assert(Math.abs(t.concentration - ref.debug.rope_concentration!) < 1e-6);
});
