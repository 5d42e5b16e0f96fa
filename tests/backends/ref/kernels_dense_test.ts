// The GPT-2 / Qwen3 scalar kernels against float64 formulas written out independently, on random shapes.

import { assert, assertEquals } from "../../assert.ts";
import { moeRouterTopkSoftmax, rmsnorm, sdpaSinkWindow } from "../../../src/backends/ref/kernels.ts";
import {
  geluTanh,
  layernorm,
  moeRouterSoftmaxTopk,
  qkRmsnorm,
  sdpaSinkWindowNoSink,
  swiglu,
} from "../../../src/backends/ref/kernels_dense.ts";

/** Deterministic uniform values in [-scale, scale). */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number, scale = 1) =>
    Float32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s / 2 ** 32 * 2 - 1) * scale;
    });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertEquals(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("layernorm() matches (x - mean) / sqrt(var + eps) * w + b on random shapes", () => {
  const r = rng(1);
  for (const [tokens, n] of [[1, 64], [3, 7], [5, 130], [2, 1]]) {
    const x = r(tokens * n, 3), w = r(n, 2), b = r(n);
    const y = new Float32Array(tokens * n);
    layernorm(y, x, w, b, 1e-5, tokens, n);
    const want = new Float64Array(tokens * n);
    for (let t = 0; t < tokens; t++) {
      const row = Array.from(x.subarray(t * n, (t + 1) * n));
      const mean = row.reduce((a, v) => a + v, 0) / n;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
      row.forEach((v, i) => want[t * n + i] = (v - mean) / Math.sqrt(variance + 1e-5) * w[i] + b[i]);
    }
    assert(maxDiff(y, want) < 1e-5, `tokens ${tokens} n ${n}: ${maxDiff(y, want)}`);
  }
});

Deno.test("layernorm() uses the biased variance and eps (a constant row maps to the bias)", () => {
  const y = new Float32Array(4);
  layernorm(
    y,
    new Float32Array([2, 2, 2, 2]),
    new Float32Array([5, 5, 5, 5]),
    new Float32Array([1, 2, 3, 4]),
    1e-5,
    1,
    4,
  );
  assertEquals(Array.from(y), [1, 2, 3, 4]);
  // [0, 2]: mean 1, biased var 1 (unbiased would be 2)
  layernorm(y, new Float32Array([0, 2]), new Float32Array([1, 1]), new Float32Array([0, 0]), 0, 1, 2);
  assert(Math.abs(y[0] + 1) < 1e-7 && Math.abs(y[1] - 1) < 1e-7);
});

Deno.test("geluTanh() is the tanh approximation, not the erf GELU", () => {
  const x = Float32Array.from([-3, -1, -0.5, 0, 0.5, 1, 3, 10]);
  const want = Array.from(
    x,
    (u) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3))),
  );
  geluTanh(x);
  assert(maxDiff(x, want) < 1e-6);
  // gelu_new(1) = 0.841192; the exact erf GELU gives 0.841345
  assert(Math.abs(x[5] - 0.8411920) < 1e-6);
  // only the first n values change
  const y = Float32Array.from([1, 1, 1]);
  geluTanh(y, 2);
  assertEquals(y[2], 1);
});

Deno.test("qkRmsnorm() normalises each head separately with one shared weight vector", () => {
  const r = rng(2);
  for (const [rows, heads, dim] of [[1, 4, 32], [3, 2, 16], [2, 3, 6]]) {
    const x = r(rows * heads * dim, 4), w = r(dim, 2);
    const ours = x.slice();
    qkRmsnorm(ours, w, 1e-6, rows, heads, dim);
    // rmsnorm over rows*heads rows of width dim is the same computation
    const want = new Float32Array(x.length);
    rmsnorm(want, x, w, 1e-6, rows * heads, dim);
    assert(maxDiff(ours, want) < 1e-6);
    // and differs from normalising a token's heads together
    const whole = new Float32Array(x.length), wAll = new Float32Array(heads * dim);
    for (let h = 0; h < heads; h++) wAll.set(w, h * dim);
    rmsnorm(whole, x, wAll, 1e-6, rows, heads * dim);
    assert(maxDiff(ours, whole) > 1e-3);
  }
});

