// shaders/qk_rmsnorm.wgsl (ops.ts qkRmsnorm()) against the reference qkRmsnorm(): q and k heads of fused
// q|k|v rows normalised in place, v left alone.

import { assert, assertEquals } from "../../assert.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { withHarness } from "./gpu_harness.ts";
import { qkRmsnorm as refQkRmsnorm } from "../../../src/backends/ref/kernels_dense.ts";
import { qkRmsnorm } from "../../../src/backends/webgpu/ops.ts";

Deno.test(
  "qk_rmsnorm normalises q and k heads of fused rows like qkRmsnorm() and leaves v alone",
  withHarness(async (h) => {
    const r = rng(23);
    for (
      const [tokens, heads, kvHeads, dim] of [[1, 4, 2, 16], [3, 2, 1, 128], [5, 6, 3, 10], [2, 1, 1, 200]]
    ) {
      const qw = heads * dim, kvw = kvHeads * dim, stride = qw + 2 * kvw;
      const qkv = randomF32(tokens * stride, r, 4);
      const qn = randomF32(dim, r), kn = randomF32(dim, r);
      const q = new Float32Array(tokens * qw), k = new Float32Array(tokens * kvw);
      for (let t = 0; t < tokens; t++) {
        q.set(qkv.subarray(t * stride, t * stride + qw), t * qw);
        k.set(qkv.subarray(t * stride + qw, t * stride + qw + kvw), t * kvw);
      }
      refQkRmsnorm(q, qn, 1e-6, tokens, heads, dim);
      refQkRmsnorm(k, kn, 1e-6, tokens, kvHeads, dim);
      const want = qkv.slice();
      for (let t = 0; t < tokens; t++) {
        want.set(q.subarray(t * qw, (t + 1) * qw), t * stride);
        want.set(k.subarray(t * kvw, (t + 1) * kvw), t * stride + qw);
      }
      const b = h.put(qkv);
      qkRmsnorm(h.rec, b, h.put(qn), h.put(kn), tokens, heads, kvHeads, dim, stride, 1e-6);
      const got = await h.f32(b, tokens * stride);
      const what = `${tokens}x(${heads}+${kvHeads})x${dim}`;
      assert(maxRelDiff(got, want) < 1e-5, `${what}: differs by ${maxRelDiff(got, want)}`);
      for (let t = 0; t < tokens; t++) {
        const v0 = t * stride + qw + kvw;
        assertEquals(
          Array.from(got.subarray(v0, v0 + kvw)),
          Array.from(qkv.subarray(v0, v0 + kvw)),
          `${what}: v`,
        );
      }
    }
  }),
);
