// The reference backend's one forward pass against the independent float64 reference of every fixture
// (gpt-oss in both layouts, GPT-2, Qwen3, Qwen3-MoE, Llama), and its batch interface: slots, positions, aborts.

import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { checkAgainstReference, forward1, referenceTaps } from "../fixture_check.ts";
import { loadModel } from "../../../src/model/load.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import { ForwardAbortedError } from "../../../src/backends/backend.ts";
import { ropeTables } from "../../../src/model/rope.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";

const refOf = (dir: string, maxContext = 64, slots = 1) => {
  const m = loadModel(dir);
  return new RefBackend(m.config, m.plan, m.weights, { maxContext, slots });
};

for (
  const [fixture, folder] of [
    ["gpt-oss-tiny", "gpt-oss-tiny"],
    ["gpt-oss-tiny", "gpt-oss-tiny/original"],
    ["gpt2-tiny", "gpt2-tiny"],
    ["qwen3-tiny", "qwen3-tiny"],
    ["qwen3-moe-tiny", "qwen3-moe-tiny"],
    ["llama-tiny", "llama-tiny"],
  ]
) {
  Deno.test(`RefBackend matches ${folder} prompt logits, every reference intermediate and greedy tokens`, async () => {
    const { debug, exact } = referenceTaps(fixture);
    await checkAgainstReference(fixture, () => refOf(`${FIXTURES}/${folder}`), debug, exact);
  });
}

for (const fixture of ["gpt-oss-tiny", "qwen3-tiny", "qwen3-moe-tiny", "llama-tiny"]) {
  Deno.test(`ropeTables() reproduces ${fixture}'s inverse frequencies and concentration`, () => {
    const ref = readReference(fixture), t = ropeTables(loadModel(`${FIXTURES}/${fixture}`).config.rope!);
    const want = ref.debug.rope_inv_freq!;
    assert(maxAbsDiff(t.invFreq, want) < 1e-9 + 1e-6 * Math.max(...want));
    assert(Math.abs(t.concentration - (ref.debug.rope_concentration ?? 1)) < 1e-6);
  });
}

Deno.test("RefBackend caps GPT-2's context at n_positions (learned positions end there)", async () => {
  const b = refOf(`${FIXTURES}/gpt2-tiny`, 1000);
  assertEquals(b.maxContext, 64);
  await forward1(b, [1], 63, "none");
  await assertRejects(() => forward1(b, [1], 64, "none"), RangeError, /context overflow/);
});

Deno.test("RefBackend runs a batch of sequences in their own slots exactly as each alone", async () => {
  const dir = `${FIXTURES}/qwen3-moe-tiny`, toks = readReference("qwen3-moe-tiny").prompt_token_ids;
  const alone = refOf(dir);
  const a = await forward1(alone, toks.slice(0, 9), 0, "all");
  alone.dispose();
  const b = refOf(dir, 64, 3);
  // slot 2 first gets another prompt, then both continue in one batch at different positions
  await b.forward([{ slot: 2, tokens: toks.slice(3, 8), pos: 0, logits: "none" }]);
  const [x, y] = await b.forward([
    { slot: 0, tokens: toks.slice(0, 9), pos: 0, logits: "all" },
    { slot: 2, tokens: toks.slice(8, 11), pos: 5, logits: "last" },
  ]);
  assertEquals(Array.from(x), Array.from(a));
  const c = refOf(dir);
  await forward1(c, toks.slice(3, 8), 0, "none");
  assertEquals(Array.from(y), Array.from(await forward1(c, toks.slice(8, 11), 5, "last")));
  await assertRejects(
    () =>
      b.forward([{ slot: 1, tokens: [1], pos: 0, logits: "last" }, {
        slot: 1,
        tokens: [2],
        pos: 0,
        logits: "last",
      }]),
    RangeError,
    /slot 1 appears twice/,
  );
  await assertRejects(
    () => b.forward([{ slot: 3, tokens: [1], pos: 0, logits: "last" }]),
    RangeError,
    /slot 3/,
  );
});

Deno.test("RefBackend's greedy() and topk() pick from the same logits as forward()", async () => {
  const dir = `${FIXTURES}/gpt2-tiny`, toks = readReference("gpt2-tiny").prompt_token_ids;
  const logits = await forward1(refOf(dir), toks, 0, "last");
  const [id] = await refOf(dir).greedy([{ slot: 0, tokens: toks, pos: 0 }]);
  assertEquals(id, logits.indexOf(Math.max(...logits)));
  const [top] = await refOf(dir).topk([{ slot: 0, tokens: toks, pos: 0 }], 3);
  assertEquals(top.ids[0], id);
  assertEquals(Array.from(top.logits), Array.from(top.ids, (i) => logits[i]));
});

Deno.test("RefBackend stops between layers when shouldStop() says so, keeping what earlier calls cached", async () => {
  const dir = `${FIXTURES}/qwen3-tiny`, toks = readReference("qwen3-tiny").prompt_token_ids;
  const b = refOf(dir), whole = refOf(dir);
  await forward1(b, toks.slice(0, 10), 0, "none");
  let polls = 0;
  await assertRejects(
    () =>
      b.forward([{ slot: 0, tokens: toks.slice(10), pos: 10, logits: "last" }], {
        shouldStop: () => ++polls > 2,
      }),
    ForwardAbortedError,
  );
  assertEquals(polls, 3); // before layers 0, 1 and 2: stopped inside the stack
  const resumed = await forward1(b, toks.slice(10), 10, "last");
  assertEquals(Array.from(resumed), Array.from(await forward1(whole, toks, 0, "last")));
});
