// The demo model's held-out eval set (models/tiny-oss-math/eval.jsonl, see its README.md), typed, for the
// end-to-end tests that check answers against it.

import { DEMO_MODEL } from "./fixture_util.ts";

export interface EvalItem {
  task: string;
  reasoning_effort: string;
  messages: { role: string; content: string }[];
  prompt_ids: number[];
  expected: string;
  reference_completion: string;
  reference_correct: boolean;
}

const LINES = Deno.readTextFileSync(`${DEMO_MODEL}/eval.jsonl`).trim().split("\n");

/** Every item of eval.jsonl, in file order. */
export const DEMO_EVAL: EvalItem[] = LINES.map((l) => JSON.parse(l));
