// The LayerNorm, GELU, QK-norm, plain SwiGLU, softmax-then-top-k and f32-weight kernels of asm/ against
// the scalar reference kernels (ref/kernels_dense.ts, ref/kernels.ts): exact-fit widths, partial tails,
// several tokens and random shapes.

import { assert, assertEquals } from "../../assert.ts";
import { geluTanh, layerNorm, qkNorm, softmaxTopk, swiglu } from "../../../src/backends/ref/kernels_dense.ts";
import { linear } from "../../../src/backends/ref/kernels.ts";
import type { Mat } from "../../../src/model/dtypes.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff, maxScaledDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

const kernels = (h: Harness) => h.k;

Deno.test("layernorm() matches layerNorm(): exact fit, tails, several tokens, an offset mean", () => {
  const r = rng(11);
  for (
    const [tokens, n] of [[1, 64], [3, 768], [5, 7], [2, 1], [4, 13], [
      1 + Math.floor(r() * 6),
      1 + Math.floor(r() * 300),
    ]]
  ) {
    const x = randomF32(tokens * n, r, 3).map((v) => v + 5), w = randomF32(n, r), b = randomF32(n, r);
    const want = new Float32Array(tokens * n);
    layerNorm(want, x, w, b, 1e-5, tokens, n);
    const h = new Harness(), k = kernels(h);
    const y = h.zeros(x.byteLength);
    k.layernorm(y, h.put(x), h.put(w), h.put(b), 1e-5, tokens, n);
    const d = maxRelDiff(h.f32(y, tokens * n), want);
    assert(d < 2e-5, `layernorm ${tokens}x${n} differs by ${d}`);
  }
});

Deno.test("gelu_tanh() matches geluTanh() from -12 to 12, with a partial tail", () => {
  const r = rng(12);
  for (const n of [4, 1003, 3, 256]) {
    const x = randomF32(n, r, 12);
    if (n > 10) x.set([0, -0, 1e-8, -1e-8, 30, -30, 88, -88, 200, -200]);
    const want = x.slice();
    geluTanh(want);
    const h = new Harness(), k = kernels(h);
    const at = h.put(x);
    k.gelu_tanh(at, n);
    const d = maxRelDiff(h.f32(at, n), want);
    assert(d < 2e-6, `gelu ${n} differs by ${d}`);
  }
});

Deno.test("swiglu() matches swiglu(): silu(gate) * up with a partial tail, saturated gates too", () => {
  const r = rng(13);
  for (const n of [8, 37, 1, 160]) {
    const gate = randomF32(n, r, 15), up = randomF32(n, r, 3);
    gate[0] = n > 1 ? 100 : -100;
    const want = new Float32Array(n);
    swiglu(want, gate, up, n);
    const h = new Harness(), k = kernels(h);
    const out = h.zeros(n * 4);
    k.swiglu(out, h.put(gate), h.put(up), n);
    const d = maxRelDiff(h.f32(out, n), want);
    assert(d < 2e-6, `swiglu ${n} differs by ${d}`);
  }
});

Deno.test("qk_rmsnorm() matches qkNorm() per head, in place: several heads and tokens, odd head_dim", () => {
  const r = rng(14);
  for (const [rows, heads, dim] of [[1, 4, 32], [5, 2, 16], [3, 3, 7], [2, 8, 128], [1, 1, 2]]) {
    const x = randomF32(rows * heads * dim, r, 4), w = randomF32(dim, r);
    const want = x.slice();
    qkNorm(want, w, 1e-6, rows, heads, dim);
    const h = new Harness(), k = kernels(h);
    const at = h.put(x);
    k.qk_rmsnorm(at, h.put(w), 1e-6, rows, heads, dim);
    const d = maxRelDiff(h.f32(at, x.length), want);
    assert(d < 2e-6, `qk_rmsnorm ${rows}x${heads}x${dim} differs by ${d}`);
  }
});

