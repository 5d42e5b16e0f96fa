// f32_mxfp4w_matmul_q8 (the fast path's experts: four rows interleaved, int8 activations), its packer and
// quantizer against their scalar definition (f32Mxfp4wMatmulQ8: the same integers and block sums), against
// f32Mxfp4wMatmul() within the int8 bound, and tile-independence of each token's bits: one token's tiles,
// and for four or more the panels (tokens regathered in chunks of four, 32 rows decoded to int8 at a time)
// with the row groups they leave.

import { assert, assertEquals } from "../../assert.ts";
import { f32Mxfp4wMatmul } from "../../../src/backends/ref/kernels.ts";
import { f32Mxfp4wMatmulQ8, quantizeBlocks } from "../../../src/backends/ref/int8_kernels.ts";
import type { Mxfp4Experts } from "../../../src/model/mxfp4.ts";
import { Harness } from "./kernel_harness.ts";
import { randomExperts, randomF32, rng } from "../../random.ts";

/** Packs expert e of m in the harness; returns the packed weights' offset. */
function pack(h: Harness, m: Mxfp4Experts, e: number): number {
  const bpr = m.cols / 2, spr = m.cols / 32;
  const w = h.zeros(h.k.mxfp4_rows4_bytes(m.rows, m.cols));
  h.k.pack_mxfp4_rows4(
    h.put(m.blocks.subarray(e * m.rows * bpr, (e + 1) * m.rows * bpr)),
    h.put(m.scales.subarray(e * m.rows * spr, (e + 1) * m.rows * spr)),
    m.rows,
    m.cols,
    w,
  );
  return w;
}

Deno.test("pack_mxfp4_rows4() puts each code and scale where the layout says", () => {
  const r = rng(1), m = randomExperts(r, 1, 6, 64), h = new Harness();
  const w = pack(h, m, 0), gb = h.k.mxfp4_rows4_group_bytes(64), nb = 2;
  assertEquals(gb, Math.ceil((nb * 68) / 16) * 16);
  const bytes = new Uint8Array(h.memory.buffer, w, h.k.mxfp4_rows4_bytes(6, 64));
  const code = (row: number, c: number) => (m.blocks[row * 32 + (c >> 1)] >> ((c & 1) * 4)) & 15;
  for (let row = 0; row < 8; row++) {
    const g = (row >> 2) * gb, lane = row & 3;
    for (let b = 0; b < nb; b++) {
      for (let k = 0; k < 4; k++) {
        for (let i = 0; i < 4; i++) {
          const byte = bytes[g + b * 64 + k * 16 + lane * 4 + i], c = 32 * b + 8 * k + i;
          assertEquals(byte, row < 6 ? code(row, c) | (code(row, c + 4) << 4) : 0, `row ${row} column ${c}`);
        }
      }
      assertEquals(
        bytes[g + nb * 64 + b * 4 + lane],
        row < 6 ? m.scales[row * nb + b] : 0,
        `scale ${row} ${b}`,
      );
    }
  }
});

Deno.test("quantize_q8_x() gives the reference's integers, half scales and offset sums", () => {
  const r = rng(2), cols = 96, n = 3, x = randomF32(n * cols, r, 4);
  x.fill(0, cols, cols + 32); // an all-zero block
  const h = new Harness(), rb = h.k.q8_xq_row_bytes(cols), xq = h.zeros(n * rb);
  h.k.quantize_q8_x(h.put(x), xq, n, cols);
  const want = quantizeBlocks(x, n, cols, 127);
  for (let t = 0; t < n; t++) {
    assertEquals([...new Int8Array(h.memory.buffer, xq + t * rb, cols)], [
      ...want.q.subarray(t * cols, (t + 1) * cols),
    ]);
    const scales = h.f32(xq + t * rb + cols, 3), sums = h.i32(xq + t * rb + cols + 12, 3);
    for (let b = 0; b < 3; b++) {
      assertEquals(scales[b], want.scale[t * 3 + b] * 0.5);
      const q = want.q.subarray(t * cols + b * 32, t * cols + b * 32 + 32);
      assertEquals(sums[b], 12 * q.reduce((a, v) => a + v, 0));
    }
  }
});

