// `ossi logits` end to end on a fixture's reference prompt, for the CLI tests of every backend: the prompt
// logits within the fixture's tolerance and the same greedy tokens.

import { assert, assertEquals } from "./assert.ts";
import { FIXTURES, maxAbsDiff, readReference, runCli } from "./fixture_util.ts";

/**
 * Runs `ossi logits` on `fixture`'s prompt, generating as many tokens as its greedy reference, with the
 * extra `flags` (e.g. `--backend wasm`), and asserts exit 0, the logits and the greedy tokens.
 */
export async function checkLogitsCli(fixture: string, ...flags: string[]): Promise<void> {
  const ref = readReference(fixture);
  const r = await runCli([
    "logits",
    "--model",
    `${FIXTURES}/${fixture}`,
    "--tokens",
    ref.prompt_token_ids.join(","),
    "--generate",
    String(ref.greedy.token_ids.length),
    ...flags,
  ]);
  assertEquals(r.code, 0, `${fixture}: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  const d = maxAbsDiff((out.logits as number[][]).flat(), ref.prompt_logits);
  assert(d <= ref.recommended_tolerance.logits_max_abs_diff, `${fixture}: logits differ by ${d}`);
  assertEquals(out.generated, ref.greedy.token_ids, `${fixture}: greedy tokens`);
}
