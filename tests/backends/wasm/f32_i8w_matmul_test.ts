// f32_i8w_matmul, quantize_i8w_x and pack_i8w_bf16 / pack_i8w_f32 against their scalar definition in
// src/backends/ref/int8_kernels.ts (the same integers, the same block sums), and against the f32 f32Bf16wMatmul()
// within the bound of the two quantizations; in both of the kernel's forms (one relaxed dot per 16 products
// where this machine's dot reads u8 exactly, else two 7-bit digits), which must give the same bits, and on
// every tile: one token's 16-row tile, the panels of up to four row pairs against chunks of 4, 3, 2 and 1
// tokens, and the row groups and partial groups left over.

import { assert, assertEquals } from "../../assert.ts";
import { f32Bf16wMatmul } from "../../../src/backends/ref/kernels.ts";
import {
  f32I8wMatmul,
  I8W_X_QMAX,
  quantizeBlocks,
  quantizeI8Weights,
} from "../../../src/backends/ref/int8_kernels.ts";
import { bf16ToF32, f32ToBf16, type Mat } from "../../../src/model/dtypes.ts";
import { Harness } from "./kernel_harness.ts";
import { randomF32, rng } from "../../random.ts";

function randomBf16(rows: number, cols: number, r: () => number): Mat {
  const data = Uint16Array.from(
    { length: rows * cols },
    () => f32ToBf16((r() * 2 - 1) * 2 ** Math.floor(r() * 4 - 6)),
  );
  return { dtype: "BF16", rows, cols, data };
}

/** The kernel's forms: 1 the u8 form (the digit form where the probe finds no exact u8 dot), 0 digits. */
const FORMS = [1, 0];

/** The same values as f32 weights (what f16 and f32 checkpoints are widened to at load). */
function asF32(m: Mat): Mat {
  return { ...m, dtype: "F32", data: Float32Array.from(m.data as Uint16Array, bf16ToF32) };
}

/**
 * Packs m on the wasm side, quantizes x and sets the kernel's form; returns offsets of everything the
 * matmul needs and the form in use.
 */
function setUp(h: Harness, m: Mat, x: Float32Array, tokens: number, qMax = I8W_X_QMAX, form = 1) {
  const used = h.k.i8w_u8_dot(form);
  const w = h.zeros(h.k.i8w_bytes(m.rows, m.cols));
  if (m.dtype === "BF16") h.k.pack_i8w_bf16(h.put(m.data as Uint16Array), m.rows, m.cols, w);
  else h.k.pack_i8w_f32(h.put(m.data as Float32Array), m.rows, m.cols, w);
  const xq = h.zeros(tokens * h.k.i8w_xq_row_bytes(m.cols));
  h.k.quantize_i8w_x(h.put(x), xq, tokens, m.cols, qMax);
  return { w, xq, used };
}

for (const dtype of ["BF16", "F32"] as const) {
  Deno.test(`pack_i8w_${dtype.toLowerCase()}() and quantize_i8w_x() give the reference's integers and scales`, () => {
    for (const tokens of [1, 2, 3, 4, 5, 7]) packAndQuantize(dtype, tokens);
  });
}

/**
 * Token t's int8 values, block scales and block sums as quantize_i8w_x lays them out: tokens in chunks of
 * four (the last one the rest), a chunk of n interleaving its tokens' columns four by four, then the
 * scales (block-major, n per block), then the sums alike.
 */
function unpackToken(h: Harness, xq: number, tokens: number, cols: number, t: number) {
  const rb = h.k.i8w_xq_row_bytes(cols), nb = cols / 32, l = t & 3, n = Math.min(4, tokens - (t & ~3));
  const chunk = xq + (t & ~3) * rb;
  const bytes = new Int8Array(h.memory.buffer, chunk, n * cols);
  const q = Array.from({ length: cols }, (_, c) => bytes[(c >> 2) * 4 * n + 4 * l + (c & 3)]);
  const scale = Array.from({ length: nb }, (_, b) => h.f32(chunk + n * cols + 4 * (n * b + l), 1)[0]);
  const sum = Array.from({ length: nb }, (_, b) => h.i32(chunk + n * cols + 4 * (n * nb + n * b + l), 1)[0]);
  return { q, scale, sum };
}