/**
 * Runs the kernel on n tokens of expert 1 of a 3-expert set (output i holds input n-1-i: the lists count)
 * and checks every value against f32Mxfp4wMatmulQ8 and f32Mxfp4wMatmul.
 */
function check(rows: number, cols: number, n: number, seed: number): Float32Array {
  const r = rng(seed), m = randomExperts(r, 3, rows, cols), x = randomF32(n * cols, r, 2);
  const h = new Harness(1024), e = 1;
  const w = pack(h, m, e), rb = h.k.q8_xq_row_bytes(cols), xq = h.zeros(n * rb);
  h.k.quantize_q8_x(h.put(x), xq, n, cols);
  const stride = rows + 3, y = h.put(new Float32Array(n * stride).fill(NaN));
  const scratch = h.zeros(h.k.mxfp4_q8_scratch_bytes(n, cols));
  h.k.f32_mxfp4w_matmul_q8(
    w,
    h.put(m.bias.subarray(e * rows, (e + 1) * rows)),
    rows,
    cols,
    xq,
    h.put(Int32Array.from({ length: n }, (_, i) => i)),
    n,
    y,
    h.put(Int32Array.from({ length: n }, (_, i) => n - 1 - i)),
    stride,
    scratch,
  );
  const got = h.f32(y, n * stride);
  const q = quantizeBlocks(x, n, cols, 127);
  const fused = new Float32Array(n * rows), plain = new Float32Array(n * rows);
  f32Mxfp4wMatmulQ8(fused, q, m, e, n, true);
  f32Mxfp4wMatmulQ8(plain, q, m, e, n, false);
  const exact = new Float32Array(rows);
  for (let t = 0; t < n; t++) {
    f32Mxfp4wMatmul(exact, x, t * cols, m, e);
    const out = (n - 1 - t) * stride;
    for (let row = 0; row < rows; row++) {
      const g = got[out + row], i = t * rows + row, ulp = Math.abs(fused[i]) * 2 ** -20 + 1e-30;
      assert(
        Math.abs(g - fused[i]) <= ulp || Math.abs(g - plain[i]) <= ulp,
        `${rows}x${cols} n=${n} t=${t} r=${row}: ${g} vs ${fused[i]} / ${plain[i]}`,
      );
      // against f32: each activation moves by at most half a step of maxabs/127 of its block
      let bound = Math.abs(exact[row]) * 2 ** -20;
      for (let b = 0; b < cols / 32; b++) {
        let xMax = 0, wSum = 0;
        for (let j = 0; j < 32; j++) xMax = Math.max(xMax, Math.abs(x[t * cols + b * 32 + j]));
        for (let j = 0; j < 16; j++) {
          const byte = m.blocks[((e * rows + row) * (cols / 32) + b) * 16 + j];
          wSum += [0, 0.5, 1, 1.5, 2, 3, 4, 6][byte & 7] + [0, 0.5, 1, 1.5, 2, 3, 4, 6][(byte >> 4) & 7];
        }
        bound += (wSum * 2 ** (m.scales[(e * rows + row) * (cols / 32) + b] - 127) * xMax) / 254;
      }
      assert(Math.abs(g - exact[row]) <= bound, `${g} vs f32 ${exact[row]} (bound ${bound})`);
    }
    assertEquals([...got.subarray(out + rows, out + stride)], [NaN, NaN, NaN], "past the last row");
  }
  return got;
}

/** Expert 0 of m on the n tokens of x in one call (input i to output i): the [n, rows] result. */
function runAll(m: Mxfp4Experts, x: Float32Array, n: number): Float32Array {
  const h = new Harness(1024), w = pack(h, m, 0), rb = h.k.q8_xq_row_bytes(m.cols), xq = h.zeros(n * rb);
  h.k.quantize_q8_x(h.put(x), xq, n, m.cols);
  const ids = h.put(Int32Array.from({ length: n }, (_, i) => i)), y = h.zeros(n * m.rows * 4);
  const scratch = h.zeros(h.k.mxfp4_q8_scratch_bytes(n, m.cols));
  h.k.f32_mxfp4w_matmul_q8(w, h.put(m.bias), m.rows, m.cols, xq, ids, n, y, ids, m.rows, scratch);
  return h.f32(y, n * m.rows);
}

