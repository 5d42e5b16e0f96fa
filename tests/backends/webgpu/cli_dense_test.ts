// `ossi logits --backend webgpu` on GPT-2, Qwen3 and Qwen3-MoE end to end: the fixtures' reference prompt
// logits within their tolerance and the same greedy tokens.

import { checkLogitsCli } from "../../logits_cli.ts";

const FIXTURES_DENSE = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny"];

Deno.test("ossi logits --backend webgpu matches the gpt2-tiny, qwen3-tiny and qwen3-moe-tiny references", async () => {
  // all three run at once; every run is awaited before the first failure is reported
  const runs = await Promise.allSettled(FIXTURES_DENSE.map((f) => checkLogitsCli(f, "--backend", "webgpu")));
  for (const run of runs) if (run.status === "rejected") throw run.reason;
});
