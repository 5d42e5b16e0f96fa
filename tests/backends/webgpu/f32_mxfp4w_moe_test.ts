// shaders/f32_mxfp4w_moe.wgsl (gate_up + clamped SwiGLU, down + weighted sum, slot by slot, after
// moe_router.wgsl's topk_softmax) against the reference (mxfp4_moe_check.ts): one and several tokens, ties
// in the router, experts split in parts, random shapes.

import { rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { check } from "./mxfp4_moe_check.ts";

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
