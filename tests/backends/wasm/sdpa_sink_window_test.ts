// sdpa_sink_window (asm/sdpa_sink_window.ts) against the reference sdpaSinkWindow(): grouped query heads,
// full attention and a sliding window, one and several tokens at several positions; the rows called in runs
// (as the Attn step does over a long context) give the one call's bits.

import { assert, assertEquals } from "../../assert.ts";
import { sdpaSinkWindow } from "../../../src/backends/ref/kernels.ts";
import { Harness } from "./kernel_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

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
    sdpaSinkWindow(want, t * qw, q, t * qw, kc, vc, pos0 + t, window, sinks, heads, kvHeads, dim);
  }
  const h = new Harness(1024);
  const out = h.zeros(want.byteLength), qAt = h.put(q), kAt = h.put(kc), vAt = h.put(vc), sAt = h.put(sinks);
  const scratch = h.zeros((heads / kvHeads) * ctx * 4);
  /** Rows [t0, t0 + n) of the query. */
  const rows = (t0: number, n: number) =>
    h.k.sdpa_sink_window(
      out + t0 * qw * 4,
      qAt + t0 * qw * 4,
      kAt,
      vAt,
      pos0 + t0,
      n,
      window,
      sAt,
      heads,
      kvHeads,
      dim,
      scratch,
    );
  rows(0, tokens);
  const got = h.f32(out, want.length);
  const d = maxRelDiff(got, want);
  assert(d < 1e-5, `attention differs by ${d}`);
  for (const run of [1, 2, 3]) {
    new Float32Array(h.memory.buffer, out, want.length).fill(NaN);
    for (let t = 0; t < tokens; t += run) rows(t, Math.min(run, tokens - t));
    assertEquals(h.f32(out, want.length), got, `rows in runs of ${run}`);
  }
}

Deno.test("sdpa_sink_window() matches sdpaSinkWindow() with full attention and a sliding window", () => {
  checkAttention(4, 2, 16, 0, 1, 0, 1);
  checkAttention(4, 2, 16, 0, 9, 0, 2);
  checkAttention(4, 2, 16, 5, 7, 3, 3);
  checkAttention(8, 1, 64, 40, 2, 8, 4);
  checkAttention(6, 3, 12, 20, 4, 0, 5);
  // gpt-oss-20b's eight query heads per KV head (two passes of four), and five (four and one)
  checkAttention(16, 2, 64, 30, 5, 0, 6);
  checkAttention(10, 2, 32, 12, 3, 4, 7);
});
