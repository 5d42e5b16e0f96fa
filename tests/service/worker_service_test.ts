// WorkerChatService: the engine in its worker answers as the in-thread engine does, streams, reports load
// progress and its counters, brings errors back as their own class, stops a turn mid-prefill through the
// shared flag (the completed chunks stay cached for the next turn), and closes.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import type { ChatRequest, ChatUsage } from "../../src/chat/chat_engine.ts";
import { defaultSamplerParams } from "../../src/chat/sampler.ts";
import { ContextOverflowError } from "../../src/engine/session.ts";
import { MissingError, OssiError } from "../../src/errors.ts";
import type { ChatService } from "../../src/service/chat_service.ts";
import { WorkerChatService } from "../../src/service/worker_service.ts";
import { DEMO_MODEL } from "../fixture_util.ts";

const ask = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  messages: [{ role: "user", content }],
  prompt: { effort: "low" },
  sampler: defaultSamplerParams(DEMO_MODEL),
  maxTokens: 200,
  ...extra,
});

async function answer(
  svc: ChatService,
  req: ChatRequest,
): Promise<{ text: string; usage: ChatUsage; done: string }> {
  let text = "", done = "";
  const it = svc.chat(req);
  for (;;) {
    const r = await it.next();
    if (r.done) return { text, usage: r.value, done };
    if (r.value.type === "content") text += r.value.text;
    if (r.value.type === "done") done = r.value.reason;
  }
}

Deno.test("WorkerChatService answers in its worker, reports progress and counters, and closes", async () => {
  const progress: number[] = [];
  const svc = await WorkerChatService.open(
    DEMO_MODEL,
    { backend: "wasm", threads: 1, slots: 2 },
    (d, t) => progress.push(d / t),
  );
  try {
    assertEquals(svc.info, {
      backend: "wasm",
      precision: "fast",
      contextSize: 8192,
      vocabSize: 512,
      slots: 2,
      format: "harmony",
    });
    assert(progress.length > 0 && progress.at(-1) === 1, "weight placement reported its progress");
    const a = await answer(svc, ask("What is 23+45?"));
    assertEquals([a.text.trim(), a.done], ["68", "stop"]);
    const { ids } = await svc.encodeConversation([{ role: "user", content: "What is 23+45?" }], {
      effort: "low",
    });
    assertEquals(ids.length, a.usage.promptTokens);
    const s = svc.stats();
    assertEquals([s.promptTokens, s.generatedTokens, s.finished], [
      a.usage.promptTokens,
      a.usage.completionTokens,
      1,
    ]);
    assertEquals(s.slots, [{ contextUsed: a.usage.contextUsed, busy: false }, {
      contextUsed: 0,
      busy: false,
    }]);
  } finally {
    await svc.close();
  }
  await assertRejects(() => answer(svc, ask("What is 1+1?")), OssiError, /closed/);
});

Deno.test("WorkerChatService brings the worker's errors back as their own classes", async () => {
  const e = await assertRejects(() => WorkerChatService.open("/nonexistent/model"), MissingError);
  assertEquals(e.exitCode, 1);
  await assertRejects(
    () => WorkerChatService.open(DEMO_MODEL, { backend: "tpu" }),
    OssiError,
    /unknown backend/,
  );
  const svc = await WorkerChatService.open(DEMO_MODEL, { backend: "ref", maxContext: 128, slots: 1 });
  try {
    await assertRejects(() => answer(svc, ask("What is 1+1? ".repeat(40))), ContextOverflowError);
    assertEquals((await answer(svc, ask("What is 2+3?"))).text.trim(), "5", "the engine goes on");
  } finally {
    await svc.close();
  }
});

Deno.test("WorkerChatService stops a turn mid-prefill; the completed chunks are reused by the next turn", async () => {
  const svc = await WorkerChatService.open(DEMO_MODEL, { backend: "ref", slots: 1 });
  try {
    const long = "What is 1+1? ".repeat(180); // about 1,300 tokens: seconds of prefill on the reference backend
    const ac = new AbortController();
    const turn = answer(svc, ask(long, { signal: ac.signal }));
    // stop once the prefill has computed a few chunks
    while (svc.stats().promptTokens < 128) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    const stopped = await turn;
    assertEquals([stopped.text, stopped.done, stopped.usage.completionTokens], ["", "aborted", 0]);
    const kept = svc.stats().slots[0].contextUsed;
    assert(kept >= 128 && kept < stopped.usage.promptTokens, `the prefill stopped midway (${kept} kept)`);
    const again = await answer(svc, ask(long, { maxTokens: 1 }));
    assertEquals(again.usage.cachedTokens, kept, "the next turn starts from the kept chunks");
  } finally {
    await svc.close();
  }
});
