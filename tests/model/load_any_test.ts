// loadAnyModel() picks the architecture from config.json, and `ossi logits` runs GPT-2 and Qwen3 models
// on the reference backend within each fixture's tolerance (a clear error for bad input).

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { loadAnyModel } from "../../src/model/load_any.ts";
import { FIXTURES, runCli } from "../fixture_util.ts";
import { checkLogitsCli } from "../logits_cli.ts";

Deno.test("loadAnyModel() tags each fixture with its family and leaves gpt-oss to loadModel()", () => {
  const oss = loadAnyModel(`${FIXTURES}/gpt-oss-tiny`);
  assert(oss.arch === "gpt_oss" && oss.model.layout === "hub");
  const gpt2 = loadAnyModel(`${FIXTURES}/gpt2-tiny`);
  assert(gpt2.arch === "gpt2");
  assertEquals([gpt2.config.numLayers, gpt2.config.headDim, gpt2.config.ffnSize, gpt2.config.maxContext], [
    3,
    16,
    256,
    64,
  ]);
  const moe = loadAnyModel(`${FIXTURES}/qwen3-moe-tiny`);
  assert(moe.arch === "qwen3" && moe.config.arch === "qwen3_moe");
  assertEquals(moe.config.moe, { numExperts: 8, expertsPerToken: 3, expertSize: 32, normTopkProb: true });
});

for (const fixture of ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny"]) {
  Deno.test(`ossi logits on ${fixture} matches the reference logits and greedy tokens`, () =>
    checkLogitsCli(fixture));
}

Deno.test("ossi logits refuses tokens past the vocabulary and past the context in one line", async () => {
  const big = await runCli(["logits", "--model", `${FIXTURES}/gpt2-tiny`, "--tokens", "389"]);
  assertEquals(big.code, 1);
  assertMatch(big.stderr, /^ossi: logits: token id 389 is outside the vocabulary \(389\)\n$/);
  const long = await runCli([
    "logits",
    "--model",
    `${FIXTURES}/gpt2-tiny`,
    "--tokens",
    "1,2",
    "--generate",
    "63",
  ]);
  assertEquals(long.code, 1);
  assertMatch(long.stderr, /^ossi: logits: 65 tokens exceed the model's context of 64\n$/);
});
