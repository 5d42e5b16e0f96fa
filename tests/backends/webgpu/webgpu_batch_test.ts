// The WebGPU backend on batches of sequences in several KV slots against the reference backend running the
// same batches: prompts of different lengths cut across steps, a prefill joining decode steps, decode
// batches of 2-4 sequences at different positions, greedy()/topk() per sequence, on random-shape models of
// every architecture (load progress reported for each); MXFP4 experts grouped across sequences; what a
// decode batch costs (each weight read once per step, not per sequence); a stop polled between layers;
// argument errors.

import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { OssiError } from "../../../src/errors.ts";
import { type Backend, ForwardAbortedError, type Sequence } from "../../../src/backends/backend.ts";
import { RefBackend } from "../../../src/backends/ref/ref_backend.ts";
import {
  STOP_POLL_ROWS,
  WebGpuBackend,
  type WebGpuOptions,
} from "../../../src/backends/webgpu/webgpu_backend.ts";
import type { GptOssConfig } from "../../../src/model/gpt_oss.ts";
import { type LoadedModel, loadModel } from "../../../src/model/load.ts";
import { FIXTURES, maxAbsDiff, readReference } from "../../fixture_util.ts";
import { sharedGpu } from "./gpu_harness.ts";
import { RANDOM_ARCHS, randomArchModel, randomModel } from "./random_model.ts";
import { checkPicks, script } from "../batch_script.ts";

const SLOTS = 4, CTX = 40;

async function webgpu(model: LoadedModel, opts: Partial<WebGpuOptions> = {}): Promise<WebGpuBackend> {
  return await WebGpuBackend.create(model.config, model.plan, model.weights, {
    maxContext: CTX,
    slots: SLOTS,
    gpu: await sharedGpu(),
    ...opts,
  });
}

/** Runs the script on both backends; every sequence's logits agree within `tol`. Returns the worst. */
async function compareScript(got: Backend, want: Backend, batches: Sequence[][], tol: number, what: string) {
  let worst = 0;
  for (const [i, batch] of batches.entries()) {
    const g = await got.forward(batch), w = await want.forward(batch);
    batch.forEach((s, j) => {
      assertEquals(g[j].length, w[j].length, `${what}: batch ${i} sequence ${j} rows`);
      const d = maxAbsDiff(g[j], Array.from(w[j]));
      worst = Math.max(worst, d);
      assert(d < tol, `${what}: batch ${i} sequence ${j} (slot ${s.slot}) differs by ${d}`);
    });
  }
  return worst;
}

for (const arch of RANDOM_ARCHS) {
  for (const seed of [1, 2]) {
    Deno.test(`WebGPU batches over ${SLOTS} slots match the reference: random-shape ${arch} ${seed}`, async () => {
      const model = randomArchModel(arch, seed), V = model.config.vocabSize;
      const ref = new RefBackend(model.config, model.plan, model.weights, { maxContext: CTX, slots: SLOTS });
      // steps of 8 rows: prompts cut across steps, several sequences in one step; weights split in parts
      const progress: [number, number][] = [];
      const b = await webgpu(model, {
        maxTokens: 8,
        maxBindingBytes: 16384,
        onProgress: (done, total) => progress.push([done, total]),
      });
      try {
        // load progress: after each layer, then the embeddings and head
        const L = model.config.numLayers;
        assertEquals(progress, Array.from({ length: L + 1 }, (_, i) => [i + 1, L + 1]), "progress");
        await compareScript(b, ref, script(V, seed), 2e-3, `${arch} ${seed}`);
        await checkPicks(b, V, `${arch} ${seed}`);
      } finally {
        b.dispose();
      }
    });
  }
}

Deno.test("WebGPU batches on every fixture match the reference backend on the same batches", async () => {
  for (const fixture of ["gpt-oss-tiny", "gpt2-tiny", "qwen3-tiny", "qwen3-moe-tiny", "llama-tiny"]) {
    const model = loadModel(`${FIXTURES}/${fixture}`), V = model.config.vocabSize;
    const tol = readReference(fixture).recommended_tolerance.logits_max_abs_diff;
    const ref = new RefBackend(model.config, model.plan, model.weights, { maxContext: CTX, slots: SLOTS });
    const b = await webgpu(model);
    try {
      await compareScript(b, ref, script(V, 7), tol, fixture);
      await checkPicks(b, V, fixture);
    } finally {
      b.dispose();
    }
  }
});

