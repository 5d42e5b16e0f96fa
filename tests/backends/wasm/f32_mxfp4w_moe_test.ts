// f32_mxfp4w_matmul (activations quantized to 22-bit integers) and the fused MoE kernels, on 22-bit and on
// int8 activations (the four-row packing of f32_mxfp4w_matmul_q8_test.ts), against expertLinear(),
// swigluClamped() and a weighted sum, within each quantization's bound.

import { assert, assertEquals } from "../../assert.ts";
import { expertLinear, swigluClamped } from "../../../src/backends/ref/kernels.ts";
import { expertRow, type Mxfp4Experts } from "../../../src/model/mxfp4.ts";
import { Harness } from "./kernel_harness.ts";
import { maxScaledDiff } from "../../diff.ts";
import { randomExperts, randomF32, rng } from "../../random.ts";

/**
 * Largest move of a quantized activation, relative to its block's largest |x|: q rounds to half a step of
 * maxabs / (2^22 - 1) and the scale is an f32 (2^-24 of maxabs): below 2^-22.
 */
const QUANT_STEP = 2 ** -22;

/** Largest |x| of each 32-column block of row t of x [*, cols]. */
function blockMaxAbs(x: Float32Array, t: number, cols: number): Float32Array {
  const m = new Float32Array(cols / 32);
  for (let c = 0; c < cols; c++) m[c >> 5] = Math.max(m[c >> 5], Math.abs(x[t * cols + c]));
  return m;
}

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
    expertLinear(want.subarray((n - 1 - i) * rows, (n - i) * rows), x, i * cols, m, 0);
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

Deno.test("f32_mxfp4w_matmul() matches expertLinear() on exact fits, tails and several tokens", () => {
  checkMatmul(4, 32, 1, 1);
  checkMatmul(4, 64, 2, 2);
  checkMatmul(5, 96, 3, 3);
  checkMatmul(9, 160, 7, 4);
  checkMatmul(3, 2880, 5, 5); // gpt-oss-20b's hidden width
  checkMatmul(7, 64, 1, 6); // one token: rows in fours, then the other three one by one
  checkMatmul(8, 96, 1, 7); // one token: an exact fit of fours
});

Deno.test("f32_mxfp4w_matmul() matches expertLinear() on random shapes", () => {
  const r = rng(7);
  for (let i = 0; i < 5; i++) {
    checkMatmul(1 + Math.floor(r() * 30), 32 * (1 + Math.floor(r() * 8)), 1 + Math.floor(r() * 6), 10 + i);
  }
});

/** The reference MoE step for `tokens` rows of x with given selections and weights. */
function refMoe(
  gu: Mxfp4Experts,
  dn: Mxfp4Experts,
  x: Float32Array,
  sel: Int32Array,
  wts: Float32Array,
  tokens: number,
  k: number,
) {
  const F = dn.cols, H = dn.rows, limit = 7, alpha = 1.702;
  const act = new Float32Array(tokens * k * F), out = new Float32Array(tokens * H);
  const gateUp = new Float32Array(2 * F), down = new Float32Array(H);
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < k; j++) {
      const i = t * k + j;
      expertLinear(gateUp, x, t * gu.cols, gu, sel[i]);
      swigluClamped(act.subarray(i * F, (i + 1) * F), gateUp, F, limit, alpha);
      expertLinear(down, act, i * F, dn, sel[i]);
      for (let c = 0; c < H; c++) out[t * H + c] += wts[i] * down[c];
    }
  }
  return { act, out };
}

/** The reference down projection and weighted sum of act [tokens*k, F]. */
function refDownSum(
  dn: Mxfp4Experts,
  act: Float32Array,
  sel: Int32Array,
  wts: Float32Array,
  tokens: number,
  k: number,
): Float32Array {
  const F = dn.cols, H = dn.rows, out = new Float32Array(tokens * H), down = new Float32Array(H);
  for (let i = 0; i < tokens * k; i++) {
    expertLinear(down, act, i * F, dn, sel[i]);
    for (let c = 0; c < H; c++) out[Math.floor(i / k) * H + c] += wts[i] * down[c];
  }
  return out;
}

/** Scaled error allowed on the MoE outputs (see checkMoe). */
const MOE_TOLERANCE = 1e-5;

/**
 * x [rows, cols] as the int8 kernels see it: per 32-value block, q = round(x * 127 / maxabs) (ties to even,
 * as the kernel's f64 `nearest`) times the f32 scale. The int8 MoE must match the reference run on these.
 */
function int8Rounded(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let t = 0; t < rows; t++) {
    const m = blockMaxAbs(x, t, cols);
    for (let c = 0; c < cols; c++) {
      const maxAbs = m[c >> 5];
      if (maxAbs === 0) continue;
      const scale = 2 * Math.fround((maxAbs / 127) * 0.5), v = x[t * cols + c] * (127 / maxAbs);
      const q = Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v);
      out[t * cols + c] = q * scale;
    }
  }
  return out;
}

