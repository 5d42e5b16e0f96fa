// The wasm backend's batch of sequences over several KV slots: each sequence's logits in a batch (prefill
// and decode rows mixed, chunks shared) are bit for bit what it gets alone; greedy() picks each argmax;
// a stop polled before a step on the shards throws ForwardAbortedError and leaves the other slots' caches
// intact; a stop polled within a step (between expert ranges, attention rows, while the host waits)
// abandons it on every thread, and the next forward over the same positions computes them afresh.

import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { type Backend, ForwardAbortedError, type Sequence } from "../../../src/backends/backend.ts";
import { WasmBackend } from "../../../src/backends/wasm/wasm_backend.ts";
import { WasmBatchBackend } from "../../../src/backends/wasm/wasm_batch_backend.ts";
import { createBackend, type Precision } from "../../../src/engine/create_backend.ts";
import { loadModel } from "../../../src/model/load.ts";
import { FIXTURES, readReference } from "../../fixture_util.ts";

const model = loadModel(FIXTURES + "/gpt-oss-tiny"), V = model.config.vocabSize;
const prompt = readReference("gpt-oss-tiny").prompt_token_ids;

/** `slots` KV caches; chunks of `maxTokens` rows (small, so that a batch spans several). */
async function open(slots: number, maxTokens = 64, precision: Precision = "exact"): Promise<Backend> {
  if (maxTokens === 64) {
    return await createBackend(model, "wasm", { maxContext: 64, slots, threads: 2, precision });
  }
  const fast = precision === "fast";
  return new WasmBatchBackend(
    model.config,
    await WasmBackend.create(model.config, model.plan, model.weights, {
      maxContext: 64,
      slots,
      threads: 2,
      maxTokens,
      int8Weights: fast,
      moeInt8: fast,
    }),
  );
}

const last = (rows: Float32Array) => rows.subarray(rows.length - V);
const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best] ? i : best), 0);

for (const precision of ["exact", "fast"] as const) {
  Deno.test(`wasm batch (${precision}): each sequence's logits are bit for bit those it gets alone`, async () => {
    const batch3 = await open(3, 8, precision), alone = await open(1, 64, precision);
    try {
      // three prompts in chunks of 8 rows (sequences span chunks and share them), then decode steps together
      const prompts = [prompt, prompt.slice(3, 20), [...prompt.slice(0, 9), 7, 7, 7]];
      const first = await batch3.forward(
        prompts.map((tokens, slot) => ({ slot, tokens, pos: 0, logits: "all" })),
      );
      const steps: Float32Array[][] = [];
      for (const [slot, tokens] of prompts.entries()) {
        const want = (await alone.forward([{ slot: 0, tokens, pos: 0, logits: "all" }]))[0];
        assertEquals(first[slot], want, `prompt ${slot}`);
        // three decode steps alone, to compare with the batch's
        let pos = tokens.length, next = argmax(last(want));
        steps.push([]);
        for (let i = 0; i < 3; i++) {
          const row = (await alone.forward([{ slot: 0, tokens: [next], pos: pos++, logits: "last" }]))[0];
          steps[slot].push(row);
          next = argmax(row);
        }
      }
      const pos = prompts.map((p) => p.length);
      let next = first.map((rows) => argmax(last(rows)));
      for (let i = 0; i < 3; i++) {
        const batch: Sequence[] = next.map((t, slot) => ({
          slot,
          tokens: [t],
          pos: pos[slot]++,
          logits: "last",
        }));
        const rows = await batch3.forward(batch);
        rows.forEach((r, slot) => assertEquals(r, steps[slot][i], `slot ${slot} step ${i}`));
        next = rows.map(argmax);
      }
    } finally {
      batch3.dispose();
      alone.dispose();
    }
  });
}

Deno.test("wasm batch: greedy() of several sequences equals the argmax of their forward() rows", async () => {
  const b = await open(2);
  try {
    const seqs = [prompt.slice(0, 10), prompt.slice(5, 30)];
    const rows = await b.forward(seqs.map((tokens, slot) => ({ slot, tokens, pos: 0, logits: "last" })));
    const picks = await b.greedy!(seqs.map((tokens, slot) => ({ slot, tokens, pos: 0 })));
    assertEquals(picks, rows.map(argmax));
    const top = await b.topk!(seqs.map((tokens, slot) => ({ slot, tokens, pos: 0 })), 3);
    assertEquals(top.map((t) => t.ids[0]), picks);
  } finally {
    b.dispose();
  }
});

Deno.test("wasm batch: a stop mid-forward throws, and the other slots' caches stay intact", async () => {
  const b = await open(2);
  try {
    const a = prompt.slice(0, 12);
    const want = (await b.forward([{ slot: 0, tokens: a, pos: 0, logits: "last" }]))[0];
    let polls = 0;
    await assertRejects(
      () =>
        b.forward([{ slot: 1, tokens: prompt, pos: 0, logits: "last" }], {
          shouldStop: () => ++polls === 3,
        }),
      ForwardAbortedError,
    );
    assertEquals(polls, 3, "polled before each step until it said stop");
    // slot 0's cache still holds a: one more token gives what it gives alone
    const after = (await b.forward([{ slot: 0, tokens: [argmax(want)], pos: a.length, logits: "last" }]))[0];
    const fresh = await open(1);
    try {
      await fresh.forward([{ slot: 0, tokens: a, pos: 0, logits: "none" }]);
      assertEquals(
        after,
        (await fresh.forward([{ slot: 0, tokens: [argmax(want)], pos: a.length, logits: "last" }]))[0],
      );
    } finally {
      fresh.dispose();
    }
    assert(polls === 3);
  } finally {
    b.dispose();
  }
});

Deno.test("wasm batch: a stop at any poll, within steps too, abandons the forward; the caches stay consistent", async () => {
  for (const precision of ["exact", "fast"] as const) {
    const b = await open(2, 64, precision);
    try {
      const a = prompt.slice(0, 12);
      // slot 1's whole prompt unstopped (counting the polls), then slot 0's first part
      let polls = 0;
      const whole = { slot: 1, tokens: prompt, pos: 0, logits: "all" as const };
      const want = (await b.forward([whole], { shouldStop: () => (polls++, false) }))[0];
      // 4 layers of 4 steps, the unembedding: the steps themselves polled as well
      assert(polls > 17, `${polls} polls for 17 steps`);
      const wantA = (await b.forward([{ slot: 0, tokens: a, pos: 0, logits: "last" }]))[0];
      for (let stopAt = 1; stopAt <= polls; stopAt++) {
        let n = 0;
        await assertRejects(
          () => b.forward([whole], { shouldStop: () => ++n >= stopAt }),
          ForwardAbortedError,
        );
        assertEquals(n, stopAt, `${precision}: no poll after the stop (stop at ${stopAt})`);
        // the abandoned positions are computed again; slot 0 was never touched
        assertEquals((await b.forward([whole]))[0], want, `${precision}: stop at poll ${stopAt}`);
      }
      const next = [{ slot: 0, tokens: [argmax(wantA)], pos: a.length, logits: "last" as const }];
      const fresh = await open(1, 64, precision);
      try {
        await fresh.forward([{ slot: 0, tokens: a, pos: 0, logits: "none" }]);
        assertEquals((await b.forward(next))[0], (await fresh.forward(next))[0]);
      } finally {
        fresh.dispose();
      }
    } finally {
      b.dispose();
    }
  }
});