Deno.test("WebGPU decode batch: a sequence's logits equal its own decode step's (within f32 rounding)", async () => {
  const model = loadModel(`${FIXTURES}/gpt-oss-tiny`), toks = readReference("gpt-oss-tiny").prompt_token_ids;
  const alone = await webgpu(model), batched = await webgpu(model);
  try {
    const prompts = [toks.slice(0, 9), toks.slice(3, 20), toks.slice(10, 14)];
    const decode = prompts.map((p, s) => ({
      slot: s,
      tokens: [p[0]],
      pos: p.length,
      logits: "last" as const,
    }));
    for (const b of [alone, batched]) {
      await b.forward(prompts.map((tokens, slot) => ({ slot, tokens, pos: 0, logits: "none" as const })));
    }
    const together = await batched.forward(decode);
    for (const [s, seq] of decode.entries()) {
      const [own] = await alone.forward([seq]);
      const scale = Math.max(1, ...Array.from(own, Math.abs)), d = maxAbsDiff(together[s], Array.from(own));
      assert(d <= 1e-5 * scale, `sequence ${s}: batched decode differs from its own step by ${d}`);
    }
  } finally {
    alone.dispose();
    batched.dispose();
  }
});

Deno.test("WebGPU MXFP4 experts grouped by expert across the sequences of a decode batch match the reference", async () => {
  for (const seed of [1, 2, 3]) {
    const { model } = randomModel(seed), V = model.config.vocabSize;
    const ref = new RefBackend(model.config, model.plan, model.weights, { maxContext: CTX, slots: SLOTS });
    // groupMin 0: every step of several rows groups its slots by expert, decode batches included
    const grouped = await webgpu(model, { moeGroupMin: 0 }), slots = await webgpu(model);
    try {
      const batches = script(V, seed);
      await compareScript(grouped, ref, batches, 2e-3, `grouped, random model ${seed}`);
      await compareScript(slots, ref, batches, 2e-3, `slot by slot, random model ${seed}`);
      // the last decode batch (2 sequences): grouping adds its group and combine dispatches per layer
      const last = batches[batches.length - 1], moeLayers = model.config.numLayers;
      const cost = async (b: WebGpuBackend) => {
        const c0 = b.counters();
        await b.forward(last);
        return b.counters().dispatches - c0.dispatches;
      };
      assertEquals(await cost(grouped) - await cost(slots), 2 * moeLayers, "grouped dispatches");
    } finally {
      grouped.dispose();
      slots.dispose();
    }
  }
});

Deno.test("WebGPU decode batch of 1, 2, 4 sequences: one submit, the same dispatches, each dense weight read once", async () => {
  const model = loadModel(`${FIXTURES}/gpt-oss-tiny`), c = model.config as GptOssConfig;
  const toks = readReference("gpt-oss-tiny").prompt_token_ids;
  const b = await webgpu(model);
  try {
    await b.forward(Array.from({ length: SLOTS }, (_, s) => ({
      slot: s,
      tokens: toks.slice(s, s + 10),
      pos: 0,
      logits: "none" as const,
    })));
    const H = c.hiddenSize, F = c.intermediateSize;
    const expert = (rows: number, cols: number) => rows * cols / 2 + rows * cols / 32 + rows * 4;
    // what one more sequence adds: its embedding row and, per layer, its k experts (slot by slot)
    const perSequence = H * 2 + c.numLayers * c.expertsPerToken * (expert(2 * F, H) + expert(H, F));
    const cost: { dispatches: number; submits: number; weightBytes: number }[] = [];
    for (const [i, B] of [1, 2, 4].entries()) {
      const step = Array.from({ length: B }, (_, s) => ({ slot: s, tokens: [s + 1], pos: 10 + i }));
      const c0 = b.counters();
      const ids = await b.greedy(step);
      const c1 = b.counters();
      assertEquals(ids.length, B);
      cost.push({
        dispatches: c1.dispatches - c0.dispatches,
        submits: c1.submits - c0.submits,
        weightBytes: c1.weightBytes - c0.weightBytes,
      });
    }
    for (const [i, B] of [1, 2, 4].entries()) {
      assertEquals(cost[i].submits, 1, `batch of ${B}: submits`);
      assertEquals(cost[i].dispatches, cost[0].dispatches, `batch of ${B}: dispatches`);
      assertEquals(
        cost[i].weightBytes,
        cost[0].weightBytes + (B - 1) * perSequence,
        `batch of ${B}: weight bytes`,
      );
    }
  } finally {
    b.dispose();
  }
});

