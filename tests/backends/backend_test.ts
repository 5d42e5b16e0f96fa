// The argument and result checks every backend shares (backend.ts): batches, slots, positions, token ids,
// k, and logits that must be finite.

import { assertEquals, assertThrows } from "../assert.ts";
import {
  checkBatch,
  checkFinite,
  checkPickBatch,
  checkTopK,
  NonFiniteError,
} from "../../src/backends/backend.ts";

Deno.test("checkFinite() passes finite rows and names the first NaN or infinite logit and its position", () => {
  checkFinite(new Float32Array([1, -2, 3e38, -0, 0]), 5, 0);
  for (
    const [bad, at, value] of [[NaN, 7, NaN], [Infinity, 3, Infinity], [-Infinity, 9, -Infinity]] as const
  ) {
    const v = new Float32Array(10).fill(0.5);
    v[at] = bad;
    const e = assertThrows(() => checkFinite(v, 5, 100), NonFiniteError);
    assertEquals([e.value, e.position], [value, 100 + Math.floor(at / 5)]);
  }
});

Deno.test("checkBatch() wants each slot once and in range; greedy/topk batches need a token each", () => {
  const seq = (slot: number, tokens = [1]) => ({ slot, tokens, pos: 0 });
  checkBatch([seq(0), seq(2)], 3, 16, 10);
  assertThrows(
    () => checkBatch([seq(1), seq(1)], 3, 16, 10),
    RangeError,
    /slot 1 appears twice in one batch/,
  );
  assertThrows(
    () => checkBatch([seq(3)], 3, 16, 10),
    RangeError,
    /slot 3 out of range \(the backend has 3\)/,
  );
  assertThrows(() => checkBatch([seq(0.5)], 3, 16, 10), RangeError, /slot 0\.5 out of range/);
  assertThrows(
    () => checkBatch([{ slot: 0, tokens: [1], pos: 16 }], 1, 16, 10),
    RangeError,
    /context overflow/,
  );
  assertThrows(() => checkBatch([seq(0, [10])], 1, 16, 10), RangeError, /token id 10 out of range/);
  assertThrows(() => checkPickBatch([seq(0, [])], 1, 16, 10), RangeError, /need at least one token/);
  assertThrows(() => checkTopK(11, 10), RangeError, /topk: k 11 out of range/);
});
