// shaders/f32_mxfp4w_moe_gemm.wgsl (the experts grouped by expert, tiles of tokens) against the reference
// (mxfp4_moe_check.ts): uneven groups (empty, single-token, larger than a tile), every token tile, row tails,
// experts in parts, the group/scan/scatter itself, and when moe() switches from slots to groups.

import { assert, assertEquals } from "../../assert.ts";
import { rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { check, routed } from "./mxfp4_moe_check.ts";
import { moeGroups, moeTile } from "../../../src/backends/webgpu/ops_moe.ts";

Deno.test(
  "f32_mxfp4w_moe_gemm matches the reference: uneven groups, tiles of 16 tokens, row tails",
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
  "f32_mxfp4w_moe_gemm with tiles of 32 and 64 tokens: groups past one tile, row tails",
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
  "f32_mxfp4w_moe_gemm over experts split into parts equals the whole",
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
  "f32_mxfp4w_moe_gemm matches the reference on random shapes",
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
  "f32_mxfp4w_moe_gemm runs from MOE_GROUP_MIN slots per expert, and runs slot by slot below",
  withHarness(async (h) => {
    assert(!moeGroups(4, 4, 32) && moeGroups(32, 4, 32) && moeGroups(128, 4, 128) && !moeGroups(1, 4, 1));
    await check(h, { tokens: 3, experts: 8, k: 2, hidden: 32, ffn: 32, grouped: "auto" }, 50); // slots
    await check(h, { tokens: 20, experts: 8, k: 2, hidden: 32, ffn: 32, grouped: "auto" }, 51); // grouped
  }),
);
