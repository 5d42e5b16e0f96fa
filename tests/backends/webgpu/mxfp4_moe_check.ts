// The MXFP4 MoE check shared by f32_mxfp4w_moe_test.ts (slot by slot) and f32_mxfp4w_moe_gemm_test.ts
// (grouped by expert): routing (moe_router topk_softmax) and the chosen experts against the reference
// moeRouterTopkSoftmax(), f32Mxfp4wMatmul() and swigluClamped(), plus the grouping entry's output.

import { assert, assertEquals } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { type KernelHarness } from "./gpu_harness.ts";
import { randomExperts } from "./random_model.ts";
import { f32Mxfp4wMatmul, moeRouterTopkSoftmax, swigluClamped } from "../../../src/backends/ref/kernels.ts";
import { WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { moe, moeGroupedSizes, moeGroups, moeRouter, moeTile } from "../../../src/backends/webgpu/ops_moe.ts";

export interface Case {
  tokens: number;
  experts: number;
  k: number;
  hidden: number;
  ffn: number;
  /** Bytes per blocks part (splits experts into parts); default: no split. */
  maxBinding?: number;
  /** Run grouped by expert (tiles of tokens) instead of slot by slot: "always" (for several tokens), or
   * "auto" (from MOE_GROUP_MIN slots per active expert, as the backend does). */
  grouped?: "always" | "auto";
}

export async function check(h: KernelHarness, c: Case, seed: number, logits?: Float32Array): Promise<void> {
  const r = rng(seed);
  const gateUp = randomExperts(r, c.experts, 2 * c.ffn, c.hidden),
    down = randomExperts(r, c.experts, c.hidden, c.ffn);
  const x = randomF32(c.tokens * c.hidden, r);
  const router = logits ?? randomF32(c.tokens * c.experts, r, 3);
  const limit = 7, alpha = 1.702;
  // reference
  const want = new Float32Array(c.tokens * c.hidden), wantSel: number[] = [];
  const gu = new Float32Array(2 * c.ffn), act = new Float32Array(c.ffn), dn = new Float32Array(c.hidden);
  for (let t = 0; t < c.tokens; t++) {
    const sel = moeRouterTopkSoftmax(router.subarray(t * c.experts, (t + 1) * c.experts), c.k);
    for (let j = 0; j < c.k; j++) {
      wantSel.push(sel.experts[j]);
      f32Mxfp4wMatmul(gu, x, t * c.hidden, gateUp, sel.experts[j]);
      swigluClamped(act, gu, c.ffn, limit, alpha);
      f32Mxfp4wMatmul(dn, act, 0, down, sel.experts[j]);
      for (let i = 0; i < c.hidden; i++) want[t * c.hidden + i] += sel.weights[j] * dn[i];
    }
  }
  const up = new WeightUploader(
    h.gpu.device,
    c.maxBinding ?? h.gpu.device.limits.maxStorageBufferBindingSize,
  );
  const g = up.experts(gateUp, "gate_up"), d = up.experts(down, "down");
  const out = h.put(new Float32Array(c.tokens * c.hidden).fill(NaN)), sel = h.put(c.tokens * c.k * 4);
  const groupMin = c.grouped === "always" ? 0 : undefined;
  const sizes = moeGroupedSizes(c.tokens, c.k, c.experts, c.hidden, groupMin);
  const grouped = c.grouped
    ? { order: h.put(sizes.order * 4), tiles: h.put(sizes.tiles * 4), slotOut: h.put(sizes.slotOut * 4) }
    : undefined;
  const before = h.rec.dispatches, selW = h.put(c.tokens * c.k * 4);
  moeRouter(h.rec, {
    routing: "topk_softmax",
    normalize: true,
    logits: h.put(router),
    sel,
    selW,
    tokens: c.tokens,
    experts: c.experts,
    k: c.k,
  });
  moe(h.rec, {
    sel,
    selW,
    x: h.put(x),
    act: h.put(c.tokens * c.k * c.ffn * 4),
    out,
    experts: { format: "mxfp4", gateUp: g, down: d },
    activation: { kind: "swiglu_clamped", limit, alpha },
    dummy: h.put(4),
    tokens: c.tokens,
    k: c.k,
    grouped,
    groupMin,
  });
  const parts = g.parts.length + d.parts.length;
  const groupedRun = grouped !== undefined && moeGroups(c.tokens, c.k, c.experts, groupMin);
  assertEquals(
    h.rec.dispatches - before,
    1 + parts + (groupedRun ? 2 : 0),
    `${JSON.stringify(c)}: dispatches`,
  );
  const got = await h.f32(out, c.tokens * c.hidden);
  if (groupedRun) {
    checkGroups(await h.u32(grouped.order, sizes.order), await h.u32(grouped.tiles, sizes.tiles), wantSel, c);
  }
  assertEquals(Array.from(await h.u32(sel, c.tokens * c.k)), wantSel, `${JSON.stringify(c)}: chosen experts`);
  up.destroy();
  const diff = maxRelDiff(got, want);
  assert(diff < 1e-5, `${JSON.stringify(c)}: differs by ${diff} (parts ${g.parts.length}/${d.parts.length})`);
}

/**
 * The group entry's output: `order` lists each expert's slots in slot order, experts ascending; the tiles
 * cut each expert's run into pieces of at most BT, in order.
 */
function checkGroups(order: Uint32Array, tiles: Uint32Array, sel: number[], c: Case): void {
  const { BT } = moeTile(c.tokens, c.k, c.experts);
  const wantOrder: number[] = [], wantTiles: number[] = [];
  for (let e = 0; e < c.experts; e++) {
    const slots = sel.flatMap((x, s) => (x === e ? [s] : []));
    for (let i = 0; i < slots.length; i += BT) {
      wantTiles.push(e, wantOrder.length + i, Math.min(BT, slots.length - i));
    }
    wantOrder.push(...slots);
  }
  assertEquals(Array.from(order), wantOrder, `${JSON.stringify(c)}: order`);
  assertEquals(tiles[0], wantTiles.length / 3, `${JSON.stringify(c)}: tile count`);
  assertEquals(Array.from(tiles.subarray(1, 1 + wantTiles.length)), wantTiles, `${JSON.stringify(c)}: tiles`);
}

/** Router logits that send token t to experts pick(t, 0..k-1) (distinct), strongest first. */
export function routed(
  tokens: number,
  experts: number,
  k: number,
  pick: (t: number, j: number) => number,
): Float32Array {
  const l = new Float32Array(tokens * experts).fill(-5);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < k; j++) l[t * experts + pick(t, j)] = 4 - j * 0.5;
  return l;
}
