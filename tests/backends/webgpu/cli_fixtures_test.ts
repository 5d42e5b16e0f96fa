// `ossi logits --backend webgpu` on GPT-2, Qwen3, Qwen3-MoE and Llama end to end (gpt-oss: cli_webgpu_test.ts):
// the fixtures' reference prompt logits within their tolerance and the same greedy tokens.

import { checkLogitsCli } from "../../logits_cli.ts";

const OTHER_FIXTURES = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny", "llama-tiny"];

Deno.test("ossi logits --backend webgpu matches the gpt2-tiny, qwen3-tiny, qwen3-moe-tiny and llama-tiny references", async () => {
  // all run at once; every run is awaited before the first failure is reported
  const runs = await Promise.allSettled(OTHER_FIXTURES.map((f) => checkLogitsCli(f, "--backend", "webgpu")));
  for (const run of runs) if (run.status === "rejected") throw run.reason;
});
