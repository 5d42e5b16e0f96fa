// `ossi logits --backend wasm` end to end: reference logits and greedy tokens, and --threads usage errors.

import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { FIXTURES, maxAbsDiff, readReference, runCli } from "../../fixture_util.ts";

const ref = readReference("gpt-oss-tiny");

Deno.test("ossi logits --backend wasm --threads 2 prints the reference logits and greedy tokens", async () => {
  const n = ref.greedy.token_ids.length;
  const r = await runCli([
    "logits",
    "--model",
    `${FIXTURES}/gpt-oss-tiny`,
    "--tokens",
    ref.prompt_token_ids.join(","),
    "--generate",
    String(n),
    "--backend",
    "wasm",
    "--threads",
    "2",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert(maxAbsDiff(out.logits.flat(), ref.prompt_logits) <= ref.recommended_tolerance.logits_max_abs_diff);
  assertEquals(out.generated, ref.greedy.token_ids);
});

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
