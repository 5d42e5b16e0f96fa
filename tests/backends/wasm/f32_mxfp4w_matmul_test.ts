// f32_mxfp4w_matmul (asm/f32_mxfp4w_matmul.ts; activations quantized to 22-bit integers by quantize_mxfp4_x)
// against the reference f32Mxfp4wMatmul() within the quantization bound: exact fits, tails, several tokens,
// random shapes, the quantizer's layout, and tile-independence of each token's bits.

import { assert, assertEquals } from "../../assert.ts";
import { f32Mxfp4wMatmul } from "../../../src/backends/ref/kernels.ts";
import { expertRow } from "../../../src/model/mxfp4.ts";
import { Harness } from "./kernel_harness.ts";
import { blockMaxAbs, QUANT_STEP } from "./mxfp4_x_quant.ts";
import { randomExperts, randomF32, rng } from "../../random.ts";

/**
 * The error the kernel may make on W[r] . x[t]: the 22-bit quantization moves each activation by at most
 * QUANT_STEP * maxabs(block), so the dot by at most sum(|w| * QUANT_STEP * maxabs) in all, plus f32
 * rounding of the block sums (2^-20 of sum|w*x|, generous for these sizes).
 */
function quantBound(w: Float32Array, x: Float32Array, t: number, cols: number, step: number): number {
  const m = blockMaxAbs(x, t, cols);
  let q = 0, abs = 0;
  for (let c = 0; c < cols; c++) {
    q += Math.abs(w[c]) * m[c >> 5] * step;
    abs += Math.abs(w[c] * x[t * cols + c]);
  }
  return q + abs * 2 ** -20;
}

function checkMatmul(rows: number, cols: number, n: number, seed: number): void {
  const r = rng(seed);
  const m = randomExperts(r, 1, rows, cols);
  const x = randomF32(n * cols, r);
  const want = new Float32Array(n * rows);
  // output row i holds input row n-1-i: the lists are honoured in both directions
  for (let i = 0; i < n; i++) {
    f32Mxfp4wMatmul(want.subarray((n - 1 - i) * rows, (n - i) * rows), x, i * cols, m, 0);
  }
  const h = new Harness();
  const quantize = h.k.quantize_mxfp4_x, matmul = h.k.f32_mxfp4w_matmul, step = QUANT_STEP;
  const xq = h.zeros(n * h.k.mxfp4_xq_row_bytes(cols)), y = h.zeros(want.byteLength);
  quantize(h.put(x), xq, n, cols);
  const xRows = h.put(Int32Array.from({ length: n }, (_, i) => i));
  const yRows = h.put(Int32Array.from({ length: n }, (_, i) => n - 1 - i));
  matmul(
    h.put(m.blocks),
    h.put(m.scales),
    h.put(m.bias),
    rows,
    cols,
    xq,
    xRows,
    n,
    y,
    yRows,
    rows,
  );
  const got = h.f32(y, n * rows), w = new Float32Array(cols);
  let worst = 0;
  for (let row = 0; row < rows; row++) {
    expertRow(m, 0, row, w);
    for (let i = 0; i < n; i++) {
      const at = (n - 1 - i) * rows + row, err = Math.abs(got[at] - want[at]);
      const bound = quantBound(w, x, i, cols, step) + Math.abs(want[at]) * 2 ** -22;
      assert(
        err <= bound,
        `rows ${rows} cols ${cols} n ${n}: row ${row} token ${i} off by ${err} > ${bound}`,
      );
      worst = Math.max(worst, err / bound);
    }
  }
  assert(worst <= 1, `rows ${rows} cols ${cols} n ${n}: ${worst} of the bound`);
}

