// The shard pool's step handshake: a shard worker that wakes up without a new step (Atomics.wait may
// return early) must neither run a step twice nor let the host read a step's output before it is written.

import { assert, assertEquals } from "../../assert.ts";
import { loadModel } from "../../../src/model/load.ts";
import { WasmBackend } from "../../../src/backends/wasm/wasm_backend.ts";
import { FIXTURES, readReference } from "../../fixture_util.ts";

const ref = readReference("gpt-oss-tiny");

/** The pool's control block (private: only this test pokes it). */
function controlBlock(b: WasmBackend): SharedArrayBuffer {
  return (b as unknown as { pool: { ctl: Int32Array } }).pool.ctl.buffer as SharedArrayBuffer;
}

Deno.test("wasm pool: early wake-ups of the shard workers change no logit (two threads against one)", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const opts = { maxContext: 64, shards: 2, maxTokens: 3 };
  const one = await WasmBackend.create(model.config, model.plan, model.weights, { ...opts, threads: 1 });
  const two = await WasmBackend.create(model.config, model.plan, model.weights, { ...opts, threads: 2 });
  const toks = ref.prompt_token_ids;
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
    for (let i = 0; i < 40; i++) {
      const got = await two.forward(toks, 0, { logits: "all" });
      assertEquals(got.findIndex((v, j) => !Object.is(v, want[j])), -1, `forward ${i}: logits differ`);
      // let the notifier's wake-ups land while the workers wait between forwards too
      await new Promise((r) => setTimeout(r, 1));
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
