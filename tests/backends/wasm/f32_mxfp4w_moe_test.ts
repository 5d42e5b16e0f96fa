// f32_mxfp4w_matmul and the fused MoE kernels against expertLinear(), swigluClamped() and a weighted sum.

import { assert, assertEquals } from "../../assert.ts";
import { expertLinear, swigluClamped } from "../../../src/backends/ref/kernels.ts";
import type { Mxfp4Experts } from "../../../src/model/mxfp4.ts";
import { Harness, maxRelDiff, maxScaledDiff, randomF32, rng } from "./kernel_harness.ts";

function randomExperts(numExperts: number, rows: number, cols: number, r: () => number): Mxfp4Experts {
  return {
    numExperts,
    rows,
    cols,
    blocks: Uint8Array.from({ length: numExperts * rows * cols / 2 }, () => Math.floor(r() * 256)),
    scales: Uint8Array.from({ length: numExperts * rows * cols / 32 }, () => 121 + Math.floor(r() * 8)),
    bias: randomF32(numExperts * rows, r),
  };
}

function checkMatmul(rows: number, cols: number, n: number, seed: number): void {
  const r = rng(seed);
  const m = randomExperts(1, rows, cols, r);
  const x = randomF32(n * cols, r);
  const want = new Float32Array(n * rows);
  // output row i holds input row n-1-i: the lists are honoured in both directions
  for (let i = 0; i < n; i++) {
    expertLinear(want.subarray((n - 1 - i) * rows, (n - i) * rows), x, i * cols, m, 0);
  }
  const h = new Harness();
  const xp = h.zeros(x.byteLength), y = h.zeros(want.byteLength);
  h.k.permute_mxfp4_x(h.put(x), xp, n * cols);
  const xRows = h.put(Int32Array.from({ length: n }, (_, i) => i));
  const yRows = h.put(Int32Array.from({ length: n }, (_, i) => n - 1 - i));
  h.k.f32_mxfp4w_matmul(
    h.put(m.blocks),
    h.put(m.scales),
    h.put(m.bias),
    rows,
    cols,
    xp,
    xRows,
    n,
    y,
    yRows,
    rows,
  );
  const d = maxRelDiff(h.f32(y, n * rows), want);
  assert(d < 1e-5, `rows ${rows} cols ${cols} n ${n}: differs by ${d}`);
}

Deno.test("f32_mxfp4w_matmul() matches expertLinear() on exact fits, tails and several tokens", () => {
  checkMatmul(4, 32, 1, 1);
  checkMatmul(4, 64, 2, 2);
  checkMatmul(5, 96, 3, 3);
  checkMatmul(9, 160, 7, 4);
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

function checkMoe(experts: number, H: number, F: number, tokens: number, k: number, seed: number): void {
  const r = rng(seed);
  const gu = randomExperts(experts, 2 * F, H, r), dn = randomExperts(experts, H, F, r);
  const x = randomF32(tokens * H, r, 2);
  const sel = Int32Array.from({ length: tokens * k }, () => Math.floor(r() * experts));
  const wts = Float32Array.from({ length: tokens * k }, () => r());
  const want = refMoe(gu, dn, x, sel, wts, tokens, k);

  const h = new Harness(1024);
  const count = tokens * k;
  const xp = h.zeros(count * Math.max(H, F) * 4),
    tmp = h.zeros(count * Math.max(2 * F, H) * 4),
    lists = h.zeros(count * 8);
  const act = h.zeros(count * F * 4), out = h.zeros(tokens * H * 4), selAt = h.put(sel), wAt = h.put(wts);
  h.k.f32_mxfp4w_moe_gate_up_swiglu(
    h.put(gu.blocks),
    h.put(gu.scales),
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
  );
  const dAct = maxScaledDiff(h.f32(act, count * F), want.act);
  assert(dAct < 1e-5, `act differs by ${dAct}`);
  h.k.f32_mxfp4w_moe_down_sum(
    h.put(dn.blocks),
    h.put(dn.scales),
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
  );
  const dOut = maxScaledDiff(h.f32(out, tokens * H), want.out);
  assert(dOut < 1e-5, `moe out differs by ${dOut}`);
}

Deno.test("f32_mxfp4w_moe kernels match the reference expert step (one token, several tokens)", () => {
  checkMoe(4, 64, 64, 1, 2, 1);
  checkMoe(8, 64, 32, 5, 2, 2);
  checkMoe(6, 96, 64, 9, 4, 3);
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

Deno.test("f32_mxfp4w_matmul() gives each token the same bits alone or in tiles of 2 and 4", () => {
  const r = rng(43), rows = 6, cols = 96, n = 7;
  const m = randomExperts(1, rows, cols, r);
  const x = randomF32(n * cols, r);
  const h = new Harness();
  const xp = h.zeros(x.byteLength), y = h.zeros(n * rows * 4);
  const bl = h.put(m.blocks), sc = h.put(m.scales), bi = h.put(m.bias);
  h.k.permute_mxfp4_x(h.put(x), xp, n * cols);
  const ids = h.put(Int32Array.from({ length: n }, (_, i) => i));
  h.k.f32_mxfp4w_matmul(bl, sc, bi, rows, cols, xp, ids, n, y, ids, rows);
  const batch = h.f32(y, n * rows);
  for (let i = 0; i < n; i++) {
    h.k.f32_mxfp4w_matmul(bl, sc, bi, rows, cols, xp, ids + i * 4, 1, y, ids + i * 4, rows);
    assertEquals(
      Array.from(h.f32(y + i * rows * 4, rows)),
      Array.from(batch.subarray(i * rows, (i + 1) * rows)),
      `token ${i}`,
    );
  }
});
