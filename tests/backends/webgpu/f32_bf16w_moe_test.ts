// shaders/f32_bf16w_moe.wgsl (float experts: bf16, f16 and f32 words, slot by slot) and the same experts
// through shaders/f32_mxfp4w_moe_gemm.wgsl (grouped by expert), via ops_moe.ts moe(), against
// f32Bf16wMatmul() + swiglu(): whole and split into parts, shapes off the workgroup and block sizes.

import { assert, assertEquals } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { randomMat } from "./random_model.ts";
import { f32Bf16wMatmul } from "../../../src/backends/ref/kernels.ts";
import { swiglu as refSwiglu } from "../../../src/backends/ref/kernels_dense.ts";
import { uploadFloatExperts } from "../../../src/backends/webgpu/gpu_float_experts.ts";
import { interleaveRows, WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { moe, moeGroupedSizes } from "../../../src/backends/webgpu/ops_moe.ts";
import { type FloatDType, type Mat } from "../../../src/model/dtypes.ts";

/** The reference of f32_bf16w_moe: sum_j w_j * down_e(silu(gate_e x) * up_e x). */
function refDenseMoe(
  x: Float32Array,
  gate: Mat[],
  up: Mat[],
  down: Mat[],
  sel: number[],
  selW: number[],
  tokens: number,
  k: number,
): Float32Array {
  const H = down[0].rows, F = gate[0].rows, out = new Float32Array(tokens * H);
  const g = new Float32Array(F), u = new Float32Array(F), a = new Float32Array(F), d = new Float32Array(H);
  for (let t = 0; t < tokens; t++) {
    const xt = x.subarray(t * H, (t + 1) * H);
    for (let j = 0; j < k; j++) {
      const e = sel[t * k + j];
      f32Bf16wMatmul(g, xt, gate[e], null, 1);
      f32Bf16wMatmul(u, xt, up[e], null, 1);
      refSwiglu(a, g, u, F);
      f32Bf16wMatmul(d, a, down[e], null, 1);
      for (let i = 0; i < H; i++) out[t * H + i] += selW[t * k + j] * d[i];
    }
  }
  return out;
}

Deno.test(
  "float experts (bf16, f16, f32) match gate/up SwiGLU + down, slot by slot and grouped by expert, whole and in parts",
  withHarness(async (h) => {
    const r = rng(26);
    const cases: [number, number, number, number, number, FloatDType, number][] = [
      // tokens, experts, k, hidden, ffn, dtype, max binding bytes
      [1, 8, 2, 64, 32, "BF16", 1 << 20],
      [5, 8, 3, 64, 32, "BF16", 3 * 64 * 64 * 2], // gate_up: 3 experts a part, the last part partial
      [3, 6, 2, 30, 70, "F32", 2 * 70 * 30 * 4], // not multiples of the workgroup, nor of 32 columns
      [9, 4, 4, 130, 18, "F16", 1 << 20],
      [40, 3, 2, 96, 48, "BF16", 1 << 20], // groups past one tile of 32 tokens
      [7, 40, 3, 32, 64, "F16", 1 << 20], // more experts than 32 bits
    ];
    for (const [tokens, E, k, H, F, dtype, maxBinding] of cases) {
      const gate = Array.from({ length: E }, () => randomMat(r, F, H, dtype));
      const up = Array.from({ length: E }, () => randomMat(r, F, H, dtype));
      const down = Array.from({ length: E }, () => randomMat(r, H, F, dtype));
      const x = randomF32(tokens * H, r);
      const sel: number[] = [], selW: number[] = [];
      for (let t = 0; t < tokens; t++) {
        const order = Array.from({ length: E }, (_, e) => e).sort(() => r() - 0.5).slice(0, k);
        sel.push(...order);
        selW.push(...order.map(() => r()));
      }
      const want = refDenseMoe(x, gate, up, down, sel, selW, tokens, k);
      const uploader = new WeightUploader(h.gpu.device, maxBinding);
      try {
        const gateUp = uploadFloatExperts(uploader, gate.map((g, e) => interleaveRows(g, up[e])), "gate_up");
        const experts = {
          format: "float" as const,
          gateUp,
          down: uploadFloatExperts(uploader, down, "down"),
        };
        for (const grouped of tokens > 1 ? [false, true] : [false]) {
          const sizes = moeGroupedSizes(tokens, k, E, H, 0), out = h.put(tokens * H * 4);
          const before = h.rec.dispatches;
          moe(h.rec, {
            sel: h.put(Uint32Array.from(sel)),
            selW: h.put(Float32Array.from(selW)),
            x: h.put(x),
            act: h.put(tokens * k * F * 4),
            out,
            experts,
            activation: { kind: "swiglu" },
            dummy: h.put(4),
            tokens,
            k,
            grouped: grouped
              ? {
                order: h.put(sizes.order * 4),
                tiles: h.put(sizes.tiles * 4),
                slotOut: h.put(sizes.slotOut * 4),
              }
              : undefined,
            groupMin: 0,
          });
          const parts = gateUp.parts.length + experts.down.parts.length;
          assertEquals(h.rec.dispatches - before, parts + (grouped ? 2 : 0), "dispatches");
          const d = maxRelDiff(await h.f32(out, tokens * H), want);
          const what =
            `${tokens} tokens, ${E} experts top-${k}, ${H}->${F} ${dtype}, ${gateUp.parts.length} parts` +
            (grouped ? ", grouped" : "");
          assert(d < 1e-4, `${what}: differs by ${d}`);
        }
      } finally {
        uploader.destroy();
      }
    }
  }),
);
