// `ossi logits --backend wasm` on GPT-2, Qwen3 and Qwen3-MoE end to end: the fixtures' reference prompt
// logits within their tolerance and the same greedy tokens.

import { assert, assertEquals } from "../../assert.ts";
import { FIXTURES, maxAbsDiff, readReference, runCli } from "../../fixture_util.ts";

const FIXTURES_DENSE = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny"];

Deno.test("ossi logits --backend wasm matches the gpt2-tiny, qwen3-tiny and qwen3-moe-tiny references", async () => {
  for (const fixture of FIXTURES_DENSE) {
    const ref = readReference(fixture);
    const out = await runCli([
      "logits",
      "--model",
      `${FIXTURES}/${fixture}`,
      "--tokens",
      ref.prompt_token_ids.join(","),
      "--generate",
      String(ref.greedy.token_ids.length),
      "--backend",
      "wasm",
    ]);
    assertEquals(out.code, 0, `${fixture}: ${out.stderr}`);
    const got = JSON.parse(out.stdout);
    const d = maxAbsDiff(Float32Array.from((got.logits as number[][]).flat()), ref.prompt_logits);
    assert(d <= ref.recommended_tolerance.logits_max_abs_diff, `${fixture}: logits differ by ${d}`);
    assertEquals(got.generated, ref.greedy.token_ids, `${fixture}: greedy tokens`);
  }
});
