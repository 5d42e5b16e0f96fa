// `ossi logits --backend wasm` end to end: reference logits and greedy tokens, and --threads usage errors.

import { assertEquals, assertMatch } from "../../assert.ts";
import { FIXTURES, runCli } from "../../fixture_util.ts";
import { checkLogitsCli } from "../../logits_cli.ts";

Deno.test("ossi logits --backend wasm --threads 2 prints the reference logits and greedy tokens", () =>
  checkLogitsCli("gpt-oss-tiny", "--backend", "wasm", "--threads", "2"));

Deno.test("ossi logits --backend wasm rejects a bad --threads with one line and exit 2", async () => {
  for (const bad of ["0", "1.5", "x"]) {
    const r = await runCli([
      "logits",
      "--model",
      `${FIXTURES}/gpt-oss-tiny`,
      "--tokens",
      "1,2",
      "--backend",
      "wasm",
      "--threads",
      bad,
    ]);
    assertEquals(r.code, 2, `--threads ${bad}`);
    assertMatch(r.stderr.trim(), /^ossi: --threads must be/);
    assertEquals(r.stderr.trim().split("\n").length, 1);
  }
});
