// The WGSL kernels of GPT-2 / Qwen3-style layers against the scalar reference kernels_dense.ts: layernorm,
// gelu_tanh, qk_rmsnorm, swiglu, softmax_topk, the float-expert MoE (bf16, f16 and f32, split into parts,
// slot by slot and grouped by expert) and rope_yarn without rotation; exact fits, partial tails, several
// tokens and random shapes.

import { assert, assertEquals } from "../../assert.ts";
import { linear } from "../../../src/backends/ref/kernels.ts";
import {
  geluTanh as refGelu,
  layerNorm as refLayerNorm,
  qkNorm as refQkNorm,
  softmaxTopk as refSoftmaxTopk,
  swiglu as refSwiglu,
} from "../../../src/backends/ref/kernels_dense.ts";
import { uploadFloatExperts } from "../../../src/backends/webgpu/gpu_float_experts.ts";
import { interleaveRows, WeightUploader } from "../../../src/backends/webgpu/gpu_weights.ts";
import { norm, qkRmsnorm, ropeQkv } from "../../../src/backends/webgpu/ops.ts";
import { geluTanh, swiglu } from "../../../src/backends/webgpu/ops_ffn.ts";
import { moe, moeGroupedSizes, route } from "../../../src/backends/webgpu/ops_moe.ts";
import type { FloatDType, Mat } from "../../../src/model/dtypes.ts";
import { withHarness } from "./gpu_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";
import { randomMat } from "./random_model.ts";

Deno.test(
  "layernorm matches layerNorm() (bias, population variance) around the workgroup size, with a row offset",
  withHarness(async (h) => {
    const r = rng(21);
    for (const [tokens, n] of [[1, 64], [3, 30], [5, 130], [2, 768]]) {
      // a large common offset: a one-pass variance would lose it
      const x = randomF32((tokens + 1) * n, r, 3).map((v) => v + 50);
      const w = randomF32(n, r), b = randomF32(n, r);
      const want = new Float32Array(tokens * n);
      refLayerNorm(want, x.subarray(n), w, b, 1e-5, tokens, n);
      const y = h.put(tokens * n * 4);
      norm(h.rec, {
        x: h.put(x),
        row0: 1,
        w: { kind: "layernorm", w: h.put(w), b: h.put(b) },
        y,
        tokens,
        n,
        eps: 1e-5,
      });
      const d = maxRelDiff(await h.f32(y, tokens * n), want);
      assert(d < 2e-5, `layernorm ${tokens}x${n}: differs by ${d}`);
    }
  }),
);

Deno.test(
  "layernorm add_main adds the residual in place, then normalises like layerNorm()",
  withHarness(async (h) => {
    const r = rng(28);
    for (const [tokens, n] of [[1, 64], [5, 96], [2, 200]]) {
      const x = randomF32(tokens * n, r, 3), res = randomF32(tokens * n, r), w = randomF32(n, r);
      const b = randomF32(n, r), sum = x.map((v, i) => v + res[i]);
      const want = new Float32Array(tokens * n);
      refLayerNorm(want, sum, w, b, 1e-5, tokens, n);
      const xb = h.put(x), y = h.put(tokens * n * 4);
      norm(h.rec, {
        x: xb,
        residual: h.put(res),
        w: { kind: "layernorm", w: h.put(w), b: h.put(b) },
        y,
        tokens,
        n,
        eps: 1e-5,
      });
      const d = maxRelDiff(await h.f32(y, tokens * n), want);
      assert(d < 2e-5, `add_main ${tokens}x${n}: norm differs by ${d}`);
      assertEquals(
        Array.from(await h.f32(xb, tokens * n)),
        Array.from(sum),
        `add_main ${tokens}x${n}: residual`,
      );
    }
  }),
);

Deno.test(
  "gelu_tanh matches geluTanh() including large and tiny inputs and a partial workgroup",
  withHarness(async (h) => {
    const r = rng(22);
    for (const n of [64, 1, 1000]) {
      const x = randomF32(n, r, 6);
      if (n > 10) x.set([0, -0, 30, -30, 1e-4, -1e-4, 100, -100, 3.5, -3.5]);
      const want = x.slice();
      refGelu(want);
      const b = h.put(x);
      geluTanh(h.rec, b, n);
      const d = maxRelDiff(await h.f32(b, n), want);
      assert(d < 1e-6, `gelu_tanh n=${n}: differs by ${d}`);
    }
  }),
);