Deno.test("swiglu() is silu(gate) * up with no clamp", () => {
  const r = rng(3);
  const n = 37, gate = r(n, 12), up = r(n, 12), out = new Float32Array(n);
  swiglu(out, gate, up, n);
  const want = Array.from(gate, (g, i) => g / (1 + Math.exp(-g)) * up[i]);
  assert(maxDiff(out, want) < 1e-5);
});

/** Plain float64 causal attention: softmax(q k^T / sqrt(dim)) v over keys [start, pos]. */
function naiveAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  pos: number,
  window: number,
  heads: number,
  kvHeads: number,
  dim: number,
) {
  const out = new Float64Array(heads * dim), kvw = kvHeads * dim;
  const start = window > 0 ? Math.max(0, pos - window + 1) : 0;
  for (let h = 0; h < heads; h++) {
    const kh = Math.floor(h / (heads / kvHeads));
    const s: number[] = [];
    for (let j = start; j <= pos; j++) {
      let d = 0;
      for (let i = 0; i < dim; i++) d += q[h * dim + i] * k[j * kvw + kh * dim + i];
      s.push(d / Math.sqrt(dim));
    }
    const m = Math.max(...s), e = s.map((x) => Math.exp(x - m)), z = e.reduce((a, b) => a + b, 0);
    for (let i = 0; i < dim; i++) {
      let acc = 0;
      for (let j = start; j <= pos; j++) acc += e[j - start] / z * v[j * kvw + kh * dim + i];
      out[h * dim + i] = acc;
    }
  }
  return out;
}

Deno.test("sdpaSinkWindowNoSink() is softmax attention without sinks, with GQA and an optional window", () => {
  const r = rng(4);
  for (
    const [heads, kvHeads, dim, ctx, window] of [[4, 2, 16, 9, 0], [4, 4, 8, 5, 0], [6, 2, 6, 12, 4], [
      2,
      1,
      32,
      1,
      0,
    ]]
  ) {
    const kvw = kvHeads * dim, k = r(ctx * kvw, 2), v = r(ctx * kvw, 2);
    for (const pos of [0, ctx - 1, Math.floor(ctx / 2)]) {
      const q = r(heads * dim, 2), out = new Float32Array(heads * dim);
      sdpaSinkWindowNoSink(out, 0, q, 0, k, v, pos, window, heads, kvHeads, dim);
      const d = maxDiff(out, naiveAttention(q, k, v, pos, window, heads, kvHeads, dim));
      assert(d < 1e-5, `heads ${heads}/${kvHeads} dim ${dim} pos ${pos} window ${window}: ${d}`);
      // a finite sink changes the result: the no-sink path really has none
      const sunk = new Float32Array(heads * dim);
      sdpaSinkWindow(sunk, 0, q, 0, k, v, pos, window, new Float32Array(heads), heads, kvHeads, dim);
      assert(maxDiff(out, sunk) > 1e-4);
    }
  }
});

Deno.test("moeRouterSoftmaxTopk() with normTopk equals a softmax over the chosen logits; without it keeps the full-softmax probabilities", () => {
  const r = rng(5);
  for (const [n, k] of [[8, 3], [128, 8], [4, 4], [5, 1]]) {
    for (let rep = 0; rep < 5; rep++) {
      const logits = r(n, 4);
      const norm = moeRouterSoftmaxTopk(logits, k, true),
        raw = moeRouterSoftmaxTopk(logits, k, false),
        gptOss = moeRouterTopkSoftmax(logits, k);
      assertEquals(Array.from(norm.experts), Array.from(gptOss.experts));
      assertEquals(Array.from(raw.experts), Array.from(gptOss.experts));
      assert(maxDiff(norm.weights, gptOss.weights) < 1e-6);
      const z = Array.from(logits).reduce((a, x) => a + Math.exp(x), 0);
      const want = Array.from(raw.experts, (e) => Math.exp(logits[e]) / z);
      assert(maxDiff(raw.weights, want) < 1e-6);
      const sum = raw.weights.reduce((a, b) => a + b, 0);
      assert(k === n ? Math.abs(sum - 1) < 1e-6 : sum < 1 - 1e-6, `k ${k} of ${n}: sum ${sum}`);
    }
  }
});

Deno.test("moeRouterSoftmaxTopk() breaks ties toward the lower index, highest first", () => {
  const sel = moeRouterSoftmaxTopk(Float32Array.from([1, 3, 3, 0, 3]), 2, true);
  assertEquals(Array.from(sel.experts), [1, 2]);
  assert(Math.abs(sel.weights[0] - 0.5) < 1e-7);
});