function checkMoe(
  experts: number,
  H: number,
  F: number,
  tokens: number,
  k: number,
  seed: number,
  int8 = false,
): void {
  const r = rng(seed);
  const gu = randomExperts(r, experts, 2 * F, H), dn = randomExperts(r, experts, H, F);
  const x = randomF32(tokens * H, r, 2);
  const sel = Int32Array.from({ length: tokens * k }, () => Math.floor(r() * experts));
  const wts = Float32Array.from({ length: tokens * k }, () => r());
  // int8: gate_up is checked on int8-rounded x, down on the int8-rounding of the kernel's own act, each
  // against the reference with the f32 kernels' tolerance (what is left is f32 rounding)
  const want = refMoe(gu, dn, int8 ? int8Rounded(x, tokens, H) : x, sel, wts, tokens, k);

  const h = new Harness(1024);
  const count = tokens * k;
  // int8: the kernels read each expert's pack_mxfp4_rows4 packing in place of the blocks, no scales
  const weights = (m: Mxfp4Experts) => {
    if (!int8) return { blocks: h.put(m.blocks), scales: h.put(m.scales) };
    const per = h.k.mxfp4_rows4_bytes(m.rows, m.cols), packed = h.zeros(m.numExperts * per);
    const bpr = m.cols / 2, spr = m.cols / 32;
    for (let e = 0; e < m.numExperts; e++) {
      const bl = h.put(m.blocks.subarray(e * m.rows * bpr, (e + 1) * m.rows * bpr));
      const sc = h.put(m.scales.subarray(e * m.rows * spr, (e + 1) * m.rows * spr));
      h.k.pack_mxfp4_rows4(bl, sc, m.rows, m.cols, packed + e * per);
    }
    return { blocks: packed, scales: 0 };
  };
  const guW = weights(gu), dnW = weights(dn);
  const xp = h.zeros(count * h.k.mxfp4_xq_row_bytes(Math.max(H, F))),
    tmp = h.zeros(count * Math.max(2 * F, H) * 4),
    lists = h.zeros(count * 8);
  const act = h.zeros(count * F * 4), out = h.zeros(tokens * H * 4), selAt = h.put(sel), wAt = h.put(wts);
  h.k.f32_mxfp4w_moe_gate_up_swiglu(
    guW.blocks,
    guW.scales,
    h.put(gu.bias),
    experts,
    2 * F,
    H,
    h.put(x),
    xp,
    tokens,
    selAt,
    k,
    act,
    7,
    1.702,
    tmp,
    lists,
    int8 ? 1 : 0,
  );
  // 22-bit activations: an output moves by at most sum(|w| * maxabs) * QUANT_STEP (checked in
  // checkMatmul), f32-like, so the f32 kernels' tolerance holds
  const gotAct = h.f32(act, count * F);
  const dAct = maxScaledDiff(gotAct, want.act);
  assert(dAct < MOE_TOLERANCE, `act differs by ${dAct}`);
  const wantOut = int8 ? refDownSum(dn, int8Rounded(gotAct, count, F), sel, wts, tokens, k) : want.out;
  h.k.f32_mxfp4w_moe_down_sum(
    dnW.blocks,
    dnW.scales,
    h.put(dn.bias),
    experts,
    H,
    F,
    act,
    xp,
    tokens,
    selAt,
    wAt,
    k,
    out,
    tmp,
    lists,
    int8 ? 1 : 0,
  );
  const dOut = maxScaledDiff(h.f32(out, tokens * H), wantOut);
  assert(dOut < MOE_TOLERANCE, `moe out differs by ${dOut}`);
}

Deno.test("f32_mxfp4w_moe kernels match the reference expert step (one token, several tokens)", () => {
  checkMoe(4, 64, 64, 1, 2, 1);
  checkMoe(8, 64, 32, 5, 2, 2);
  checkMoe(6, 96, 64, 9, 4, 3);
});

Deno.test("f32_mxfp4w_moe kernels with int8 activations match the reference on int8-rounded inputs", () => {
  checkMoe(4, 64, 64, 1, 2, 1, true);
  checkMoe(6, 96, 64, 9, 4, 3, true);
  checkMoe(8, 2880 / 10, 2880 / 10, 5, 4, 4, true);
});

Deno.test("f32_mxfp4w_moe kernels match the reference expert step on random shapes", () => {
  const r = rng(5);
  for (let i = 0; i < 4; i++) {
    const experts = 2 + Math.floor(r() * 8);
    checkMoe(
      experts,
      32 * (1 + Math.floor(r() * 4)),
      32 * (1 + Math.floor(r() * 4)),
      1 + Math.floor(r() * 6),
      1 + Math.floor(r() * Math.min(4, experts)),
      20 + i,
    );
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
