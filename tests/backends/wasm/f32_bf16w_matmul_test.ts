// f32_bf16w_matmul (decode, pair and prefill paths) against the reference f32Bf16wMatmul().

import { assert, assertEquals } from "../../assert.ts";
import { f32Bf16wMatmul } from "../../../src/backends/ref/kernels.ts";
import { f32ToBf16, type Mat } from "../../../src/model/dtypes.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

function check(rows: number, cols: number, tokens: number, withBias: boolean, seed: number): void {
  const r = rng(seed);
  const w: Mat = { dtype: "BF16", rows, cols, data: Uint16Array.from(randomF32(rows * cols, r), f32ToBf16) };
  const x = randomF32(tokens * cols, r), bias = withBias ? randomF32(rows, r) : null;
  const want = new Float32Array(tokens * rows);
  f32Bf16wMatmul(want, x, w, bias, tokens);

  const h = new Harness();
  const xp = h.zeros(x.byteLength), y = h.zeros(want.byteLength);
  h.k.permute_bf16_x(h.put(x), xp, tokens * cols);
  h.k.f32_bf16w_matmul(h.put(w.data as Uint16Array), bias ? h.put(bias) : 0, rows, cols, xp, tokens, y, rows);
  const d = maxRelDiff(h.f32(y, tokens * rows), want);
  assert(d < 1e-5, `rows ${rows} cols ${cols} tokens ${tokens}: differs by ${d}`);
}

Deno.test("f32_bf16w_matmul() matches f32Bf16wMatmul() on exact tiles (4 rows, 4 tokens)", () => {
  check(8, 64, 1, true, 1);
  check(8, 64, 4, true, 2);
  check(16, 256, 8, false, 3);
});

Deno.test("f32_bf16w_matmul() matches f32Bf16wMatmul() on token pairs (2, 3, 6 tokens; 4-row tiles and tails)", () => {
  check(8, 64, 2, true, 11);
  check(9, 48, 3, false, 12);
  check(6, 32, 6, true, 13);
  check(3, 16, 2, true, 14);
});

Deno.test("f32_bf16w_matmul() matches f32Bf16wMatmul() with partial row and token tails", () => {
  check(7, 72, 1, true, 4);
  check(1, 8, 1, true, 5);
  check(13, 40, 5, true, 6);
  check(3, 16, 7, false, 7);
});

Deno.test("f32_bf16w_matmul() matches f32Bf16wMatmul() on random shapes", () => {
  const r = rng(99);
  for (let i = 0; i < 6; i++) {
    check(
      1 + Math.floor(r() * 40),
      8 * (1 + Math.floor(r() * 40)),
      1 + Math.floor(r() * 9),
      r() < 0.5,
      100 + i,
    );
  }
});

Deno.test("f32_bf16w_matmul() gives each token the same bits alone or in a batch of any size", () => {
  for (const tokens of [2, 3, 7]) sameBitsAlone(tokens);
});

function sameBitsAlone(tokens: number): void {
  const r = rng(42 + tokens), rows = 19, cols = 72;
  const w = Uint16Array.from(randomF32(rows * cols, r), f32ToBf16), x = randomF32(tokens * cols, r);
  const h = new Harness();
  const wAt = h.put(w), xp = h.zeros(x.byteLength), y = h.zeros(tokens * rows * 4);
  h.k.permute_bf16_x(h.put(x), xp, tokens * cols);
  h.k.f32_bf16w_matmul(wAt, 0, rows, cols, xp, tokens, y, rows);
  const batch = h.f32(y, tokens * rows);
  for (let t = 0; t < tokens; t++) {
    h.k.f32_bf16w_matmul(wAt, 0, rows, cols, xp + t * cols * 4, 1, y, rows);
    assertEquals(
      Array.from(h.f32(y, rows)),
      Array.from(batch.subarray(t * rows, (t + 1) * rows)),
      `token ${t} of ${tokens}`,
    );
  }
}
