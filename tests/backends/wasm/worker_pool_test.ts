// The shard pool's step handshake: a shard worker that wakes up without a new step (Atomics.wait may
// return early) must neither run a step again nor let the host read a step's output before it is written.
// A notifier thread wakes the workers every few microseconds while a model with steps of a millisecond or
// so runs: a worker that ran the previous step again would still be at it when the host starts the next.

import { assert, assertEquals } from "../../assert.ts";
import { WasmBackend } from "../../../src/backends/wasm/wasm_backend.ts";
import { randomModel } from "../../../scripts/random_model.ts";

/** The pool's control block (private: only this test pokes it). */
function controlBlock(b: WasmBackend): SharedArrayBuffer {
  return (b as unknown as { pool: { ctl: Int32Array } }).pool.ctl.buffer as SharedArrayBuffer;
}

Deno.test("wasm pool: early wake-ups of the shard workers change no logit (two threads against one)", async () => {
  const model = randomModel({
    model_type: "qwen3",
    vocab_size: 8192,
    hidden_size: 256,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 64,
    intermediate_size: 1024,
    tie_word_embeddings: false,
  });
  const opts = { maxContext: 64, shards: 2, maxTokens: 8 };
  const one = await WasmBackend.create(model.config, model.plan, model.weights, { ...opts, threads: 1 });
  const two = await WasmBackend.create(model.config, model.plan, model.weights, { ...opts, threads: 2 });
  const toks = Array.from({ length: 24 }, (_, i) => (i * 977 + 5) % 8192);
  const notifier = new Worker(new URL("./early_wake_notifier.ts", import.meta.url), { type: "module" });
  const stop = new Int32Array(new SharedArrayBuffer(4));
  let started: () => void = () => {};
  const running = new Promise<void>((r) => (started = r));
  const wakes = new Promise<number>((resolve) =>
    notifier.onmessage = (e) => (e.data === "started" ? started() : resolve(e.data))
  );
  try {
    const want = await one.forward(toks, 0, { logits: "all" });
    notifier.postMessage({ ctl: controlBlock(two), stop: stop.buffer });
    await running;
    for (let i = 0; i < 10; i++) {
      const got = await two.forward(toks, 0, { logits: "all" });
      assertEquals(got.findIndex((v, j) => !Object.is(v, want[j])), -1, `forward ${i}: logits differ`);
    }
  } finally {
    Atomics.store(stop, 0, 1);
    Atomics.notify(stop, 0);
    const n = await wakes;
    notifier.terminate();
    one.dispose();
    two.dispose();
    assert(n > 0, "the notifier woke no worker: the test proved nothing");
  }
});
