// The progress bar's line fits the terminal without cutting a file name mid-word.

import { assert, assertEquals } from "../assert.ts";
import { fitLine } from "../../src/cli/term.ts";

Deno.test("fitLine() keeps whole words of the label, drops folders first, and marks what it left out", () => {
  const head = "[######..........]  38% 1.20 GB/3.10 GB ";
  const label = "original/model-00002-of-00003.safetensors";
  assertEquals(fitLine(head, label, 200), head + label);
  assertEquals(fitLine(head, label, head.length + 36), `${head}…/model-00002-of-00003.safetensors`);
  const words = ["model-", "00002-", "of-", "00003.", "safetensors"];
  for (let width = head.length; width < head.length + 36; width++) {
    const line = fitLine(head, label, width);
    assert(line.length <= width, `fits ${width}: ${line}`);
    const shown = line.slice(head.length).replace(/…$/, "").replace(/^…\//, "");
    // What is shown is a run of whole words from the start of the file name.
    let joined = "";
    assert(
      shown === "" || words.some((w) => (joined += w) === shown),
      `width ${width}: '${shown}' cuts a word`,
    );
  }
});
