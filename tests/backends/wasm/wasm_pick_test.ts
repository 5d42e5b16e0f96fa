// WasmBackend.greedy() and topk() (the per-shard row_topk after the unembedding, merged on the host) against
// the argmax / top-k of forward(..., "last") logits on gpt-oss-tiny, over thread and shard splits, prefill
// chunks, decode steps and an unembedding full of exact ties.

import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { loadModel } from "../../../src/model/load.ts";
import type { ModelWeights } from "../../../src/model/weights.ts";
import { WasmBackend } from "../../../src/backends/wasm/wasm_backend.ts";
import { argmax } from "../../../src/chat/sampler.ts";
import { FIXTURES, readReference } from "../../fixture_util.ts";

const ref = readReference("gpt-oss-tiny");

/** The k best (value desc, index asc) of a row of logits. */
function scalarTopK(x: Float32Array, k: number): { ids: number[]; logits: number[] } {
  const order = [...x.keys()].sort((a, b) => (x[a] === x[b] ? a - b : x[b] - x[a])).slice(0, k);
  return { ids: order, logits: order.map((i) => x[i]) };
}

/** greedy() and topk() after `tokens` at `pos` equal the argmax and top-k of forward()'s last logits. */
async function checkPicks(b: WasmBackend, tokens: number[], pos: number, what: string): Promise<number> {
  const logits = await b.forward(tokens, pos, { logits: "last" });
  const best = await b.greedy(tokens, pos);
  assertEquals(best, argmax(logits), `${what}: greedy`);
  for (const k of [1, 2, 37, 64, b.config.vocabSize]) {
    const got = await b.topk(tokens, pos, k);
    const want = scalarTopK(logits, k);
    assertEquals(Array.from(got.ids), want.ids, `${what}: top-${k} ids`);
    assertEquals(Array.from(got.logits), want.logits, `${what}: top-${k} logits`);
  }
  return best;
}

Deno.test("WasmBackend.greedy()/topk() equal forward()'s argmax/top-k across threads, shards and prefill chunks", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const toks = ref.prompt_token_ids;
  for (const [threads, shards, maxTokens] of [[1, 1, 64], [2, 2, 64], [2, 3, 5], [1, 5, 7], [2, 8, 64]]) {
    const b = await WasmBackend.create(model.config, model.plan, model.weights, {
      maxContext: 64,
      threads,
      shards,
      maxTokens,
    });
    const what = `threads ${threads} shards ${shards} maxTokens ${maxTokens}`;
    try {
      assertEquals(b.shards, shards);
      let next = await checkPicks(b, toks, 0, `${what} prefill`);
      // greedy decoding one token at a time gives the fixture's greedy continuation
      for (let i = 0; i < 4; i++) {
        assertEquals(next, ref.greedy.token_ids[i], `${what}: greedy token ${i}`);
        next = await checkPicks(b, [next], toks.length + i, `${what} step ${i}`);
      }
    } finally {
      b.dispose();
    }
  }
});

Deno.test("WasmBackend.topk() breaks exact ties across shards toward the lower token id", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const { vocabSize: V, hiddenSize: H } = model.config;
  // row j of the unembedding is row j % 37: every logit appears about 14 times, spread over the shards
  const src = model.weights.unembed.data as Uint16Array, data = new Uint16Array(V * H);
  for (let j = 0; j < V; j++) data.set(src.subarray((j % 37) * H, (j % 37 + 1) * H), j * H);
  const weights: ModelWeights = { ...model.weights, unembed: { ...model.weights.unembed, data } };
  for (const [threads, shards] of [[1, 1], [2, 4], [1, 7]]) {
    const b = await WasmBackend.create(model.config, model.plan, weights, {
      maxContext: 64,
      threads,
      shards,
    });
    try {
      const toks = ref.prompt_token_ids.slice(0, 9);
      const logits = await b.forward(toks, 0, { logits: "last" });
      assertEquals(logits[40], logits[3], "equal unembedding rows give equal logits");
      await checkPicks(b, toks, 0, `threads ${threads} shards ${shards}`);
    } finally {
      b.dispose();
    }
  }
});

Deno.test("WasmBackend.greedy()/topk() reject no tokens, a bad k and bad token ids with RangeError", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const b = await WasmBackend.create(model.config, model.plan, model.weights, {
    maxContext: 16,
    threads: 1,
    shards: 2,
  });
  try {
    await assertRejects(() => b.greedy([], 0), RangeError, /need at least one token/);
    await assertRejects(() => b.topk([], 0, 3), RangeError, /need at least one token/);
    for (const k of [0, 1.5, model.config.vocabSize + 1]) {
      await assertRejects(() => b.topk([1], 0, k), RangeError, /out of range/);
    }
    await assertRejects(() => b.greedy([model.config.vocabSize], 0), RangeError, /out of range/);
    await assertRejects(() => b.greedy([1, 2], 15), RangeError, /context overflow/);
    // a failed call leaves the backend usable
    assert(Number.isInteger(await b.greedy([1, 2], 0)));
  } finally {
    b.dispose();
  }
});
