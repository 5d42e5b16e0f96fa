// DenseInput runs a long matmul in row blocks and leaves between two once abandoned() says so: the blocks
// give the bits of one kernel call over all rows (every format), and an abandoned matmul stops after the
// block it is in.

import { assert, assertEquals } from "../../assert.ts";
import { denseBlockRows, DenseInput } from "../../../src/backends/wasm/shard_ops.ts";
import { denseBytes, type DenseFormat, type DenseSlice } from "../../../src/backends/wasm/shard_layout.ts";
import { I8W_X_QMAX } from "../../../src/backends/ref/int8_kernels.ts";
import { f32ToBf16 } from "../../../src/model/dtypes.ts";
import { Harness } from "./kernel_harness.ts";
import { randomF32, rng } from "../../random.ts";

const FORMATS: DenseFormat[] = ["i8", "bf16", "f32"];

Deno.test("denseBlockRows: multiples of 32 rows within the multiply-add and weight-byte budgets", () => {
  for (const format of FORMATS) {
    for (const [tokens, cols] of [[1, 2880], [64, 2880], [512, 4096], [1, 64], [4096, 14336]]) {
      const rows = denseBlockRows(format, tokens, cols);
      assert(rows >= 32 && rows % 32 === 0, `${format} ${tokens}x${cols}: ${rows}`);
      if (rows > 32) {
        assert(
          rows * tokens * cols <= 2 ** 27,
          `${format} ${tokens}x${cols}: ${rows} rows, too many products`,
        );
        assert(
          denseBytes(format, rows, cols) <= 2 ** 24 + 1024,
          `${format} ${tokens}x${cols}: too many bytes`,
        );
      }
    }
  }
  // the 20b unembedding on one token reads its ~290 MB shard in some 18 blocks, not one
  assert(denseBlockRows("i8", 1, 2880) < 8192);
});

/** A `format` slice of `rows` x `cols` random weights (and a bias) in h's memory. */
function slice(h: Harness, format: DenseFormat, rows: number, cols: number, seed: number): DenseSlice {
  const r = rng(seed), wf = randomF32(rows * cols, r, 0.1), w = h.zeros(denseBytes(format, rows, cols) + 64);
  if (format === "i8") h.k.pack_i8w_f32(h.put(wf), rows, cols, w);
  else if (format === "bf16") {
    const b = Uint16Array.from(wf, f32ToBf16);
    new Uint16Array(h.memory.buffer, w, b.length).set(b);
  } else new Float32Array(h.memory.buffer, w, wf.length).set(wf);
  return { format, w, bias: h.put(randomF32(rows + 4, r)), r0: 0, rows, cols };
}

Deno.test("DenseInput: row blocks give one call's bits; abandoned, the matmul stops after its block", () => {
  const h = new Harness(4096);
  const tokens = 64, cols = 128, rows = 40_002;
  const x = h.put(randomF32(tokens * cols, rng(7))), xp = h.zeros(tokens * cols * 4 + 1024);
  const y = h.zeros(tokens * rows * 4), yOne = h.zeros(tokens * rows * 4);
  for (const [i, format] of FORMATS.entries()) {
    const m = slice(h, format, rows, cols, 11 + i), block = denseBlockRows(format, tokens, cols);
    assert(rows > 2 * block, `${format}: ${rows} rows make at least three blocks of ${block}`);
    new DenseInput(h.k, x, xp, tokens, I8W_X_QMAX).matmul(m, y);
    // one kernel call over all the rows (DenseInput prepared xp for this format above)
    if (format === "i8") h.k.f32_i8w_matmul(m.w, m.bias, rows, cols, xp, tokens, yOne, rows);
    else if (format === "bf16") h.k.f32_bf16w_matmul(m.w, m.bias, rows, cols, xp, tokens, yOne, rows);
    else h.k.f32_f32w_matmul(m.w, m.bias, rows, cols, x, tokens, yOne, rows);
    assertEquals(h.i32(y, tokens * rows), h.i32(yOne, tokens * rows), `${format}: the same bits`);

    // abandoned once the first block ran: only its rows are written
    new Float32Array(h.memory.buffer, y, tokens * rows).fill(NaN);
    let calls = 0;
    new DenseInput(h.k, x, xp, tokens, I8W_X_QMAX, () => ++calls > 0).matmul(m, y);
    const got = h.f32(y, tokens * rows);
    for (const t of [0, tokens - 1]) {
      const row = got.subarray(t * rows, (t + 1) * rows);
      assert(row.subarray(0, block).every(Number.isFinite), `${format}: token ${t}'s first block written`);
      assert(row.subarray(block).every(Number.isNaN), `${format}: token ${t}'s later blocks left`);
    }
    assertEquals(calls, 1, `${format}: asked once, between the first and second block`);
  }
});
