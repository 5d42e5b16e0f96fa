// `ossi logits --backend wasm` on GPT-2, Qwen3, Qwen3-MoE and Llama end to end: the fixtures' reference prompt
// logits within their tolerance and the same greedy tokens.

import { checkLogitsCli } from "../../logits_cli.ts";

const FIXTURES = ["gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny", "llama-tiny"];

Deno.test("ossi logits --backend wasm matches the gpt2-tiny, qwen3-tiny, qwen3-moe-tiny and llama-tiny references", async () => {
  for (const fixture of FIXTURES) await checkLogitsCli(fixture, "--backend", "wasm");
});
