// `ossi logits --backend webgpu` on GPT-2, Qwen3 and Qwen3-MoE end to end: the fixtures' reference prompt
// logits within their tolerance and the same greedy tokens.

import { assert, assertEquals } from "../../assert.ts";
import { FIXTURES, maxAbsDiff, readReference, runCli } from "../../fixture_util.ts";

const FIXTURES_DENSE = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny"];

Deno.test("ossi logits --backend webgpu matches the gpt2-tiny, qwen3-tiny and qwen3-moe-tiny references", async () => {
  const runs = await Promise.all(FIXTURES_DENSE.map((fixture) => {
    const ref = readReference(fixture);
    return runCli([
      "logits",
      "--model",
      `${FIXTURES}/${fixture}`,
      "--tokens",
      ref.prompt_token_ids.join(","),
      "--generate",
      String(ref.greedy.token_ids.length),
      "--backend",
      "webgpu",
    ]);
  }));
  FIXTURES_DENSE.forEach((fixture, i) => {
    const ref = readReference(fixture), out = runs[i];
    assertEquals(out.code, 0, `${fixture}: ${out.stderr}`);
    const got = JSON.parse(out.stdout);
    const d = maxAbsDiff(Float32Array.from((got.logits as number[][]).flat()), ref.prompt_logits);
    assert(d <= ref.recommended_tolerance.logits_max_abs_diff, `${fixture}: logits differ by ${d}`);
    assertEquals(got.generated, ref.greedy.token_ids, `${fixture}: greedy tokens`);
  });
});
