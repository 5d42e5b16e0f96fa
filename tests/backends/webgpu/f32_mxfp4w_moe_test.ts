// shaders/f32_mxfp4w_moe.wgsl (router top-k, gate_up + SwiGLU, down + weighted sum) and the grouped
// shaders/f32_mxfp4w_moe_gemm.wgsl against the scalar topkSoftmax/expertLinear/swigluClamped: one and
// several tokens, ties in the router, experts split in parts; grouped by expert: uneven groups (empty,
// single-token, and larger than a tile), both token tiles, row tails, and the group/scan/scatter itself.

import { assert, assertEquals } from "../../assert.ts";
import { expertLinear, swigluClamped, topkSoftmax } from "../../../src/backends/ref/kernels.ts";
import { WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { moe, moeGroupedSizes, moeGroups, moeTile } from "../../../src/backends/webgpu/ops_moe.ts";
import { type KernelHarness, withHarness } from "./gpu_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { randomExperts } from "./random_model.ts";

interface Case {
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

async function check(h: KernelHarness, c: Case, seed: number, logits?: Float32Array): Promise<void> {
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
    const sel = topkSoftmax(router.subarray(t * c.experts, (t + 1) * c.experts), c.k);
    for (let j = 0; j < c.k; j++) {
      wantSel.push(sel.experts[j]);
      expertLinear(gu, x, t * c.hidden, gateUp, sel.experts[j]);
      swigluClamped(act, gu, c.ffn, limit, alpha);
      expertLinear(dn, act, 0, down, sel.experts[j]);
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
  const before = h.rec.dispatches;
  moe(h.rec, {
    routerLogits: h.put(router),
    sel,
    selW: h.put(c.tokens * c.k * 4),
    x: h.put(x),
    act: h.put(c.tokens * c.k * c.ffn * 4),
    out,
    gateUp: g,
    down: d,
    tokens: c.tokens,
    k: c.k,
    limit,
    alpha,
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
function routed(
  tokens: number,
  experts: number,
  k: number,
  pick: (t: number, j: number) => number,
): Float32Array {
  const l = new Float32Array(tokens * experts).fill(-5);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < k; j++) l[t * experts + pick(t, j)] = 4 - j * 0.5;
  return l;
}

Deno.test(
  "f32_mxfp4w_moe matches the reference MoE for one and several tokens",
  withHarness(async (h) => {
    await check(h, { tokens: 1, experts: 8, k: 2, hidden: 64, ffn: 64 }, 1);
    await check(h, { tokens: 5, experts: 8, k: 4, hidden: 96, ffn: 32 }, 2);
    await check(h, { tokens: 3, experts: 40, k: 3, hidden: 32, ffn: 64 }, 3); // more experts than 32 bits
  }),
);

Deno.test(
  "f32_mxfp4w_moe router breaks ties toward the lower expert",
  withHarness(async (h) => {
    const logits = Float32Array.from([1, 3, 3, 0, 3, -1, 2, 2, 2, 2, 2, 2]);
    await check(h, { tokens: 2, experts: 6, k: 3, hidden: 32, ffn: 32 }, 4, logits);
  }),
);

Deno.test(
  "f32_mxfp4w_moe over experts split into parts equals the whole",
  withHarness(async (h) => {
    // gate_up expert: 64*32/2 = 1024 bytes; down: 32*32/2 = 512 bytes
    await check(h, { tokens: 4, experts: 7, k: 3, hidden: 32, ffn: 32, maxBinding: 2048 }, 5);
    await check(h, { tokens: 2, experts: 5, k: 2, hidden: 32, ffn: 32, maxBinding: 1536 }, 6);
  }),
);

Deno.test(
  "f32_mxfp4w_moe matches the reference on random shapes",
  withHarness(async (h) => {
    const r = rng(77);
    for (let i = 0; i < 4; i++) {
      const experts = 1 + Math.floor(r() * 12);
      await check(h, {
        tokens: 1 + Math.floor(r() * 6),
        experts,
        k: 1 + Math.floor(r() * Math.min(4, experts)),
        hidden: 32 * (1 + Math.floor(r() * 3)),
        ffn: 32 * (1 + Math.floor(r() * 3)),
      }, 100 + i);
    }
  }),
);

Deno.test(
  "f32_mxfp4w_moe grouped by expert matches the reference: uneven groups, tiles of 16 tokens, row tails",
  withHarness(async (h) => {
    // 8 experts, 2 per token, 11 tokens: expert 0 takes 11 slots, 5 one slot, 6 and 7 none, the rest a few
    const logits = routed(11, 8, 2, (t, j) => j === 0 ? 0 : t === 3 ? 5 : 1 + (t % 4));
    await check(h, { tokens: 11, experts: 8, k: 2, hidden: 96, ffn: 32, grouped: "always" }, 20, logits);
    // a group larger than one tile of 16: expert 2 gets all 40 tokens (3 tiles, the last one partial)
    const one = routed(40, 6, 1, () => 2);
    await check(h, { tokens: 40, experts: 6, k: 1, hidden: 32, ffn: 96, grouped: "always" }, 21, one);
    await check(h, { tokens: 5, experts: 40, k: 3, hidden: 160, ffn: 64, grouped: "always" }, 22); // many experts
    await check(h, { tokens: 1, experts: 8, k: 2, hidden: 64, ffn: 32, grouped: "always" }, 23); // decode: slots
  }),
);

Deno.test(
  "f32_mxfp4w_moe grouped by expert with tiles of 32 and 64 tokens: groups past one tile, row tails",
  withHarness(async (h) => {
    // 70 tokens x 2 of 4 experts: 35 slots per expert on average, tiles of 32 tokens; expert 1 gets every
    // token (3 tiles, the last one partial), expert 3 none
    assertEquals(moeTile(70, 2, 4).BT, 32);
    const logits = routed(70, 4, 2, (t, j) => j === 0 ? 1 : t % 3 === 0 ? 0 : 2);
    await check(h, { tokens: 70, experts: 4, k: 2, hidden: 96, ffn: 96, grouped: "always" }, 30, logits);
    // 100 tokens x 2 of 4 experts: tiles of 64; expert 2 gets every token (2 tiles)
    assertEquals(moeTile(100, 2, 4).BT, 64);
    const wide = routed(100, 4, 2, (t, j) => j === 0 ? 2 : t % 2);
    await check(h, { tokens: 100, experts: 4, k: 2, hidden: 64, ffn: 32, grouped: "always" }, 31, wide);
    await check(h, { tokens: 64, experts: 4, k: 4, hidden: 64, ffn: 32, grouped: "always" }, 32); // all full
  }),
);

Deno.test(
  "f32_mxfp4w_moe grouped over experts split into parts equals the whole",
  withHarness(async (h) => {
    // gate_up expert: 64*32/2 = 1024 bytes; down: 32*32/2 = 512 bytes
    await check(
      h,
      { tokens: 9, experts: 7, k: 3, hidden: 32, ffn: 32, maxBinding: 2048, grouped: "always" },
      40,
    );
    await check(
      h,
      { tokens: 24, experts: 5, k: 2, hidden: 32, ffn: 32, maxBinding: 1536, grouped: "always" },
      41,
    );
  }),
);

Deno.test(
  "f32_mxfp4w_moe grouped matches the reference on random shapes",
  withHarness(async (h) => {
    const r = rng(177);
    for (let i = 0; i < 5; i++) {
      const experts = 1 + Math.floor(r() * 20);
      await check(h, {
        tokens: 2 + Math.floor(r() * 80),
        experts,
        k: 1 + Math.floor(r() * Math.min(4, experts)),
        hidden: 32 * (1 + Math.floor(r() * 4)),
        ffn: 32 * (1 + Math.floor(r() * 4)),
        grouped: "always",
      }, 200 + i);
    }
  }),
);

Deno.test(
  "f32_mxfp4w_moe groups by expert from MOE_GROUP_MIN slots per expert, and runs slot by slot below",
  withHarness(async (h) => {
    assert(!moeGroups(4, 4, 32) && moeGroups(32, 4, 32) && moeGroups(128, 4, 128) && !moeGroups(1, 4, 1));
    await check(h, { tokens: 3, experts: 8, k: 2, hidden: 32, ffn: 32, grouped: "auto" }, 50); // slots
    await check(h, { tokens: 20, experts: 8, k: 2, hidden: 32, ffn: 32, grouped: "auto" }, 51); // grouped
  }),
);
