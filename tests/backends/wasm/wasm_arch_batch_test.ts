// The one wasm pass on random-shape models of every architecture (GPT-2, Qwen3, Qwen3-MoE, Llama, gpt-oss;
// mixed bf16/f16/f32 weights, biases, tied heads, sliding layers, routing options): batches over four KV
// slots, cut into steps of 8 rows over 3 shards, give each sequence bit for bit the logits it gets alone,
// on both precisions; the exact path matches the reference within f32 rounding; greedy()/topk() of a batch
// pick forward()'s argmax and top-k; the load progress climbs to 1.

import { assert, assertEquals } from "../../assert.ts";
import type { Backend, Sequence } from "../../../src/backends/backend.ts";
import { argmax } from "../../../src/backends/ref/kernels.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import { maxAbsDiff } from "../../fixture_util.ts";
import { rng } from "../../random.ts";
import { RANDOM_ARCHS, randomArchModel } from "../webgpu/random_model.ts";
import { openWasm } from "./open_wasm.ts";

const SLOTS = 4, CTX = 40;

/**
 * Batches that exercise the slots: two prompts prefilled together (one longer than a step), a third
 * joining their decode steps, then decode batches at different positions, slots out of order.
 */
function script(vocab: number, seed: number): Sequence[][] {
  const r = rng(seed), toks = (n: number) => Array.from({ length: n }, () => Math.floor(r() * vocab));
  const one = () => toks(1);
  return [
    [{ slot: 0, tokens: toks(13), pos: 0, logits: "all" }, {
      slot: 2,
      tokens: toks(5),
      pos: 0,
      logits: "last",
    }],
    [
      { slot: 2, tokens: one(), pos: 5, logits: "last" },
      { slot: 1, tokens: toks(7), pos: 0, logits: "all" },
      { slot: 0, tokens: one(), pos: 13, logits: "last" },
    ],
    [
      { slot: 3, tokens: toks(2), pos: 0, logits: "all" },
      { slot: 1, tokens: one(), pos: 7, logits: "last" },
      { slot: 0, tokens: one(), pos: 14, logits: "none" },
      { slot: 2, tokens: one(), pos: 6, logits: "last" },
    ],
    [{ slot: 2, tokens: one(), pos: 7, logits: "last" }, { slot: 3, tokens: one(), pos: 2, logits: "last" }],
  ];
}

/** greedy() and topk() of a batch equal forward()'s argmax and sorted logits, per sequence. */
async function checkPicks(b: Backend, what: string): Promise<void> {
  const batch = [{ slot: 3, tokens: [1, 2], pos: 3 }, { slot: 0, tokens: [5], pos: 15 }];
  const ids = await b.greedy!(batch), top = await b.topk!(batch, 4);
  const logits = await b.forward(batch.map((s) => ({ ...s, logits: "last" as const })));
  batch.forEach((_, j) => {
    const l = logits[j], order = Array.from(l.keys()).sort((x, y) => l[y] - l[x] || x - y).slice(0, 4);
    assertEquals(ids[j], argmax(l), `${what}: greedy of sequence ${j}`);
    assertEquals(Array.from(top[j].ids), order, `${what}: topk ids of sequence ${j}`);
    assertEquals(Array.from(top[j].logits), order.map((i) => l[i]), `${what}: topk logits of sequence ${j}`);
  });
}

for (const arch of RANDOM_ARCHS) {
  for (const seed of [1, 2]) {
    Deno.test(`wasm batches over ${SLOTS} slots equal each sequence alone: random-shape ${arch} ${seed}`, async () => {
      const model = randomArchModel(arch, seed), V = model.config.vocabSize;
      const ref = new RefBackend(model.config, model.plan, model.weights, { maxContext: CTX, slots: SLOTS });
      for (const fast of [false, true]) {
        const what = `${arch} ${seed}${fast ? " fast" : ""}`, progress: number[] = [];
        const precision = { int8Weights: fast, moeInt8: fast };
        const batched = await openWasm(model, {
          maxContext: CTX,
          slots: SLOTS,
          threads: 2,
          shards: 3,
          maxTokens: 8,
          onProgress: (done, total) => progress.push(done / total),
          ...precision,
        });
        const alone = await openWasm(model, { maxContext: CTX, slots: SLOTS, threads: 1, ...precision });
        try {
          assert(progress.every((p, k) => k === 0 || p > progress[k - 1]), `${what}: progress climbs`);
          assertEquals(progress.at(-1), 1, `${what}: progress ends at 1`);
          for (const [i, batch] of script(V, seed).entries()) {
            const got = await batched.forward(batch);
            const want = fast ? null : await ref.forward(batch);
            for (const [j, s] of batch.entries()) {
              assertEquals(got[j], (await alone.forward([s]))[0], `${what}: batch ${i} sequence ${j} alone`);
              if (!want) continue;
              const d = maxAbsDiff(got[j], Array.from(want[j]));
              assert(d < 2e-3, `${what}: batch ${i} sequence ${j} differs from the reference by ${d}`);
            }
          }
          await checkPicks(batched, what);
        } finally {
          batched.dispose();
          alone.dispose();
        }
      }
    });
  }
}