Deno.test("f32_mxfp4w_matmul_q8() on one token: 16-row tiles, whole row groups, a partial group", () => {
  check(16, 64, 1, 10);
  check(37, 96, 1, 11); // two 16-row tiles, one group, one row
  check(14, 96, 1, 12);
  check(3, 32, 1, 13);
  check(5, 2880, 1, 14); // gpt-oss-20b's hidden width
});

Deno.test("f32_mxfp4w_matmul_q8() on several tokens: panels of 1 to 4 row pairs, chunks of 4 to 1 tokens", () => {
  check(6, 32, 2, 23); // below four tokens: one at a time
  check(3, 64, 5, 24); // no whole pair: every group token by token
  for (const n of [4, 5, 6, 7, 8, 9]) check(32, 64, n, 20 + n); // one whole panel
  check(56, 96, 7, 31); // a panel, then one of three pairs
  check(32 + 8 + 4 + 3, 64, 6, 32); // a panel, a pair, a group left, three rows left
  check(10, 128, 13, 33);
  check(40, 2880, 4, 34); // gpt-oss-20b's width
});

Deno.test("f32_mxfp4w_matmul_q8() on random shapes", () => {
  const r = rng(77);
  for (let i = 0; i < 6; i++) {
    check(1 + Math.floor(r() * 30), 32 * (1 + Math.floor(r() * 6)), 1 + Math.floor(r() * 9), 100 + i);
  }
});

Deno.test("f32_mxfp4w_matmul_q8() sums the largest products exactly (the i32 chains do not overflow)", () => {
  // every code +6 (offset code 24) and every activation at its block's largest: 24 * 127 per product
  for (const sign of [1, -1]) {
    const rows = 20, cols = 64, n = 5, m = randomExperts(rng(3), 1, rows, cols);
    m.blocks.fill(0x77);
    const x = new Float32Array(n * cols).fill(sign), got = runAll(m, x, n), want = new Float32Array(rows);
    for (let t = 0; t < n; t++) {
      f32Mxfp4wMatmul(want, x, t * cols, m, 0);
      for (let row = 0; row < rows; row++) {
        const g = got[t * rows + row];
        assert(
          Math.abs(g - want[row]) <= Math.abs(want[row]) * 1e-6,
          `sign ${sign} t ${t} r ${row}: ${g} vs ${want[row]}`,
        );
      }
    }
  }
});

Deno.test("f32_mxfp4w_matmul_q8() gives each token the same bits alone or in tiles", () => {
  // 13 tokens: panels of chunks of 4, 4, 4 and 1 on 40 rows, a group and a row left; then each token alone
  const rows = 45,
    cols = 64,
    n = 13,
    r = rng(5),
    m = randomExperts(r, 1, rows, cols),
    x = randomF32(n * cols, r);
  const together = runAll(m, x, n);
  for (let t = 0; t < n; t++) {
    const alone = runAll(m, x.subarray(t * cols, (t + 1) * cols), 1);
    assertEquals([...alone], [...together.subarray(t * rows, (t + 1) * rows)], `token ${t}`);
  }
});

Deno.test("f32_mxfp4w_matmul_q8() gives NaN for every row that meets a NaN or infinite activation", () => {
  // two tokens one at a time; six in a panel's chunks of four and two
  for (const [bad, n] of [NaN, Infinity, -Infinity].flatMap((v) => [[v, 2], [v, 6]])) {
    const rows = 20,
      cols = 64,
      r = rng(4),
      m = randomExperts(r, 1, rows, cols),
      x = randomF32(n * cols, r);
    x[cols + 3] = bad; // token 1, first block
    const got = runAll(m, x, n);
    assert(got.subarray(0, rows).every(Number.isFinite), `${bad}: token 0 stays finite`);
    assert(got.subarray(rows, 2 * rows).every(Number.isNaN), `${bad}: token 1 is NaN in every row`);
    assert(got.subarray(2 * rows).every(Number.isFinite), `${bad}: the tokens after it stay finite`);
  }
});
