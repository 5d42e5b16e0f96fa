// A stop ends the turn whenever it comes: before the turn starts, between two forwards (prefill chunks, the
// last chunk and the first decode step, two decode steps) or during one, whether it arrives as the shared
// flag the worker polls (shouldStop: the worker is busy and cannot read the cancel message) or as the
// cancel message (the signal). No forward starts after it, the turn ends "aborted", and the next turn
// reuses exactly the completed chunks (the fake model hashes the whole cache: a stale entry changes the
// answer). Then the same through the engine worker, with the stop posted before the worker registered
// the turn.

import { assert, assertEquals } from "../assert.ts";
import { ChatEngine, type ChatRequest, type ChatUsage } from "../../src/chat/chat_engine.ts";
import type { ForwardOptions, PickSequence, Sequence } from "../../src/backends/backend.ts";
import { harmonyRenderer } from "../../src/chat/prompt.ts";
import { defaultSamplerParams } from "../../src/chat/sampler.ts";
import { loadTokenizer, type Tokenizer } from "../../src/chat/tokenizer.ts";
import { BatchScheduler } from "../../src/engine/batch_scheduler.ts";
import { Session } from "../../src/engine/session.ts";
import type { ChatService } from "../../src/service/chat_service.ts";
import { LocalChatService } from "../../src/service/local_service.ts";
import { WorkerChatService } from "../../src/service/worker_service.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { FakeBatchBackend } from "../engine/fake_batch_backend.ts";

/** A fake backend that numbers its forwards and runs hooks during one (between its layers) and after one. */
class ProbedBackend extends FakeBatchBackend {
  started = 0;
  during: ((call: number) => void) | null = null;
  after: ((call: number) => void) | null = null;

  constructor(vocab: number) {
    super(1, 8, vocab);
    this.betweenLayers = () => this.during?.(this.started - 1);
  }

  override forward(batch: readonly Sequence[], opts: ForwardOptions = {}): Promise<Float32Array[]> {
    return this.probe(() => super.forward(batch, opts));
  }

  override greedy(batch: readonly PickSequence[], opts: ForwardOptions = {}): Promise<number[]> {
    return this.probe(() => super.greedy(batch, opts));
  }

  private async probe<T>(run: () => Promise<T>): Promise<T> {
    const call = this.started++;
    const out = await run();
    this.after?.(call);
    return out;
  }
}

let tokenizer: Tokenizer | null = null;

async function localService() {
  const tok = tokenizer ??= await loadTokenizer(DEMO_MODEL);
  const stops = ["<|return|>", "<|call|>"].map((t) => tok.tokenId(t)!);
  const backend = new ProbedBackend(tok.vocabSize);
  const engine = new ChatEngine(new Session(new BatchScheduler(backend)), tok, harmonyRenderer, stops);
  return { svc: new LocalChatService([engine]), backend, engine };
}

const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  messages: [{ role: "user", content: "Count the apples, pears and plums in this basket, one by one" }],
  prompt: { effort: "low", date: "2026-01-01" },
  sampler: { ...defaultSamplerParams(), temperature: 0 },
  maxTokens: 6,
  ...extra,
});

interface Turn {
  usage: ChatUsage;
  done: string;
  tokens: number[];
}

async function run(svc: ChatService, req: ChatRequest, first?: () => void): Promise<Turn> {
  const tokens: number[] = [];
  const it = svc.chat({ ...req, onToken: (id) => tokens.push(id) });
  let done = "";
  let next = it.next();
  first?.();
  for (;;) {
    const r = await next;
    if (r.done) return { usage: r.value, done, tokens };
    if (r.value.type === "done") done = r.value.reason;
    next = it.next();
  }
}

type Mechanism = "flag" | "signal";

/** A stop that `set()` requests as the worker sees it: its shared flag, or its aborted signal. */
function stopper(how: Mechanism) {
  let flag = false;
  const ac = new AbortController();
  const req: Partial<ChatRequest> = how === "flag" ? { shouldStop: () => flag } : { signal: ac.signal };
  return { req, set: () => how === "flag" ? (flag = true) : ac.abort() };
}

