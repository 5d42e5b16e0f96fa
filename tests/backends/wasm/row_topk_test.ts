// row_topk (asm/row_topk.ts) against the reference rowTopk() over the row's non-NaN values: random rows, ties,
// k = 1 / 64 / 1024, rows shorter than k, -Infinity and NaN values, partial SIMD tails.

import { assertEquals } from "../../assert.ts";
import { rowTopk } from "../../../src/backends/ref/kernels.ts";
import { Harness } from "./kernel_harness.ts";
import { rng } from "../../random.ts";

/** The k best (value desc, index asc) of the non-NaN values of `x`: rowTopk() over those, NaN never chosen. */
function scalarTopK(x: Float32Array, k: number): { ids: number[]; vals: number[] } {
  const kept = [...x.keys()].filter((i) => !Number.isNaN(x[i]));
  const ids = rowTopk(kept.map((i) => x[i]), k).map((j) => kept[j]);
  return { ids, vals: ids.map((i) => x[i]) };
}

function check(x: Float32Array, k: number, what: string): void {
  const h = new Harness(64);
  const ids = h.zeros(k * 4), vals = h.zeros(k * 4);
  const count = h.k.row_topk(h.put(x), x.length, k, ids, vals);
  const want = scalarTopK(x, k);
  assertEquals(count, want.ids.length, `${what}: count`);
  assertEquals(Array.from(h.i32(ids, count)), want.ids, `${what}: ids`);
  assertEquals(Array.from(h.f32(vals, count)), want.vals, `${what}: values`);
  // the slots past the count are marked empty
  assertEquals(Array.from(h.i32(ids + count * 4, k - count)), new Array(k - count).fill(-1), `${what}: tail`);
}

/** A random row of n values; `levels` > 0 draws from that many distinct values (many ties). */
function row(n: number, seed: number, levels = 0): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = r();
    return levels > 0 ? Math.floor(u * levels) - levels / 2 : (u * 2 - 1) * 30;
  });
}

Deno.test("row_topk() matches rowTopk() on random rows for k = 1, 2, 64 and 1024", () => {
  for (
    const [n, k, seed] of [[1, 1, 1], [7, 1, 2], [4099, 1, 3], [4096, 2, 4], [25137, 64, 5], [3001, 64, 6]]
  ) {
    check(row(n, seed), k, `n ${n} k ${k}`);
  }
  check(row(9000, 7), 1024, "n 9000 k 1024");
});

Deno.test("row_topk() breaks ties toward the lower index", () => {
  for (const [n, k, levels, seed] of [[1000, 1, 3, 8], [1001, 64, 5, 9], [203, 17, 2, 10], [64, 64, 1, 11]]) {
    check(row(n, seed, levels), k, `n ${n} k ${k} levels ${levels}`);
  }
  // equal maxima at both ends of a SIMD group, and the same value entering after the heap is full
  check(Float32Array.from([1, 5, 2, 5, 5, 0, 5, 3, 5]), 1, "equal maxima");
  check(Float32Array.from([4, 4, 4, 4, 4, 4, 4, 4, 9, 4]), 3, "equal at the root");
});

Deno.test("row_topk() returns the whole row, sorted, when it is shorter than k", () => {
  check(row(5, 12), 64, "n 5 k 64");
  check(row(63, 13, 4), 64, "n 63 k 64");
  check(new Float32Array(0), 4, "empty row");
});

Deno.test("row_topk() ranks -Infinity as a value and never chooses NaN", () => {
  const x = row(1030, 14);
  for (let i = 0; i < x.length; i += 3) x[i] = -Infinity;
  for (let i = 1; i < x.length; i += 7) x[i] = NaN;
  check(x, 64, "mixed");
  // mostly -Infinity: the -Infinity entries fill up the k after the finite ones, by index
  const y = new Float32Array(300).fill(-Infinity);
  y[250] = 2, y[17] = NaN, y[3] = -1;
  check(y, 8, "mostly -Infinity");
  // NaN everywhere but two values: fewer than k come back
  const z = new Float32Array(50).fill(NaN);
  z[40] = 1, z[9] = 1;
  check(z, 5, "mostly NaN");
  check(new Float32Array(13).fill(NaN), 1, "all NaN");
  // NaN past the heap fill, inside SIMD groups
  const w = row(4000, 15);
  for (let i = 100; i < w.length; i += 5) w[i] = NaN;
  check(w, 10, "NaN after the fill");
});
