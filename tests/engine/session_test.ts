// Session's greedy fast path: with `greedy` set and a backend that has greedy(), tokens come from the
// backend's argmax instead of sample(forward logits), and they are the same tokens; otherwise forward().
// Its prefill runs in the backend's chunks: an abort keeps the chunks done, and later turns reuse them.

import { assert, assertEquals } from "../assert.ts";
import { DEMO_MODEL, FIXTURES, readReference } from "../fixture_util.ts";
import type { Backend } from "../../src/backends/backend.ts";
import { ChatEngine } from "../../src/chat/chat_engine.ts";
import { openChatEngine } from "../../src/cli/open_chat_engine.ts";
import { openWasm } from "../backends/wasm/open_wasm.ts";
import { refBackend } from "../backends/fixture_check.ts";
import { argmax, defaultSamplerParams, makeSampler } from "../../src/chat/sampler.ts";
import { type GenerateRequest, Session } from "../../src/engine/session.ts";
import { loadModel } from "../../src/model/load.ts";

/**
 * Wraps a backend, counting greedy() calls and the forward() calls that bring logits back (prefill chunks
 * without logits are not counted); `fastPath` false hides greedy() and topk().
 */
function counting(b: Backend, fastPath: boolean): Backend & { calls: { forward: number; greedy: number } } {
  const calls = { forward: 0, greedy: 0 };
  const forward: Backend["forward"] = (batch, opts) => {
    if (batch.some((s) => s.logits !== "none")) calls.forward++;
    return b.forward(batch, opts);
  };
  const greedy: Backend["greedy"] = (batch, opts) => (calls.greedy++, b.greedy!(batch, opts));
  const wrapped = {
    name: b.name,
    config: b.config,
    maxContext: b.maxContext,
    slots: b.slots,
    chunkTokens: b.chunkTokens,
    forward,
    dispose: () => {},
    calls,
  };
  return fastPath ? { ...wrapped, greedy } : wrapped;
}

async function collect(session: Session, req: GenerateRequest): Promise<number[]> {
  const out: number[] = [];
  for await (const id of session.generate(req)) out.push(id);
  return out;
}

const ref = readReference("gpt-oss-tiny");

Deno.test("Session with greedy gives the same tokens through backend.greedy() as through forward(), across turns", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const b = await openWasm(model, { maxContext: 64, threads: 2, shards: 3 });
  try {
    const fast = counting(b, true), slow = counting(b, false);
    const run = async (backend: Backend, prompts: number[][]) => {
      const session = new Session(backend), outs: number[][] = [];
      for (const prompt of prompts) {
        outs.push(
          await collect(session, {
            prompt,
            sample: argmax,
            greedy: true,
            stopTokens: new Set(),
            maxTokens: 8,
          }),
        );
      }
      return outs;
    };
    // a second turn that shares a prefix with the first (KV reuse), then one that rolls back into it
    const p = ref.prompt_token_ids, turns = [p, [...p, 5, 6, 7], p.slice(0, 12)];
    const want = await run(slow, turns);
    const got = await run(fast, turns);
    assertEquals(got, want);
    assertEquals(want[0].slice(0, 4), ref.greedy.token_ids.slice(0, 4), "the fixture's greedy continuation");
    // one greedy() per token (the prefill's included), no forward() at all
    assertEquals(fast.calls, { forward: 0, greedy: 3 * 8 });
    assertEquals(slow.calls, { forward: 3 * 8, greedy: 0 });
  } finally {
    b.dispose();
  }
});

Deno.test("Session without greedy samples forward() logits even when the backend has greedy()", async () => {
  const model = loadModel(FIXTURES + "/gpt-oss-tiny");
  const b = await openWasm(model, { maxContext: 64, threads: 1 });
  try {
    const fast = counting(b, true);
    const sampler = { ...defaultSamplerParams(), temperature: 1.3, topK: 40, seed: 5 };
    const prompt = ref.prompt_token_ids;
    const req = (sample: GenerateRequest["sample"]) => ({
      prompt,
      sample,
      stopTokens: new Set<number>(),
      maxTokens: 6,
    });
    const got = await collect(new Session(fast), req(makeSampler(sampler)));
    assertEquals(fast.calls, { forward: 6, greedy: 0 });
    // the same seed over the plain backend draws the same tokens
    assertEquals(await collect(new Session(b), req(makeSampler(sampler))), got);
  } finally {
    b.dispose();
  }
});

Deno.test("ChatEngine at temperature 0 on wasm takes the greedy fast path and gives the eval.jsonl completions", async () => {
  const engine = await openChatEngine(DEMO_MODEL, { backend: "wasm", threads: 2 });
  const backend = (engine.gen as Session).backend as Backend;
  try {
    const fast = counting(backend, true), slow = counting(backend, false);
    const withBackend = (bk: Backend) =>
      new ChatEngine(new Session(bk), engine.tokenizer, engine.renderer, engine.stopTokens, engine.format);
    const sampler = defaultSamplerParams(DEMO_MODEL);
    assertEquals(sampler.temperature, 0, "the demo model's generation_config asks for greedy decoding");
    const items = Deno.readTextFileSync(`${DEMO_MODEL}/eval.jsonl`).trim().split("\n").slice(0, 2);
    for (const line of items) {
      const item = JSON.parse(line);
      const completions: string[] = [];
      for (const e of [withBackend(fast), withBackend(slow)]) {
        const it = e.chat({
          messages: item.messages,
          prompt: { effort: item.reasoning_effort },
          sampler,
          maxTokens: 120,
        });
        while (!(await it.next()).done);
        completions.push(e.tokenizer.decode(e.lastCompletion));
      }
      assertEquals(completions, [item.reference_completion, item.reference_completion]);
    }
    assert(fast.calls.greedy > 20 && fast.calls.forward === 0, JSON.stringify(fast.calls));
    assertEquals(slow.calls.forward, fast.calls.greedy);
  } finally {
    backend.dispose();
  }
});

Deno.test("Session prefills in the backend's chunks; an abort keeps the chunks done and the next turn reuses them", async () => {
  const model = loadModel(FIXTURES + "/qwen3-tiny"), ref = readReference("qwen3-tiny");
  const inner = refBackend(model, 64);
  // 5-token chunks, and a forward() that aborts the request after the second chunk
  const abort = new AbortController();
  let forwards = 0;
  const b: Backend = {
    ...inner,
    name: inner.name,
    config: inner.config,
    maxContext: inner.maxContext,
    slots: inner.slots,
    chunkTokens: 5,
    forward: async (batch, opts) => {
      forwards++;
      const out = await inner.forward(batch, opts);
      if (forwards === 2) abort.abort();
      return out;
    },
    dispose: () => {},
  };
  const session = new Session(b), prompt = ref.prompt_token_ids;
  const req = { prompt, sample: argmax, stopTokens: new Set<number>(), maxTokens: 3 };
  assertEquals(await collect(session, { ...req, signal: abort.signal }), []);
  assertEquals(session.lastStats!.contextUsed, 10, "two 5-token chunks stay cached");
  assertEquals(forwards, 2, "the turn stopped before its third chunk was computed");
  const tokens = await collect(session, req);
  assertEquals(session.lastStats!.cachedTokens, 10);
  assertEquals(tokens, ref.greedy.token_ids.slice(0, 3));
});