function packAndQuantize(dtype: "BF16" | "F32", tokens: number): void {
  const r = rng(1), rows = 7, cols = 64;
  const bf16 = randomBf16(rows, cols, r);
  (bf16.data as Uint16Array).fill(0, 2 * cols, 3 * cols); // an all-zero row
  const m = dtype === "BF16" ? bf16 : asF32(bf16);
  const x = randomF32(tokens * cols, r, 3);
  x.fill(0, 32, 64); // an all-zero block
  x[5] = 0.5 * (x[6] = 1); // a tie, rounded to even once scaled
  const h = new Harness();
  const { w, xq } = setUp(h, m, x, tokens);
  const want = quantizeI8Weights(m), wantX = quantizeBlocks(x, tokens, cols, I8W_X_QMAX);
  const gb = h.k.i8w_group_bytes(cols), nb = cols / 32;
  const packed = new Uint8Array(h.memory.buffer, w, h.k.i8w_bytes(rows, cols));
  const scaleBits = new Uint16Array(h.memory.buffer, w, h.k.i8w_bytes(rows, cols) / 2);
  for (let row = 0; row < 8; row++) {
    const g = (row >> 2) * gb;
    for (let c = 0; c < cols; c++) {
      // v128 c/4: columns c..c+3 of row r at bytes 4r..4r+3, each as q + 128
      const got = packed[g + (c >> 2) * 16 + (row & 3) * 4 + (c & 3)] - 128;
      assertEquals(got, row < rows ? want.q[row * cols + c] : 0, `w[${row}, ${c}]`);
    }
    for (let b = 0; b < nb; b++) {
      const s = bf16ToF32(scaleBits[(g + cols * 4 + b * 8) / 2 + (row & 3)]);
      assertEquals(s, row < rows ? want.scale[row * nb + b] : 0, `scale[${row}, ${b}]`);
    }
  }
  for (let t = 0; t < tokens; t++) {
    const got = unpackToken(h, xq, tokens, cols, t), wq = [...wantX.q.subarray(t * cols, (t + 1) * cols)];
    assertEquals(got.q, wq, `${tokens} tokens: token ${t}`);
    assertEquals(got.scale, [...wantX.scale.subarray(t * nb, (t + 1) * nb)]);
    // -128 * (sum of q): where the kernel's dot chains start, so they end at W . q
    const sums = Array.from(
      { length: nb },
      (_, b) => 0 - 128 * wq.slice(32 * b, 32 * b + 32).reduce((a, v) => a + v),
    );
    assertEquals(got.sum, sums, `${tokens} tokens: token ${t} sums`);
  }
}

/** Runs the kernel and checks it against f32I8wMatmul (both fma settings bracket the machine) and f32Bf16wMatmul(). */
function check(
  rows: number,
  cols: number,
  tokens: number,
  seed: number,
  bias = true,
  qMax = I8W_X_QMAX,
): void {
  for (const form of FORMS) checkForm(rows, cols, tokens, seed, bias, qMax, form);
}

function checkForm(
  rows: number,
  cols: number,
  tokens: number,
  seed: number,
  bias: boolean,
  qMax: number,
  form: number,
): void {
  const r = rng(seed), m = randomBf16(rows, cols, r), x = randomF32(tokens * cols, r);
  const b = bias ? randomF32(rows, r) : null;
  const h = new Harness(1024);
  const { w, xq } = setUp(h, m, x, tokens, qMax, form);
  // NaN marks what the kernel must not write: the 3 columns past `rows` in each output row
  const stride = rows + 3, y = h.put(new Float32Array(tokens * stride).fill(NaN));
  h.k.f32_i8w_matmul(w, b ? h.put(b) : 0, rows, cols, xq, tokens, y, stride);
  const got = h.f32(y, tokens * stride);
  const wq = quantizeI8Weights(m), xqRef = quantizeBlocks(x, tokens, cols, qMax);
  const fused = new Float32Array(tokens * rows), plain = new Float32Array(tokens * rows);
  f32I8wMatmul(fused, xqRef, wq, b, tokens, true);
  f32I8wMatmul(plain, xqRef, wq, b, tokens, false);
  const exact = new Float32Array(tokens * rows);
  f32Bf16wMatmul(exact, x, m, b, tokens);
  const wf = Float32Array.from(m.data as Uint16Array, bf16ToF32);
  for (let t = 0; t < tokens; t++) {
    for (let row = 0; row < rows; row++) {
      const g = got[t * stride + row], i = t * rows + row;
      const ulp = Math.abs(fused[i]) * 2 ** -20 + 1e-30;
      assert(
        Math.abs(g - fused[i]) <= ulp || Math.abs(g - plain[i]) <= ulp,
        `form ${form} ${rows}x${cols} t=${t} r=${row}: ${g} vs ${fused[i]} / ${plain[i]}`,
      );
      // against f32: each product moves by at most half a step of both quantizations
      let bound = 0;
      for (let c = 0; c < cols; c++) {
        const blk = t * cols + (c & ~31);
        let xMax = 0;
        for (let j = 0; j < 32; j++) xMax = Math.max(xMax, Math.abs(x[blk + j]));
        const wv = Math.abs(wf[row * cols + c]), xv = Math.abs(x[t * cols + c]);
        const xStep = xMax / qMax / 2, wStep = wq.scale[row * (cols / 32) + (c >> 5)] / 2;
        bound += wv * xStep + xv * wStep + wStep * xStep;
      }
      assert(Math.abs(g - exact[i]) <= bound * 1.01 + 1e-6, `${g} vs f32 ${exact[i]} (bound ${bound})`);
    }
  }
  // rows past `rows` of each output row are never written
  for (let t = 0; t < tokens; t++) {
    assertEquals([...got.subarray(t * stride + rows, (t + 1) * stride)], [NaN, NaN, NaN]);
  }
}