Deno.test("quantize_mxfp4_x() keeps every activation within 2^-22 of its block's largest, in weight-lane order", () => {
  const r = rng(11), cols = 96, n = 3;
  const x = randomF32(n * cols, r, 5);
  x.fill(0, cols, cols + 32); // an all-zero block: scale 0, digits 0
  const h = new Harness();
  const rowBytes = h.k.mxfp4_xq_row_bytes(cols), xq = h.zeros(n * rowBytes);
  assertEquals(rowBytes, (cols / 32) * 128);
  h.k.quantize_mxfp4_x(h.put(x), xq, n, cols);
  // column c of a block sits at byte (c & 1) * 16 + (c >> 1) of each digit plane
  const slot = (c: number) => (c & 1) * 16 + (c >> 1);
  for (let t = 0; t < n; t++) {
    // per block of 128 bytes: digit planes d2, d1, d0 (32 i8 each), scale / 2 in 4 f32 lanes, then
    // 12 * (sum of q over columns 8l..8l+7) in i32 lane l
    const digits = new Int8Array(h.memory.buffer, xq + t * rowBytes, rowBytes);
    const f32 = new Float32Array(h.memory.buffer, xq + t * rowBytes, rowBytes / 4);
    const i32 = new Int32Array(h.memory.buffer, xq + t * rowBytes, rowBytes / 4);
    const m = blockMaxAbs(x, t, cols);
    for (let g = 0; g < cols / 32; g++) {
      const scale = 2 * f32[32 * g + 24];
      for (let lane = 1; lane < 4; lane++) assertEquals(f32[32 * g + 24 + lane], f32[32 * g + 24]);
      assert(
        Math.abs(scale - m[g] / (2 ** 22 - 1)) <= m[g] * 2 ** -44,
        `token ${t} block ${g} scale ${scale}`,
      );
      const sums = [0, 0, 0, 0];
      for (let c = 0; c < 32; c++) {
        const at = 128 * g + slot(c);
        const q = digits[at] * 65536 + digits[at + 32] * 256 + digits[at + 64];
        sums[c >> 3] += q;
        const v = x[t * cols + 32 * g + c], back = q * scale;
        assert(Math.abs(back - v) <= m[g] * QUANT_STEP, `token ${t} block ${g} column ${c}: ${back} vs ${v}`);
      }
      for (let lane = 0; lane < 4; lane++) assertEquals(i32[32 * g + 28 + lane], 12 * sums[lane]);
    }
  }
});

Deno.test("f32_mxfp4w_matmul() matches f32Mxfp4wMatmul() on exact fits, tails and several tokens", () => {
  checkMatmul(4, 32, 1, 1);
  checkMatmul(4, 64, 2, 2);
  checkMatmul(5, 96, 3, 3);
  checkMatmul(9, 160, 7, 4);
  checkMatmul(3, 2880, 5, 5); // gpt-oss-20b's hidden width
  checkMatmul(7, 64, 1, 6); // one token: rows in fours, then the other three one by one
  checkMatmul(8, 96, 1, 7); // one token: an exact fit of fours
});

Deno.test("f32_mxfp4w_matmul() matches f32Mxfp4wMatmul() on random shapes", () => {
  const r = rng(7);
  for (let i = 0; i < 5; i++) {
    checkMatmul(1 + Math.floor(r() * 30), 32 * (1 + Math.floor(r() * 8)), 1 + Math.floor(r() * 6), 10 + i);
  }
});

Deno.test("f32_mxfp4w_matmul() gives each token the same bits alone or in tiles", () => {
  const r = rng(43), rows = 6, cols = 96, n = 7;
  const m = randomExperts(r, 1, rows, cols);
  const x = randomF32(n * cols, r);
  const h = new Harness();
  const xp = h.zeros(n * h.k.mxfp4_xq_row_bytes(cols)), y = h.zeros(n * rows * 4);
  const bl = h.put(m.blocks), sc = h.put(m.scales), bi = h.put(m.bias);
  const matmul = h.k.f32_mxfp4w_matmul;
  h.k.quantize_mxfp4_x(h.put(x), xp, n, cols);
  const ids = h.put(Int32Array.from({ length: n }, (_, i) => i));
  matmul(bl, sc, bi, rows, cols, xp, ids, n, y, ids, rows);
  const batch = h.f32(y, n * rows);
  for (let i = 0; i < n; i++) {
    matmul(bl, sc, bi, rows, cols, xp, ids + i * 4, 1, y, ids + i * 4, rows);
    assertEquals(
      Array.from(h.f32(y + i * rows * 4, rows)),
      Array.from(batch.subarray(i * rows, (i + 1) * rows)),
      `token ${i}`,
    );
  }
});
