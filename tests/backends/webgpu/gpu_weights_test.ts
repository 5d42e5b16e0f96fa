// The weight layouts of gpu_weights.ts: rows interleaved (fused gate|up) or stacked (fused q|k|v), raw words for
// one dtype, widened to f32 for mixed dtypes.

import { assertEquals } from "../../assert.ts";
import { rng } from "../../random.ts";
import { randomMat } from "./random_model.ts";
import { loadRow, type Mat } from "../../../src/model/dtypes.ts";
import { interleaveRows, stackRows } from "../../../src/backends/webgpu/gpu_weights.ts";

Deno.test("interleaveRows() alternates the rows of two matrices, raw for one dtype, widened for two", () => {
  const r = rng(14);
  const a = randomMat(r, 3, 4, "BF16"), b = randomMat(r, 3, 4, "BF16"), c = randomMat(r, 3, 4, "F32");
  const same = interleaveRows(a, b),
    row = (m: Mat, i: number) => Array.from(m.data.subarray(i * 4, i * 4 + 4));
  assertEquals([same.dtype, same.rows], ["BF16", 6]);
  for (let i = 0; i < 3; i++) assertEquals([row(same, 2 * i), row(same, 2 * i + 1)], [row(a, i), row(b, i)]);
  const mixed = interleaveRows(a, c), wide = new Float32Array(4);
  assertEquals(mixed.dtype, "F32");
  for (let i = 0; i < 3; i++) {
    loadRow(a, i, wide);
    assertEquals([row(mixed, 2 * i), row(mixed, 2 * i + 1)], [Array.from(wide), row(c, i)]);
  }
});

Deno.test("stackRows() keeps raw words for one dtype and widens mixed dtypes exactly", () => {
  const r = rng(13);
  const a = randomMat(r, 3, 4, "BF16"), b = randomMat(r, 2, 4, "BF16"), c = randomMat(r, 2, 4, "F16");
  const same = stackRows([a, b]);
  assertEquals([same.dtype, same.rows, Array.from(same.data)], ["BF16", 5, [...a.data, ...b.data]]);
  const mixed = stackRows([a, c]);
  const row = new Float32Array(4), bits = new Uint32Array(row.buffer);
  assertEquals(mixed.dtype, "F32");
  for (let i = 0; i < 5; i++) {
    loadRow(i < 3 ? a : c, i < 3 ? i : i - 3, row, bits);
    assertEquals(Array.from(mixed.data.subarray(i * 4, i * 4 + 4)), Array.from(row));
  }
});
