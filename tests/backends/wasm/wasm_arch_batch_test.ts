// The one wasm pass on random-shape models of every architecture (GPT-2, Qwen3, Qwen3-MoE, Llama, gpt-oss;
// mixed bf16/f16/f32 weights, biases, tied heads, sliding layers, routing options): batches over four KV
// slots, cut into steps of 8 rows over 3 shards, give each sequence bit for bit the logits it gets alone,
// on both precisions; the exact path matches the reference within f32 rounding; greedy()/topk() of a batch
// pick forward()'s argmax and top-k; the load progress climbs to 1.

import { assert, assertEquals } from "../../assert.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import { maxAbsDiff } from "../../fixture_util.ts";
import { RANDOM_ARCHS, randomArchModel } from "../webgpu/random_model.ts";
import { openWasm } from "./open_wasm.ts";
import { checkPicks, script } from "../batch_script.ts";

const SLOTS = 4, CTX = 40;

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
          await checkPicks(batched, V, what);
        } finally {
          batched.dispose();
          alone.dispose();
        }
      }
    });
  }
}
