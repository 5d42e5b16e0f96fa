// Batches that exercise a backend's KV slots, shared by the backends' batch tests: a script of prompts and
// decode steps over four slots, and the check that greedy()/topk() of a batch pick forward()'s.

import { assert, assertEquals } from "../assert.ts";
import type { Backend, Sequence } from "../../src/backends/backend.ts";
import { rowTopkArgmax } from "../../src/backends/ref/kernels.ts";
import { rng } from "../random.ts";

/**
 * Batches that exercise the slots: A (13 tokens) and B (5) prefilled together, C (7) joining the decode
 * steps of A and B, then decode batches of 4, 3 and 2 sequences at different positions, slots out of order.
 */
export function script(vocab: number, seed: number): Sequence[][] {
  const r = rng(seed), toks = (n: number) => Array.from({ length: n }, () => Math.floor(r() * vocab));
  const one = () => toks(1);
  return [
    [{ slot: 0, tokens: toks(13), pos: 0, logits: "all" }, {
      slot: 2,
      tokens: toks(5),
      pos: 0,
      logits: "last",
    }],
    [
      { slot: 2, tokens: one(), pos: 5, logits: "last" },
      { slot: 1, tokens: toks(7), pos: 0, logits: "all" },
      { slot: 0, tokens: one(), pos: 13, logits: "last" },
    ],
    [
      { slot: 3, tokens: toks(2), pos: 0, logits: "all" },
      { slot: 1, tokens: one(), pos: 7, logits: "last" },
      { slot: 0, tokens: one(), pos: 14, logits: "last" },
      { slot: 2, tokens: one(), pos: 6, logits: "last" },
    ],
    [
      { slot: 1, tokens: one(), pos: 8, logits: "last" },
      { slot: 0, tokens: one(), pos: 15, logits: "none" },
      { slot: 2, tokens: one(), pos: 7, logits: "last" },
    ],
    [{ slot: 2, tokens: one(), pos: 8, logits: "last" }, { slot: 3, tokens: one(), pos: 2, logits: "last" }],
  ];
}

/** greedy() and topk() of a batch of sequences equal forward()'s argmax and sorted logits, per sequence. */
export async function checkPicks(b: Backend, vocab: number, what: string): Promise<void> {
  const batch = [
    { slot: 3, tokens: [1, 2], pos: 3 },
    { slot: 0, tokens: [5], pos: 16 },
    { slot: 2, tokens: [7], pos: 9 },
  ];
  const ids = await b.greedy!(batch);
  const top = await b.topk!(batch, 4);
  // the same rows again (the cache entries are rewritten with the same values)
  const logits = await b.forward(batch.map((s) => ({ ...s, logits: "last" as const })));
  batch.forEach((_, j) => {
    const l = logits[j];
    assertEquals(ids[j], rowTopkArgmax(l), `${what}: greedy of sequence ${j}`);
    const order = Array.from(l.keys()).sort((x, y) => l[y] - l[x] || x - y).slice(0, 4);
    assertEquals(Array.from(top[j].ids), order, `${what}: topk ids of sequence ${j}`);
    assertEquals(Array.from(top[j].logits), order.map((i) => l[i]), `${what}: topk logits of sequence ${j}`);
  });
  assert(vocab >= 4);
}
