// shaders/sdpa_sink_window.wgsl against the scalar reference sdpaSinkWindow(): decode and prefill, full and sliding
// windows, grouped KV heads, key counts past one 64-key chunk (with a partial last chunk), head_dim > 64;
// split attention (flash-decoding) over long contexts: several splits with a partial last one, windows
// across split boundaries, tokens whose last splits are empty, f16 caches; rows of several sequences, each at
// its own position in its own slot of the caches (a batch of decode steps, split or not).

import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { sdpaSinkWindow as refSdpaSinkWindow } from "../../../src/backends/ref/kernels.ts";
import { attentionSplits, sdpaSinkWindow } from "../../../src/backends/webgpu/ops.ts";
import { type KernelHarness, withHarness } from "./gpu_harness.ts";
import { maxRelDiff } from "../../diff.ts";
import { randomF32, rng } from "../../random.ts";

interface Case {
  tokens: number;
  pos0: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  window: number;
  /** (position, slot) of each row; default: positions pos0.. in slot 0. */
  rows?: [number, number][];
}

/** Split attention: keys per split, and up to how many tokens the split is used. */
interface Split {
  keys: number;
  maxTokens?: number;
}

async function check(h: KernelHarness, c: Case, seed: number, kvF16 = false, split?: Split): Promise<void> {
  const r = rng(seed);
  const rows = c.rows ?? Array.from({ length: c.tokens }, (_, t): [number, number] => [c.pos0 + t, 0]);
  const maxPos = Math.max(...rows.map(([p]) => p)), slots = 1 + Math.max(...rows.map(([, s]) => s));
  const ctx = maxPos + 1, kvw = c.kvHeads * c.headDim, qw = c.heads * c.headDim;
  const q = randomF32(c.tokens * qw, r, 2);
  // An f16 cache stores f16-rounded values; the reference sees exactly those.
  const round = (a: Float32Array) => kvF16 ? a.map(Math.f16round) : a;
  const k = round(randomF32(slots * ctx * kvw, r)), v = round(randomF32(slots * ctx * kvw, r));
  const sinks = randomF32(c.heads, r, 3);
  const want = new Float32Array(c.tokens * qw);
  rows.forEach(([pos, slot], t) => {
    const slotOf = (a: Float32Array) => a.subarray(slot * ctx * kvw, (slot + 1) * ctx * kvw);
    refSdpaSinkWindow(
      want,
      t * qw,
      q,
      t * qw,
      slotOf(k),
      slotOf(v),
      pos,
      c.window,
      sinks,
      c.heads,
      c.kvHeads,
      c.headDim,
    );
  });
  const out = h.put(c.tokens * qw * 4);
  const cache = (a: Float32Array) => h.put(kvF16 ? Float16Array.from(a) : a);
  const before = h.rec.dispatches;
  const keys = c.window > 0 ? Math.min(c.window, ctx) : ctx;
  const splits = split ? attentionSplits(keys, split.keys) : 1;
  const floats = c.tokens * c.heads * splits * (c.headDim + 2);
  sdpaSinkWindow(h.rec, {
    q: h.put(q),
    k: cache(k),
    v: cache(v),
    sinks: h.put(sinks),
    out,
    ...c,
    rows: { buffer: h.put(Uint32Array.from(rows.flat())), ctx, maxPos },
    kvF16,
    split: split && { scratch: h.put(new Float32Array(floats).fill(NaN)), floats },
    splitKeys: split?.keys,
    splitMaxTokens: split?.maxTokens,
  });
  const what = `${JSON.stringify({ ...c, rows: undefined })}${c.rows ? ` rows ${JSON.stringify(rows)}` : ""}${
    kvF16 ? " f16 cache" : ""
  }${split ? ` in ${splits} splits` : ""}`;
  assertEquals(h.rec.dispatches - before, splits > 1 ? 2 : 1, `${what}: dispatches`);
  const d = maxRelDiff(await h.f32(out, c.tokens * qw), want);
  assert(d < 1e-5, `${what}: differs by ${d}`);
}

Deno.test(
  "sdpa_sink_window matches the reference for decode and prefill, full and sliding",
  withHarness(async (h) => {
    await check(h, { tokens: 1, pos0: 0, heads: 4, kvHeads: 2, headDim: 16, window: 0 }, 1); // one key
    await check(h, { tokens: 1, pos0: 63, heads: 4, kvHeads: 4, headDim: 64, window: 0 }, 2); // exactly one chunk
    await check(h, { tokens: 1, pos0: 150, heads: 6, kvHeads: 2, headDim: 64, window: 0 }, 3); // 3 chunks, tail
    await check(h, { tokens: 1, pos0: 150, heads: 2, kvHeads: 1, headDim: 16, window: 8 }, 4); // window
    await check(h, { tokens: 9, pos0: 0, heads: 4, kvHeads: 2, headDim: 16, window: 0 }, 5); // prefill
    await check(h, { tokens: 7, pos0: 70, heads: 3, kvHeads: 3, headDim: 96, window: 5 }, 6); // dims past WG
    await check(h, { tokens: 5, pos0: 2, heads: 8, kvHeads: 1, headDim: 128, window: 3 }, 7);
  }),
);

