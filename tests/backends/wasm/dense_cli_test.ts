// `ossi logits --backend wasm` on GPT-2, Qwen3 and Qwen3-MoE end to end: the fixtures' reference prompt
// logits within their tolerance and the same greedy tokens.

import { checkLogitsCli } from "../../logits_cli.ts";

const FIXTURES_DENSE = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny"];

Deno.test("ossi logits --backend wasm matches the gpt2-tiny, qwen3-tiny and qwen3-moe-tiny references", async () => {
  for (const fixture of FIXTURES_DENSE) await checkLogitsCli(fixture, "--backend", "wasm");
});