Deno.test(
  "qk_rmsnorm normalises q and k heads of fused rows like qkNorm() and leaves v alone",
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
      refQkNorm(q, qn, 1e-6, tokens, heads, dim);
      refQkNorm(k, kn, 1e-6, tokens, kvHeads, dim);
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

Deno.test(
  "swiglu matches swiglu() on fused [gate | up] rows, with large negative gates",
  withHarness(async (h) => {
    const r = rng(24);
    for (const [tokens, n] of [[1, 64], [3, 100], [7, 33]]) {
      const x = randomF32(tokens * 2 * n, r, 8);
      x[0] = -200;
      const gate = new Float32Array(tokens * n), up = new Float32Array(tokens * n);
      for (let t = 0; t < tokens; t++) {
        gate.set(x.subarray(t * 2 * n, t * 2 * n + n), t * n);
        up.set(x.subarray(t * 2 * n + n, (t + 1) * 2 * n), t * n);
      }
      const want = new Float32Array(tokens * n);
      refSwiglu(want, gate, up, tokens * n);
      const y = h.put(tokens * n * 4);
      swiglu(h.rec, h.put(x), y, tokens, n);
      const d = maxRelDiff(await h.f32(y, tokens * n), want);
      assert(d < 1e-5, `swiglu ${tokens}x${n}: differs by ${d}`);
    }
  }),
);

Deno.test(
  "softmax_topk picks the experts of softmaxTopk() (ties: lower index) with its weights, normalised or not",
  withHarness(async (h) => {
    const r = rng(25);
    for (const [tokens, experts, k] of [[1, 8, 2], [5, 128, 8], [70, 60, 4], [3, 4, 4]]) {
      for (const norm of [true, false]) {
        const logits = randomF32(tokens * experts, r, 4);
        logits[1] = logits[2]; // a tie
        const sel = h.put(tokens * k * 4), selW = h.put(tokens * k * 4);
        route(h.rec, {
          routing: "softmax_topk",
          normalize: norm,
          logits: h.put(logits),
          sel,
          selW,
          tokens,
          experts,
          k,
        });
        const gotSel = await h.u32(sel, tokens * k), gotW = await h.f32(selW, tokens * k);
        const wantSel: number[] = [], wantW: number[] = [];
        for (let t = 0; t < tokens; t++) {
          const s = refSoftmaxTopk(logits.subarray(t * experts, (t + 1) * experts), k, norm);
          wantSel.push(...s.experts);
          wantW.push(...s.weights);
        }
        const what = `${tokens}x${experts} top-${k} norm=${norm}`;
        assertEquals(Array.from(gotSel), wantSel, `${what}: experts`);
        assert(maxRelDiff(gotW, wantW) < 1e-5, `${what}: weights differ by ${maxRelDiff(gotW, wantW)}`);
      }
    }
  }),
);

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
      linear(g, xt, gate[e], null, 1);
      linear(u, xt, up[e], null, 1);
      refSwiglu(a, g, u, F);
      linear(d, a, down[e], null, 1);
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

Deno.test(
  "rope_yarn without rotation copies q and appends k, v to the caches unchanged",
  withHarness(async (h) => {
    const r = rng(27);
    for (const [tokens, heads, dim, pos0] of [[1, 4, 16, 9], [6, 2, 64, 0]]) {
      const w = heads * dim, ctx = pos0 + tokens + 2;
      const qkv = randomF32(tokens * 3 * w, r);
      const q = h.put(tokens * w * 4), k = h.put(ctx * w * 4), v = h.put(ctx * w * 4);
      ropeQkv(h.rec, {
        qkv: h.put(qkv),
        q,
        kCache: k,
        vCache: v,
        cosSin: h.put(16),
        rows: {
          buffer: h.put(Uint32Array.from({ length: 2 * tokens }, (_, i) => i % 2 ? 0 : pos0 + i / 2)),
          ctx,
          maxPos: pos0 + tokens - 1,
        },
        tokens,
        heads,
        kvHeads: heads,
        headDim: dim,
        rope: false,
      });
      const wantQ = new Float32Array(tokens * w),
        wantK = new Float32Array(ctx * w),
        wantV = new Float32Array(ctx * w);
      for (let t = 0; t < tokens; t++) {
        wantQ.set(qkv.subarray(t * 3 * w, t * 3 * w + w), t * w);
        wantK.set(qkv.subarray(t * 3 * w + w, t * 3 * w + 2 * w), (pos0 + t) * w);
        wantV.set(qkv.subarray(t * 3 * w + 2 * w, (t + 1) * 3 * w), (pos0 + t) * w);
      }
      assertEquals(Array.from(await h.f32(q, tokens * w)), Array.from(wantQ), "q");
      assertEquals(Array.from(await h.f32(k, ctx * w)), Array.from(wantK), "k cache");
      assertEquals(Array.from(await h.f32(v, ctx * w)), Array.from(wantV), "v cache");
    }
  }),
);
