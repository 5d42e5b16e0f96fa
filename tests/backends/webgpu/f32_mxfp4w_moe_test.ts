// shaders/f32_mxfp4w_moe.wgsl (router top-k, gate_up + SwiGLU, down + weighted sum) against the scalar
// topkSoftmax/expertLinear/swigluClamped: one and several tokens, ties in the router, experts split in parts.

import { assert, assertEquals } from "../../assert.ts";
import { expertLinear, swigluClamped, topkSoftmax } from "../../../src/backends/ref/kernels.ts";
import { WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { moe } from "../../../src/backends/webgpu/ops.ts";
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
  });
  const got = await h.f32(out, c.tokens * c.hidden);
  assertEquals(Array.from(await h.u32(sel, c.tokens * c.k)), wantSel, `${JSON.stringify(c)}: chosen experts`);
  up.destroy();
  const diff = maxRelDiff(got, want);
  assert(diff < 1e-5, `${JSON.stringify(c)}: differs by ${diff} (parts ${g.parts.length}/${d.parts.length})`);
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
