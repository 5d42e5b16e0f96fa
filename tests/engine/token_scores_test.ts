// scoreToken() against a plain f64 log-softmax and a full sort: the token's logprob, its rank (1 exactly
// when it is an argmax), the top ids in order with ties to the lower id, and its argument checks.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { MAX_SCORE_TOP, scoreToken } from "../../src/engine/token_scores.ts";
import { randomF32, rng } from "../random.ts";

function assertAlmostEquals(a: number, b: number, tol: number): void {
  assert(Math.abs(a - b) <= tol, `${a} vs ${b} (tolerance ${tol})`);
}

/** log-softmax of a row, in f64, the obvious way. */
function logSoftmax(row: Float32Array): number[] {
  const x = Array.from(row);
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
}

Deno.test("scoreToken() is the log-softmax of the row at the token, its rank and the true top ids", () => {
  const r = rng(7);
  for (const [vocab, top, scale] of [[50, 5, 3], [1000, 20, 10], [7, 7, 1], [300, 0, 30], [1, 1, 1]]) {
    const row = randomF32(vocab, r, scale);
    // ties: a few repeated values, one of them the maximum
    row[vocab - 1] = row[0];
    const lp = logSoftmax(row);
    const order = [...lp.keys()].sort((a, b) => lp[b] - lp[a] || a - b);
    for (const id of [0, vocab - 1, order[0], Math.floor(r() * vocab)]) {
      const s = scoreToken(row, id, top);
      assertEquals(s.id, id);
      assertAlmostEquals(s.logprob, lp[id], 1e-12);
      assertEquals(s.rank, 1 + lp.filter((v) => v > lp[id]).length);
      assertEquals(s.top.map((t) => t.id), order.slice(0, Math.min(top, vocab)));
      for (const t of s.top) assertAlmostEquals(t.logprob, lp[t.id], 1e-12);
      // the token's own entry and its entry among the top are the same number (greedy checks compare them)
      const self = s.top.find((t) => t.id === id);
      if (self) assertEquals(self.logprob, s.logprob);
      assertEquals(s.rank === 1, row[id] === Math.max(...row));
    }
  }
});

Deno.test("scoreToken() stays finite and exact-ish for large logits and a peaked row", () => {
  const row = new Float32Array(201_088).fill(-30);
  row[12345] = 80;
  row[7] = 79;
  const s = scoreToken(row, 7, 2);
  assertEquals(s.top.map((t) => t.id), [12345, 7]);
  assertEquals(s.rank, 2);
  const lse = 80 + Math.log(1 + Math.exp(-1) + (201_088 - 2) * Math.exp(-110));
  assertAlmostEquals(s.logprob, 79 - lse, 1e-12);
  assert(Number.isFinite(scoreToken(row, 0, 0).logprob));
});

Deno.test("scoreToken() refuses a bad id or top", () => {
  const row = new Float32Array(10);
  assertThrows(() => scoreToken(row, 10, 1), RangeError);
  assertThrows(() => scoreToken(row, -1, 1), RangeError);
  assertThrows(() => scoreToken(row, 1.5, 1), RangeError);
  assertThrows(() => scoreToken(row, 0, MAX_SCORE_TOP + 1), RangeError);
  assertThrows(() => scoreToken(row, 0, -1), RangeError);
});
