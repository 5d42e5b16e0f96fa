// f32_f32w_matmul (asm/f32_f32w_matmul.ts) against the reference f32Bf16wMatmul() on f32 weights: tiles,
// row, token and column tails, bias, random shapes; each token's bits independent of the token count.

import { assert, assertEquals } from "../../assert.ts";
import { f32Bf16wMatmul } from "../../../src/backends/ref/kernels.ts";
import type { Mat } from "../../../src/model/dtypes.ts";
import { Harness } from "./kernel_harness.ts";
import { maxScaledDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

function f32Mat(r: () => number, rows: number, cols: number): Mat {
  return { dtype: "F32", rows, cols, data: randomF32(rows * cols, r, 0.5) };
}

Deno.test("f32_f32w_matmul() matches f32Bf16wMatmul(): tiles of 2x4 and 4x1, row, token and column tails, bias", () => {
  const r = rng(17);
  const shapes = [[8, 64, 1], [8, 64, 4], [7, 13, 5], [3, 5, 9], [1, 3, 2], [64, 256, 7], [5, 768, 3]];
  for (let i = 0; i < 4; i++) {
    shapes.push([1 + Math.floor(r() * 40), 1 + Math.floor(r() * 200), 1 + Math.floor(r() * 11)]);
  }
  for (const [rows, cols, tokens] of shapes) {
    const w = f32Mat(r, rows, cols), x = randomF32(tokens * cols, r), bias = randomF32(rows, r);
    for (const withBias of [true, false]) {
      const want = new Float32Array(tokens * rows);
      f32Bf16wMatmul(want, x, w, withBias ? bias : null, tokens);
      const h = new Harness(), k = h.k;
      const y = h.zeros(want.byteLength);
      k.f32_f32w_matmul(
        h.put(w.data as Float32Array),
        withBias ? h.put(bias) : 0,
        rows,
        cols,
        h.put(x),
        tokens,
        y,
        rows,
      );
      const d = maxScaledDiff(h.f32(y, want.length), want);
      assert(d < 1e-5, `${rows}x${cols} x ${tokens} tokens differs by ${d}`);
    }
  }
});

Deno.test("f32_f32w_matmul() gives each token the same bits whatever the token count (chunked prefill)", () => {
  const r = rng(18), rows = 11, cols = 37, tokens = 9;
  const w = randomF32(rows * cols, r), x = randomF32(tokens * cols, r), bias = randomF32(rows, r);
  const h = new Harness(), k = h.k;
  const wa = h.put(w), xa = h.put(x), ba = h.put(bias), all = h.zeros(tokens * rows * 4);
  k.f32_f32w_matmul(wa, ba, rows, cols, xa, tokens, all, rows);
  for (let t = 0; t < tokens; t++) {
    const one = h.zeros(rows * 4);
    k.f32_f32w_matmul(wa, ba, rows, cols, xa + t * cols * 4, 1, one, rows);
    assertEquals(Array.from(h.f32(one, rows)), Array.from(h.f32(all + t * rows * 4, rows)), `token ${t}`);
  }
});
