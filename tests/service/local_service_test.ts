// LocalChatService: which slot a turn gets (the one holding its conversation, else the least recently used;
// a new conversation never evicts another's history for a shared system prompt), waiting when every
// slot is busy, and leaving the wait when stopped.

import { assert, assertEquals } from "../assert.ts";
import { ChatEngine, type ChatRequest, type ChatUsage } from "../../src/chat/chat_engine.ts";
import type { ChatMessage } from "../../src/chat/messages.ts";
import { harmonyRenderer } from "../../src/chat/prompt.ts";
import { defaultSamplerParams } from "../../src/chat/sampler.ts";
import { loadTokenizer } from "../../src/chat/tokenizer.ts";
import { BatchScheduler } from "../../src/engine/batch_scheduler.ts";
import { EngineStats } from "../../src/engine/engine_stats.ts";
import { Session } from "../../src/engine/session.ts";
import { LocalChatService } from "../../src/service/local_service.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { FakeBatchBackend } from "../engine/fake_batch_backend.ts";

async function service(slots: number) {
  const tok = await loadTokenizer(DEMO_MODEL);
  const stops = ["<|return|>", "<|call|>"].map((t) => tok.tokenId(t)!);
  const backend = new FakeBatchBackend(slots, 64, tok.vocabSize);
  const scheduler = new BatchScheduler(backend), stats = new EngineStats(slots);
  const engines = Array.from(
    { length: slots },
    (_, slot) => new ChatEngine(new Session(scheduler, { slot, stats }), tok, harmonyRenderer, stops),
  );
  return { svc: new LocalChatService(engines, { stats }), backend };
}

const request = (messages: ChatMessage[], extra: Partial<ChatRequest> = {}): ChatRequest => ({
  messages,
  prompt: { effort: "low", date: "2026-01-01" },
  sampler: { ...defaultSamplerParams(), temperature: 0 },
  maxTokens: 4,
  ...extra,
});

async function run(svc: LocalChatService, req: ChatRequest): Promise<{ usage: ChatUsage; done: string }> {
  const it = svc.chat(req);
  let done = "";
  for (;;) {
    const r = await it.next();
    if (r.done) return { usage: r.value, done };
    if (r.value.type === "done") done = r.value.reason;
  }
}

/** A conversation's next request: its history plus a new question (the answer text does not matter). */
const turn = (history: ChatMessage[], q: string): ChatMessage[] => [...history, { role: "user", content: q }];

Deno.test("LocalChatService: interleaved conversations on two slots each find their own cache", async () => {
  const { svc, backend } = await service(2);
  const a1 = turn([], "Alice's first question, about apples and their many varieties");
  const b1 = turn([], "Bob asks something else entirely, about boats");
  const ua1 = (await run(svc, request(a1))).usage;
  const ub1 = (await run(svc, request(b1))).usage;
  // both start on a fresh slot: b1 shares only the system prompt with a1's slot, which it must not evict
  assertEquals(new Set(backend.batches.slice(0).flat().map((x) => x.slot)), new Set([0, 1]));
  assertEquals(ub1.cachedTokens, 0, "b1 took the unused slot");
  const a2 = turn([...a1, { role: "assistant", content: "x" }], "and pears?");
  const b2 = turn([...b1, { role: "assistant", content: "y" }], "and ships?");
  const ua2 = (await run(svc, request(a2))).usage;
  const ub2 = (await run(svc, request(b2))).usage;
  assert(
    ua2.cachedTokens >= ua1.promptTokens - 8,
    `a2 reused a1's cache (${ua2.cachedTokens} of ${ua1.promptTokens})`,
  );
  assert(
    ub2.cachedTokens >= ub1.promptTokens - 8,
    `b2 reused b1's cache (${ub2.cachedTokens} of ${ub1.promptTokens})`,
  );
  const s = svc.stats();
  assertEquals(s.finished, 4);
  assertEquals(s.running, 0);
  assert(s.slots.every((x) => x.contextUsed > 0 && !x.busy));
});

Deno.test("LocalChatService: with one slot the same conversations evict each other", async () => {
  const { svc } = await service(1);
  const a1 = turn([], "Alice's first question, about apples and their many varieties");
  const b1 = turn([], "Bob asks something else entirely, about boats");
  const ua1 = (await run(svc, request(a1))).usage;
  await run(svc, request(b1));
  const ua2 =
    (await run(svc, request(turn([...a1, { role: "assistant", content: "x" }], "and pears?")))).usage;
  assert(
    ua2.cachedTokens < ua1.promptTokens - 8,
    `only the shared system prompt is reused (${ua2.cachedTokens})`,
  );
});

Deno.test("LocalChatService: a turn waits for a busy slot, and leaves the wait when stopped", async () => {
  const { svc, backend } = await service(1);
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  backend.betweenLayers = () => gate;
  const first = run(svc, request(turn([], "first"), { maxTokens: 2 }));
  const ac = new AbortController();
  const second = run(svc, request(turn([], "second"), { signal: ac.signal }));
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(svc.stats().running, 1);
  assertEquals(svc.stats().waiting, 1);
  ac.abort();
  const stopped = await second;
  assertEquals(stopped.done, "aborted");
  assertEquals(stopped.usage.completionTokens, 0);
  assertEquals(svc.stats().waiting, 0);
  release();
  assertEquals((await first).usage.completionTokens, 2);
  assertEquals(backend.batches.flat().every((x) => x.slot === 0), true);
});
