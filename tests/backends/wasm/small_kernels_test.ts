// rmsnorm, add_inplace, rope, sdpa_sink_window and topk_softmax against the reference kernels.

import { assert, assertEquals } from "../../assert.ts";
import { attentionSink, rmsnorm, rope, topkSoftmax } from "../../../src/backends/ref/kernels.ts";
import { ropeTables } from "../../../src/model/rope.ts";
import { gptOssRope } from "../../rope_configs.ts";
import { ropeCosSin } from "../../../src/backends/wasm/rope_tables.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

Deno.test("rmsnorm() matches the reference on one and several tokens", () => {
  for (const [tokens, n, seed] of [[1, 64, 1], [5, 2880, 2], [3, 4, 3]]) {
    const r = rng(seed);
    const x = randomF32(tokens * n, r, 3), w = randomF32(n, r);
    const want = new Float32Array(tokens * n);
    rmsnorm(want, x, w, 1e-5, tokens, n);
    const h = new Harness(1024);
    const y = h.zeros(x.byteLength);
    h.k.rmsnorm(y, h.put(x), h.put(w), 1e-5, tokens, n);
    assert(maxRelDiff(h.f32(y, tokens * n), want) < 1e-5);
  }
});

Deno.test("add_inplace() adds with a partial tail", () => {
  const r = rng(4), a = randomF32(23, r), b = randomF32(23, r);
  const h = new Harness();
  const at = h.put(a);
  h.k.add_inplace(at, h.put(b), 23);
  assertEquals(Array.from(h.f32(at, 23)), Array.from(a, (v, i) => Math.fround(v + b[i])));
});

Deno.test("rope() with YaRN tables matches the reference at several positions", () => {
  const cfg = gptOssRope(64);
  const tables = ropeTables(cfg);
  const { cos, sin } = ropeCosSin(tables, 64, 300);
  const r = rng(5), tokens = 3, heads = 4, stride = heads * 64 + 32, pos0 = 297;
  const x = randomF32(tokens * stride, r);
  const want = x.slice();
  for (let t = 0; t < tokens; t++) rope(want, t * stride, heads, 64, pos0 + t, tables);
  const h = new Harness(1024);
  const at = h.put(x);
  h.k.rope(at, tokens, stride, heads, 64, h.put(cos), h.put(sin), pos0);
  assert(maxRelDiff(h.f32(at, x.length), want) < 1e-5);
});

function checkAttention(
  heads: number,
  kvHeads: number,
  dim: number,
  pos0: number,
  tokens: number,
  window: number,
  seed: number,
) {
  const r = rng(seed), ctx = pos0 + tokens, kvw = kvHeads * dim, qw = heads * dim;
  const q = randomF32(tokens * qw, r),
    kc = randomF32(ctx * kvw, r),
    vc = randomF32(ctx * kvw, r),
    sinks = randomF32(heads, r, 2);
  const want = new Float32Array(tokens * qw);
  for (let t = 0; t < tokens; t++) {
    attentionSink(want, t * qw, q, t * qw, kc, vc, pos0 + t, window, sinks, heads, kvHeads, dim);
  }
  const h = new Harness(1024);
  const out = h.zeros(want.byteLength);
  h.k.sdpa_sink_window(
    out,
    h.put(q),
    h.put(kc),
    h.put(vc),
    pos0,
    tokens,
    window,
    h.put(sinks),
    heads,
    kvHeads,
    dim,
    h.zeros((heads / kvHeads) * ctx * 4),
  );
  const d = maxRelDiff(h.f32(out, want.length), want);
  assert(d < 1e-5, `attention differs by ${d}`);
}

Deno.test("sdpa_sink_window() matches attentionSink() with full attention and a sliding window", () => {
  checkAttention(4, 2, 16, 0, 1, 0, 1);
  checkAttention(4, 2, 16, 0, 9, 0, 2);
  checkAttention(4, 2, 16, 5, 7, 3, 3);
  checkAttention(8, 1, 64, 40, 2, 8, 4);
  checkAttention(6, 3, 12, 20, 4, 0, 5);
  // gpt-oss-20b's eight query heads per KV head (two passes of four), and five (four and one)
  checkAttention(16, 2, 64, 30, 5, 0, 6);
  checkAttention(10, 2, 32, 12, 3, 4, 7);
});

Deno.test("topk_softmax() matches topkSoftmax(), ties going to the lower index", () => {
  const r = rng(6);
  for (const [n, k, tokens] of [[32, 4, 3], [8, 2, 5], [5, 5, 1]]) {
    const logits = Float32Array.from({ length: tokens * n }, () => Math.round(r() * 6) / 2); // many ties
    const h = new Harness();
    const sel = h.zeros(tokens * k * 4), w = h.zeros(tokens * k * 4);
    h.k.topk_softmax(h.put(logits), tokens, n, k, sel, w);
    for (let t = 0; t < tokens; t++) {
      const want = topkSoftmax(logits.subarray(t * n, (t + 1) * n), k);
      assertEquals(Array.from(h.i32(sel + t * k * 4, k)), Array.from(want.experts));
      assert(maxRelDiff(h.f32(w + t * k * 4, k), want.weights) < 1e-6);
    }
  }
});