Deno.test("softmax_topk() matches softmaxTopk() with and without norm_topk_prob, ties to the lower index", () => {
  const r = rng(15);
  for (
    const [n, k, tokens, ties] of [[8, 3, 4, 0], [128, 8, 3, 0], [16, 4, 5, 1], [5, 5, 2, 1], [3, 1, 2, 0]]
  ) {
    const logits = Float32Array.from(
      { length: tokens * n },
      () => ties ? Math.round(r() * 6) / 2 : (r() * 2 - 1) * 4,
    );
    for (const norm of [true, false]) {
      const h = new Harness(), kk = kernels(h);
      const sel = h.zeros(tokens * k * 4), w = h.zeros(tokens * k * 4);
      kk.softmax_topk(h.put(logits), tokens, n, k, norm ? 1 : 0, sel, w);
      for (let t = 0; t < tokens; t++) {
        const want = softmaxTopk(logits.subarray(t * n, (t + 1) * n), k, norm);
        assertEquals(Array.from(h.i32(sel + t * k * 4, k)), Array.from(want.experts), `n ${n} token ${t}`);
        assert(maxRelDiff(h.f32(w + t * k * 4, k), want.weights) < 1e-6);
      }
      if (!norm && k < n) {
        const sum = h.f32(w, k).reduce((a, b) => a + b, 0);
        assert(sum < 1, "without norm_topk_prob the kept weights sum to less than 1");
      }
    }
  }
});

Deno.test("weighted_row_sum() sums the k rows of each token with its weights, in order", () => {
  const r = rng(16);
  for (const [tokens, k, n] of [[1, 2, 8], [3, 3, 64], [2, 4, 5]]) {
    const src = randomF32(tokens * k * n, r, 2), weights = randomF32(tokens * k, r);
    const want = new Float32Array(tokens * n);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < k; j++) {
        for (let i = 0; i < n; i++) want[t * n + i] += weights[t * k + j] * src[(t * k + j) * n + i];
      }
    }
    const h = new Harness(), kk = kernels(h);
    const out = h.put(randomF32(tokens * n, r)); // overwritten, not added to
    kk.weighted_row_sum(out, h.put(src), h.put(weights), tokens, k, n);
    assert(maxRelDiff(h.f32(out, tokens * n), want) < 1e-6);
  }
});

function f32Mat(r: () => number, rows: number, cols: number): Mat {
  return { dtype: "F32", rows, cols, data: randomF32(rows * cols, r, 0.5) };
}

Deno.test("f32_f32w_matmul() matches linear(): tiles of 2x4 and 4x1, row, token and column tails, bias", () => {
  const r = rng(17);
  const shapes = [[8, 64, 1], [8, 64, 4], [7, 13, 5], [3, 5, 9], [1, 3, 2], [64, 256, 7], [5, 768, 3]];
  for (let i = 0; i < 4; i++) {
    shapes.push([1 + Math.floor(r() * 40), 1 + Math.floor(r() * 200), 1 + Math.floor(r() * 11)]);
  }
  for (const [rows, cols, tokens] of shapes) {
    const w = f32Mat(r, rows, cols), x = randomF32(tokens * cols, r), bias = randomF32(rows, r);
    for (const withBias of [true, false]) {
      const want = new Float32Array(tokens * rows);
      linear(want, x, w, withBias ? bias : null, tokens);
      const h = new Harness(), k = kernels(h);
      const y = h.zeros(want.byteLength);
      k.f32_f32w_matmul(
        h.put(w.data as Float32Array),
        withBias ? h.put(bias) : 0,
        rows,
        cols,
        h.put(x),
        tokens,
        y,
        rows,
      );
      const d = maxScaledDiff(h.f32(y, want.length), want);
      assert(d < 1e-5, `${rows}x${cols} x ${tokens} tokens differs by ${d}`);
    }
  }
});

Deno.test("f32_f32w_matmul() gives each token the same bits whatever the token count (chunked prefill)", () => {
  const r = rng(18), rows = 11, cols = 37, tokens = 9;
  const w = randomF32(rows * cols, r), x = randomF32(tokens * cols, r), bias = randomF32(rows, r);
  const h = new Harness(), k = kernels(h);
  const wa = h.put(w), xa = h.put(x), ba = h.put(bias), all = h.zeros(tokens * rows * 4);
  k.f32_f32w_matmul(wa, ba, rows, cols, xa, tokens, all, rows);
  for (let t = 0; t < tokens; t++) {
    const one = h.zeros(rows * 4);
    k.f32_f32w_matmul(wa, ba, rows, cols, xa + t * cols * 4, 1, one, rows);
    assertEquals(Array.from(h.f32(one, rows)), Array.from(h.f32(all + t * rows * 4, rows)), `token ${t}`);
  }
});
