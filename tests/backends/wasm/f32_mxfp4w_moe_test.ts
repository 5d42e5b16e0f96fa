// The fused MoE kernels (asm/f32_mxfp4w_moe.ts), on 22-bit and on int8 activations (the four-row packing of
// f32_mxfp4w_matmul_q8_test.ts), against f32Mxfp4wMatmul(), swigluClamped() and a weighted sum, within each
// quantization's bound (the 22-bit one is checked in f32_mxfp4w_matmul_test.ts); run over consecutive expert
// ranges (as the host splits a step to poll a stop between them) they give the one call's bits.

import { assert, assertEquals } from "../../assert.ts";
import { f32Mxfp4wMatmul, swigluClamped } from "../../../src/backends/ref/kernels.ts";
import type { Mxfp4Experts } from "../../../src/model/mxfp4.ts";
import { Harness } from "./kernel_harness.ts";
import { blockMaxAbs } from "./mxfp4_x_quant.ts";
import { maxScaledDiff } from "../../diff.ts";
import { randomExperts, randomF32, rng } from "../../random.ts";

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
      f32Mxfp4wMatmul(gateUp, x, t * gu.cols, gu, sel[i]);
      swigluClamped(act.subarray(i * F, (i + 1) * F), gateUp, F, limit, alpha);
      f32Mxfp4wMatmul(down, act, i * F, dn, sel[i]);
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
    f32Mxfp4wMatmul(down, act, i * F, dn, sel[i]);
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
    lists = h.zeros(count * 8),
    scratch = int8 ? h.zeros(h.k.mxfp4_q8_scratch_bytes(count, Math.max(H, F))) : 0;
  const act = h.zeros(count * F * 4), out = h.zeros(tokens * H * 4), selAt = h.put(sel), wAt = h.put(wts);
  const guBias = h.put(gu.bias), dnBias = h.put(dn.bias), xAt = h.put(x);
  const gateUp = (e0: number, e1: number) =>
    h.k.f32_mxfp4w_moe_gate_up_swiglu(
      guW.blocks,
      guW.scales,
      guBias,
      experts,
      2 * F,
      H,
      xAt,
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
      e0,
      e1,
      scratch,
    );
  const downSum = (e0: number, e1: number) =>
    h.k.f32_mxfp4w_moe_down_sum(
      dnW.blocks,
      dnW.scales,
      dnBias,
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
      e0,
      e1,
      scratch,
    );
  gateUp(0, experts);
  // 22-bit activations: an output moves by at most sum(|w| * maxabs) * QUANT_STEP (checked in
  // f32_mxfp4w_matmul_test.ts), f32-like, so the f32 kernels' tolerance holds
  const gotAct = h.f32(act, count * F);
  const dAct = maxScaledDiff(gotAct, want.act);
  assert(dAct < MOE_TOLERANCE, `act differs by ${dAct}`);
  const wantOut = int8 ? refDownSum(dn, int8Rounded(gotAct, count, F), sel, wts, tokens, k) : want.out;
  downSum(0, experts);
  const gotOut = h.f32(out, tokens * H);
  const dOut = maxScaledDiff(gotOut, wantOut);
  assert(dOut < MOE_TOLERANCE, `moe out differs by ${dOut}`);
  // the same step in ranges of one, then two, ... experts (each call sees the scratch the last one left),
  // from cleared outputs and scratch
  const scratchFloats = int8 ? h.k.mxfp4_q8_scratch_bytes(count, Math.max(H, F)) / 4 : 0;
  for (
    const [at, n] of [
      [act, count * F],
      [out, tokens * H],
      [tmp, count * Math.max(2 * F, H)],
      [xp, count],
      [scratch, scratchFloats],
    ]
  ) {
    new Float32Array(h.memory.buffer, at, n).fill(NaN);
  }
  for (let e0 = 0, n = 1; e0 < experts; e0 += n, n++) gateUp(e0, Math.min(experts, e0 + n));
  assertEquals(h.f32(act, count * F), gotAct, "gate_up over expert ranges");
  for (let e0 = 0, n = 1; e0 < experts; e0 += n, n++) downSum(e0, Math.min(experts, e0 + n));
  assertEquals(h.f32(out, tokens * H), gotOut, "down over expert ranges");
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