Deno.test("WebGPU with a stop hook: a long step submits per layer and stops between layers; decode stays one submit", async () => {
  const model = loadModel(`${FIXTURES}/gpt-oss-tiny`), L = model.config.numLayers;
  const toks = readReference("gpt-oss-tiny").prompt_token_ids;
  const b = await webgpu(model, { maxTokens: 64 });
  try {
    const prompt = [{ slot: 1, tokens: toks, pos: 0, logits: "last" as const }];
    const [want] = await b.forward(prompt);
    // polled before the step, then between layers: the second poll between layers stops it
    let polls = 0;
    await assertRejects(() => b.forward(prompt, { shouldStop: () => ++polls > 2 }), ForwardAbortedError);
    assertEquals(polls, 3);
    // the backend stays usable; a step that is not stopped submits once per layer
    let c0 = b.counters();
    const [again] = await b.forward(prompt, { shouldStop: () => false });
    assertEquals(b.counters().submits - c0.submits, L, "submits of a polled prefill step");
    assertEquals(Array.from(again), Array.from(want), "logits after a stop");
    // a decode step is polled before it only: one submit, also for more sequences than STOP_POLL_ROWS
    polls = 0;
    c0 = b.counters();
    await b.greedy([{ slot: 1, tokens: [3], pos: toks.length }], { shouldStop: () => (polls++, false) });
    assertEquals([b.counters().submits - c0.submits, polls], [1, 1]);
    const many = await webgpu(model, { slots: STOP_POLL_ROWS + 1, maxTokens: 64 });
    try {
      const decode = Array.from(
        { length: STOP_POLL_ROWS + 1 },
        (_, s) => ({ slot: s, tokens: [s + 1], pos: 0 }),
      );
      c0 = many.counters();
      await many.greedy(decode, { shouldStop: () => false });
      assertEquals(many.counters().submits - c0.submits, 1, "decode batch submits");
    } finally {
      many.dispose();
    }
  } finally {
    b.dispose();
  }
});

Deno.test("WebGPU batches refuse slots out of range or twice in one batch, before touching a cache", async () => {
  const b = await webgpu(loadModel(`${FIXTURES}/gpt-oss-tiny`), { slots: 2 });
  try {
    const s = (slot: number) => ({ slot, tokens: [1], pos: 0, logits: "last" as const });
    await assertRejects(() => b.forward([s(2)]), RangeError, /slot 2 out of range/);
    await assertRejects(() => b.forward([s(1), s(1)]), RangeError, /appears twice/);
    await assertRejects(() => b.greedy([{ slot: 0, tokens: [], pos: 0 }]), RangeError, /at least one token/);
    assertEquals((await b.forward([s(0), { ...s(1), tokens: [] }]))[1].length, 0);
  } finally {
    b.dispose();
  }
});

Deno.test("WebGPU: slots whose KV caches exceed the binding limit are one line, and the device stays usable", async () => {
  const model = loadModel(`${FIXTURES}/gpt-oss-tiny`), gpu = await sharedGpu();
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  const perSlot = CTX * model.config.numKvHeads * model.config.headDim * 4;
  await assertRejects(
    () => webgpu(model, { slots: Math.ceil(limit / perSlot) + 1 }),
    OssiError,
    /KV cache of \d+ slot\(s\) x 40 tokens .* use fewer slots or a smaller context/,
  );
  const b = await webgpu(model, { slots: 2 });
  try {
    assertEquals((await b.greedy([{ slot: 1, tokens: [1, 2, 3], pos: 0 }])).length, 1);
  } finally {
    b.dispose();
  }
});