Deno.test(
  "sdpa_sink_window matches the reference on random shapes",
  withHarness(async (h) => {
    const r = rng(31);
    for (let i = 0; i < 5; i++) {
      const kvHeads = 1 + Math.floor(r() * 3);
      await check(h, {
        tokens: 1 + Math.floor(r() * 6),
        pos0: Math.floor(r() * 100),
        heads: kvHeads * (1 + Math.floor(r() * 3)),
        kvHeads,
        headDim: 2 * (1 + Math.floor(r() * 40)),
        window: r() < 0.5 ? 0 : 1 + Math.floor(r() * 20),
      }, 40 + i);
    }
  }),
);

Deno.test(
  "sdpa_sink_window split over long contexts matches the reference (flash-decoding with the sink)",
  withHarness(async (h) => {
    const big = { keys: 256 };
    await check(h, { tokens: 1, pos0: 1000, heads: 8, kvHeads: 2, headDim: 64, window: 0 }, 70, false, big); // 4 splits, tail
    await check(h, { tokens: 1, pos0: 1023, heads: 4, kvHeads: 4, headDim: 64, window: 0 }, 71, false, big); // exact fit
    await check(h, { tokens: 1, pos0: 256, heads: 4, kvHeads: 1, headDim: 96, window: 0 }, 72, false, big); // 1 key past
    await check(h, { tokens: 1, pos0: 900, heads: 4, kvHeads: 2, headDim: 32, window: 300 }, 73, false, big); // window
    await check(h, { tokens: 1, pos0: 100, heads: 4, kvHeads: 2, headDim: 16, window: 0 }, 74, false, big); // 1 split: main
    const small = { keys: 64, maxTokens: 8 };
    await check(h, { tokens: 5, pos0: 190, heads: 3, kvHeads: 1, headDim: 24, window: 0 }, 75, false, small); // empty splits
    await check(
      h,
      { tokens: 4, pos0: 150, heads: 4, kvHeads: 2, headDim: 128, window: 100 },
      76,
      false,
      small,
    );
  }),
);

Deno.test(
  "sdpa_sink_window split matches the reference on random long contexts",
  withHarness(async (h) => {
    const r = rng(91);
    for (let i = 0; i < 4; i++) {
      const kvHeads = 1 + Math.floor(r() * 2);
      await check(
        h,
        {
          tokens: 1 + Math.floor(r() * 3),
          pos0: 64 + Math.floor(r() * 700),
          heads: kvHeads * (1 + Math.floor(r() * 3)),
          kvHeads,
          headDim: 2 * (1 + Math.floor(r() * 50)),
          window: r() < 0.5 ? 0 : 64 + Math.floor(r() * 300),
        },
        90 + i,
        false,
        { keys: 64 * (1 + Math.floor(r() * 3)), maxTokens: 4 },
      );
    }
  }),
);

Deno.test(
  "sdpa_sink_window runs each row of a batch against its own slot at its own position, split or not",
  withHarness(async (h) => {
    // four sequences' decode rows: slots 2, 0, 3, 1 at positions 5, 300, 0, 71 (4 slots of 301 rows)
    const rows: [number, number][] = [[5, 2], [300, 0], [0, 3], [71, 1]];
    const c = { tokens: 4, pos0: 0, heads: 4, kvHeads: 2, headDim: 32, window: 0, rows };
    await check(h, c, 80); // one workgroup per (head, row)
    await check(h, c, 81, false, { keys: 64, maxTokens: 4 }); // 5 splits for the longest row; empty splits
    await check(h, { ...c, window: 50 }, 82, false, { keys: 64, maxTokens: 4 });
    // a prefill piece of one sequence beside a decode row of another, in one step
    const mixed: [number, number][] = [[9, 1], [10, 1], [11, 1], [40, 0]];
    await check(h, { ...c, rows: mixed, heads: 3, kvHeads: 3, headDim: 10 }, 83);
  }),
);

Deno.test(
  "sdpa_sink_window f16kv variant reads an f16 cache like the reference (refused without shader-f16)",
  withHarness(async (h) => {
    if (!h.gpu.hasF16) {
      // GL adapters (and some real GPUs) have no shader-f16: the variant is refused in one line, and the
      // f32 cache (the default) is what runs; the test above covers it.
      const c = { tokens: 1, heads: 2, kvHeads: 1, headDim: 16, window: 0 };
      const buf = h.put(64 * 4), rows = { buffer: buf, ctx: 4, maxPos: 3 };
      assertThrows(
        () =>
          sdpaSinkWindow(h.rec, { q: buf, k: buf, v: buf, sinks: buf, out: buf, ...c, rows, kvF16: true }),
        Error,
        /needs a GPU with shader-f16/,
      );
      // the split path (a decode step over more than 256 keys) is refused alike
      const split = { scratch: buf, floats: 64 };
      assertThrows(
        () =>
          sdpaSinkWindow(h.rec, {
            q: buf,
            k: buf,
            v: buf,
            sinks: buf,
            out: buf,
            ...c,
            rows: { ...rows, ctx: 301, maxPos: 300 },
            kvF16: true,
            split,
          }),
        Error,
        /needs a GPU with shader-f16/,
      );
      return;
    }
    await check(h, { tokens: 1, pos0: 150, heads: 6, kvHeads: 2, headDim: 64, window: 0 }, 60, true);
    await check(h, { tokens: 7, pos0: 70, heads: 3, kvHeads: 3, headDim: 96, window: 5 }, 61, true);
    await check(h, { tokens: 4, pos0: 3, heads: 2, kvHeads: 1, headDim: 10, window: 0 }, 62, true);
    await check(h, { tokens: 1, pos0: 700, heads: 4, kvHeads: 2, headDim: 64, window: 0 }, 63, true, {
      keys: 256,
    });
  }),
);