Deno.test("a stop at any phase boundary or mid-forward ends the turn; the next turn reuses exactly what was computed", async () => {
  // the whole turn unstopped: how many forwards it takes, and its tokens
  const whole = await localService();
  const full = await run(whole.svc, request());
  const forwards = whole.backend.started, prompt = full.usage.promptTokens;
  const chunks = Math.ceil(prompt / 8);
  assertEquals(full.done !== "aborted" && full.tokens.length, 6);
  assertEquals(
    forwards,
    chunks + 5,
    "the prefill's 8-token chunks, then a decode step per token after the first",
  );

  for (const how of ["flag", "signal"] as const) {
    // [what, forwards started in all, forwards completed (their tokens cached)]
    const cases: [string, (b: ProbedBackend, set: () => void) => void, number, number][] = [];
    for (let call = 0; call < forwards; call++) {
      cases.push([
        `after forward ${call}`,
        (b, set) => (b.after = (i) => i === call && set()),
        call + 1,
        call + 1,
      ]);
      cases.push([
        `during forward ${call}`,
        (b, set) => (b.during = (i) => i === call && set()),
        call + 1,
        call,
      ]);
    }
    for (const [what, arm, started, completed] of cases) {
      const { svc, backend } = await localService();
      const stop = stopper(how);
      arm(backend, stop.set);
      const t = await run(svc, request(stop.req));
      const label = `${how}, ${what}`;
      assertEquals(t.done, "aborted", label);
      assertEquals(backend.started, started, `${label}: no forward started after the stop`);
      // every token sampled before the stop is the unstopped turn's
      assertEquals(t.tokens, full.tokens.slice(0, t.tokens.length), label);
      assert(t.tokens.length <= Math.max(0, completed - chunks + 1), `${label}: ${t.tokens.length} tokens`);
      // the next turn finds the completed chunks (and the generated tokens it does not repeat) and answers
      // as the unstopped turn did
      backend.after = backend.during = null;
      const next = await run(svc, request());
      assertEquals(next.done, full.done, label);
      assertEquals(next.tokens, full.tokens, `${label}: the cache was consistent`);
      assertEquals(next.usage.cachedTokens, Math.min(completed * 8, prompt - 1), label);
    }
  }
});

Deno.test("a stop before the turn starts, or while it waits for its prompt's encoding, runs no forward", async () => {
  for (const how of ["flag", "signal"] as const) {
    for (const when of ["before chat()", "right after chat() starts"]) {
      const { svc, backend } = await localService();
      const stop = stopper(how);
      if (when === "before chat()") stop.set();
      const t = await run(svc, request(stop.req), when === "before chat()" ? undefined : stop.set);
      assertEquals([t.done, t.tokens, backend.started], ["aborted", [], 0], `${how}, ${when}`);
      const next = await run(svc, request());
      assertEquals(
        [next.usage.cachedTokens, next.tokens.length],
        [0, 6],
        `${how}, ${when}: the service goes on`,
      );
    }
  }
});

Deno.test("WorkerChatService: a stop posted before the worker registered the turn, or at its first token, ends it", async () => {
  const svc = await WorkerChatService.open(DEMO_MODEL, { backend: "wasm", threads: 1, slots: 1 });
  try {
    const ask = (signal?: AbortSignal) => request({ signal, maxTokens: 200 });
    const full = await run(svc, ask());
    assert(full.tokens.length > 4, "the unstopped answer runs several tokens");
    // aborted before chat(): the flag is up before the worker reads the turn, so nothing runs
    const before = new AbortController();
    before.abort();
    const t = await run(svc, ask(before.signal));
    assertEquals([t.done, t.tokens, t.usage.completionTokens], ["aborted", [], 0], "aborted before chat()");
    // aborted right after the chat message is posted (the cancel follows it at once): nothing reaches the
    // consumer. The worker runs nothing more once it reads the flag, but a main thread descheduled between
    // the post and the abort lets it run some or all of the short turn first (CI saw all 9 tokens run).
    for (let i = 0; i < 4; i++) {
      const ac = new AbortController();
      const t = await run(svc, ask(ac.signal), () => ac.abort());
      assertEquals([t.done, t.tokens], ["aborted", []], "aborted right after chat()");
      const ran = t.usage.completionTokens;
      assert(ran <= full.tokens.length, `aborted right after chat(): ${ran} tokens ran`);
    }
    // at the first token (the worker goes on decoding until it reads the flag)
    const ac = new AbortController();
    const tokens: number[] = [];
    const it = svc.chat({ ...ask(ac.signal), onToken: (id) => (tokens.push(id), ac.abort()) });
    let done = "";
    for (let r = await it.next(); !r.done; r = await it.next()) {
      if (r.value.type === "done") done = r.value.reason;
    }
    assertEquals(done, "aborted");
    assert(tokens.length >= 1 && tokens.length < full.tokens.length, `${tokens.length} tokens`);
    // the lane's flag was reset: the next turn answers in full
    assertEquals((await run(svc, ask())).tokens, full.tokens);
  } finally {
    await svc.close();
  }
});
