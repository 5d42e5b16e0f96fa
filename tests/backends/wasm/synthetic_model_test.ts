// The WASM backend against the reference backend on synthetic checkpoints of shapes unlike the fixture's
// (heads*head_dim != hidden, odd expert counts, several shards), and the shard plan for gpt-oss-20b.

import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { OssiError } from "../../../src/errors.ts";
import { loadModel } from "../../../src/model/load.ts";
import { gptOss } from "../../../src/model/gpt_oss.ts";
import { WasmBackend } from "../../../src/backends/wasm/wasm_backend.ts";
import { forward1, refBackend } from "../fixture_check.ts";
import { rowTopkArgmax } from "../../../src/backends/ref/kernels.ts";
import { planShards, shardCount, type ShardModel } from "../../../src/backends/wasm/shard_layout.ts";
import type { Mat } from "../../../src/model/dtypes.ts";
import { loadWeights, type WeightReader } from "../../../src/model/weights.ts";
import {
  GPT_OSS_20B,
  synthConfig,
  type SynthShape,
  writeSynthCheckpoint,
} from "../../../scripts/synth_checkpoint.ts";
import { maxAbsDiff } from "../../fixture_util.ts";

const SHAPES: SynthShape[] = [
  {
    layers: 3,
    vocab: 300,
    hidden: 96,
    heads: 6,
    kvHeads: 2,
    headDim: 8,
    experts: 5,
    topK: 3,
    ffn: 64,
    slidingWindow: 4,
  },
  {
    layers: 2,
    vocab: 257,
    hidden: 64,
    heads: 2,
    kvHeads: 1,
    headDim: 36,
    experts: 3,
    topK: 1,
    ffn: 96,
    slidingWindow: 3,
  },
];

for (const [i, shape] of SHAPES.entries()) {
  Deno.test(`WasmBackend matches RefBackend on synthetic shape ${i} (prefill, decode, greedy)`, async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ossi-synth-" });
    try {
      await writeSynthCheckpoint(dir, shape, 7 + i);
      const model = loadModel(dir);
      const ref = refBackend(model, 32);
      const progress: number[] = [];
      const wasm = await WasmBackend.create(model.config, model.plan, model.weights, {
        maxContext: 32,
        threads: 2,
        shards: 3,
        maxTokens: 6,
        onProgress: (done, total) => progress.push(done / total),
      });
      // the progress callback climbs monotonically to exactly 1
      assert(progress.length > 3 && progress.every((p, k) => k === 0 || p >= progress[k - 1]));
      assertEquals(progress.at(-1), 1);
      try {
        const prompt = Array.from({ length: 11 }, (_, t) => (t * 37 + 5) % shape.vocab);
        const a = await forward1(ref, prompt, 0, "all"),
          b = await wasm.forward(prompt, 0, { logits: "all" });
        const scale = Math.max(...a.map(Math.abs));
        const d = maxAbsDiff(b, Array.from(a));
        assert(d <= 2e-3 * Math.max(1, scale), `prompt logits differ by ${d} (logit scale ${scale})`);
        let na = rowTopkArgmax(a, prompt.length - 1, shape.vocab),
          nb = rowTopkArgmax(b, prompt.length - 1, shape.vocab);
        for (let s = 0; s < 6; s++) {
          assertEquals(nb, na, `greedy token ${s}`);
          const sa = await forward1(ref, [na], prompt.length + s, "last");
          const sb = await wasm.forward([nb], prompt.length + s, { logits: "last" });
          na = rowTopkArgmax(sa);
          nb = rowTopkArgmax(sb);
        }
      } finally {
        wasm.dispose();
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

/** Weights of the right dtypes and shapes and no data: enough to lay shards out. */
const shapesOnly: WeightReader = {
  mat: (_, rows, cols): Mat => ({ dtype: "BF16", rows, cols, data: new Uint16Array(0) }),
  vec: () => new Float32Array(0),
  u8: () => new Uint8Array(0),
};

Deno.test("planShards() splits gpt-oss-20b into memories under 4 GiB that cover every row and KV head once", () => {
  const cfg = gptOss.parseConfig("synthetic", synthConfig(GPT_OSS_20B)), plan = gptOss.plan(cfg);
  const weights = loadWeights(shapesOnly, cfg, plan, gptOss.tensorNames(cfg, null, "synthetic"));
  const m: ShardModel = {
    config: cfg,
    plan,
    weights,
    maxTokens: 64,
    maxContext: 8192,
    slots: 1,
    formats: {},
  };
  const shards = shardCount(m, 2);
  assertEquals(shards, 4);
  const layouts = planShards(m, shards);
  for (const s of layouts) assert(s.pages * 65536 <= 4 * 2 ** 30, `shard ${s.index} is ${s.pages} pages`);
  const covered = (pick: (s: (typeof layouts)[number]) => { r0: number; rows: number }, total: number) => {
    let next = 0;
    for (const s of layouts) {
      const { r0, rows } = pick(s);
      assertEquals(r0, next);
      next += rows;
    }
    assertEquals(next, total);
  };
  const experts = (s: (typeof layouts)[number], l: number) => {
    const f = s.layers[l].ffn;
    if (f.kind !== "mxfp4") throw new Error(`layer ${l}: ${f.kind} experts`);
    return f;
  };
  covered((s) => s.unembed, cfg.vocabSize);
  covered((s) => s.layers[5].q, cfg.numHeads * cfg.headDim);
  covered((s) => s.layers[5].k, cfg.numKvHeads * cfg.headDim);
  covered((s) => ({ r0: s.heads.kv0, rows: s.heads.kvHeads }), cfg.numKvHeads);
  covered((s) => ({ r0: s.heads.h0, rows: s.heads.heads }), cfg.numHeads);
  // each shard's q rows are its KV heads' query heads
  for (const s of layouts) assertEquals(s.layers[5].q.r0, s.heads.h0 * cfg.headDim);
  // every shard routes with the whole router
  for (const s of layouts) {
    assertEquals([experts(s, 5).router.r0, experts(s, 5).router.rows], [0, cfg.numExperts]);
  }
  covered((s) => experts(s, 5).gateUp, 2 * cfg.intermediateSize);
  covered((s) => experts(s, 5).down, cfg.hiddenSize);
  covered((s) => ({ r0: s.layers[5].act.c0, rows: s.layers[5].act.cols }), cfg.intermediateSize);
  for (const s of layouts) assertEquals(experts(s, 0).gateUp.r0 % 2, 0);
  // a long context takes more shards: the KV cache is split with the heads
  assert(shardCount({ ...m, maxContext: 131072 }, 2) > shards);
});

Deno.test("WasmBackend.create() rejects shapes its kernels cannot tile with a one-line OssiError", async () => {
  const cfg = gptOss.parseConfig("synthetic", synthConfig({ ...SHAPES[0], headDim: 6, heads: 4 }));
  let err: unknown;
  await WasmBackend.create(cfg, gptOss.plan(cfg), {} as never, { maxContext: 8 }).catch((e) => (err = e));
  assert(err instanceof OssiError, String(err));
  assertMatch((err as Error).message, /head_dim 6 .*try --backend ref$/);
});