Deno.test("f32_i8w_matmul() on one token: 16-row tiles, then 4-row groups, then a partial group", () => {
  check(16, 64, 1, 11);
  check(21 + 16, 96, 1, 12);
  check(3, 32, 1, 13, false);
});

Deno.test("f32_i8w_matmul() on several tokens: chunks of 4, 3, 2 and 1 against panels of 1 to 4 row pairs", () => {
  // 32 rows: one whole panel; 56: a panel, then one of three pairs; 8: a lone pair
  for (const tokens of [2, 3, 4, 5, 6, 7, 8]) check(32, 64, tokens, 20 + tokens);
  check(56, 96, 7, 31);
  check(8, 32, 3, 32, false);
  check(24, 64, 9, 33);
});

Deno.test("f32_i8w_matmul() on several tokens: the odd row group and the partial one left past the pairs", () => {
  check(13, 128, 7, 41); // a pair, then a partial group
  check(5, 32, 2, 42, false); // one group, then a partial one: no pair at all
  check(6, 64, 8, 43);
  check(9, 96, 19, 44);
  check(32 + 8 + 4 + 3, 64, 6, 45); // a panel, a pair, a group, three rows
});

Deno.test("f32_i8w_matmul() on fewer activation levels (qMax 63, 1)", () => {
  check(20, 64, 1, 31, true, 63);
  check(9, 96, 5, 32, true, 1);
});

Deno.test("f32_i8w_matmul() is exact at the extremes: q = -127 (u = 1) and 127 (u = 255), sums +-4064", () => {
  // every weight +-max (stored as 1 and 255) and every activation +-max: each block's dot and its 128 *
  // (sum of q) offset are as large as they get; the results are integers times the scales, so an offset
  // off by one sum shows
  for (const [form, tokens] of FORMS.flatMap((f) => [[f, 1], [f, 9]])) {
    const rows = 40, cols = 64;
    const m: Mat = {
      dtype: "BF16",
      rows,
      cols,
      data: Uint16Array.from({ length: rows * cols }, (_, i) => f32ToBf16((i >> 6) % 3 === 1 ? -1 : 1)),
    };
    const x = Float32Array.from({ length: tokens * cols }, (_, i) => (i % 64 < 32 + (i >> 6)) ? -2 : 2);
    const h = new Harness();
    const { w, xq } = setUp(h, m, x, tokens, I8W_X_QMAX, form), y = h.zeros(tokens * rows * 4);
    h.k.f32_i8w_matmul(w, 0, rows, cols, xq, tokens, y, rows);
    const got = h.f32(y, tokens * rows), want = new Float32Array(tokens * rows);
    f32I8wMatmul(want, quantizeBlocks(x, tokens, cols, I8W_X_QMAX), quantizeI8Weights(m), null, tokens);
    assertEquals([...got], [...want], `form ${form}, ${tokens} tokens`);
    f32Bf16wMatmul(want, x, m, null, tokens);
    for (let i = 0; i < got.length; i++) {
      assert(Math.abs(got[i] - want[i]) < 0.01, `form ${form} ${i}: ${got[i]} ${want[i]}`);
    }
  }
});

Deno.test("f32_i8w_matmul() on random shapes", () => {
  const r = rng(99);
  for (let i = 0; i < 6; i++) {
    check(1 + Math.floor(r() * 40), 32 * (1 + Math.floor(r() * 6)), 1 + Math.floor(r() * 9), 100 + i);
  }
});

Deno.test("f32_i8w_matmul() gives NaN for every row that meets a NaN or infinite activation", () => {
  for (const [bad, form] of [NaN, Infinity, -Infinity].flatMap((v) => FORMS.map((f) => [v, f]))) {
    const r = rng(8),
      rows = 9,
      cols = 64,
      tokens = 2,
      m = randomBf16(rows, cols, r),
      x = randomF32(tokens * cols, r);
    x[cols + 40] = bad; // token 1, second block
    const h = new Harness(),
      { w, xq } = setUp(h, m, x, tokens, I8W_X_QMAX, form),
      y = h.zeros(tokens * rows * 4);
    h.k.f32_i8w_matmul(w, 0, rows, cols, xq, tokens, y, rows);
    const got = h.f32(y, tokens * rows);
    assert(got.subarray(0, rows).every(Number.isFinite), `${bad}: token 0 stays finite`);
    assert(got.subarray(rows).every(Number.isNaN), `${bad}: token 1 is NaN in every row`);
  }
});
