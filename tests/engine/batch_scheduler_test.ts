// BatchScheduler under Sessions on several slots of one backend: decode steps of concurrent turns run as
// one forward, a long prefill joins between them in chunks, a stop mid-forward ends only the stopped turn
// (the others run again, completed chunks stay cached), and every turn's tokens are what it gets alone.

import { assert, assertEquals } from "../assert.ts";
import { BatchScheduler } from "../../src/engine/batch_scheduler.ts";
import { EngineStats } from "../../src/engine/engine_stats.ts";
import { type GenerateRequest, Session } from "../../src/engine/session.ts";
import { expectedTokens, FakeBatchBackend } from "./fake_batch_backend.ts";

const argmax = (x: Float32Array) => x.indexOf(Math.max(...x));

function request(prompt: number[], maxTokens: number, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return { prompt, sample: argmax, greedy: true, stopTokens: new Set(), maxTokens, ...extra };
}

async function collect(session: Session, req: GenerateRequest): Promise<number[]> {
  const out: number[] = [];
  for await (const id of session.generate(req)) out.push(id);
  return out;
}

const prompt = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 13 + i * 7) % 97);

Deno.test("BatchScheduler runs concurrent sessions' decode steps as one forward; each gets its tokens alone", async () => {
  const b = new FakeBatchBackend(3, 32);
  const s = new BatchScheduler(b);
  const sessions = [0, 1, 2].map((slot) => new Session(s, { slot }));
  const prompts = [prompt(1, 5), prompt(2, 7), prompt(3, 3)];
  for (const greedy of [true, false]) {
    b.batches.length = 0;
    const got = await Promise.all(
      sessions.map((x, i) => collect(x, request([...prompts[i], greedy ? 1 : 2], 12, { greedy }))),
    );
    assertEquals(got, prompts.map((p) => expectedTokens([...p, greedy ? 1 : 2], 12)));
    // 12 tokens each: the prefills together, then 11 decode steps of three rows each
    assertEquals(b.batches.length, 12, JSON.stringify(b.batches));
    assert(b.batches.slice(1).every((batch) => batch.length === 3 && batch.every((x) => x.n === 1)));
  }
});

Deno.test("a long prefill joins in chunks between the decode steps of a running session", async () => {
  const b = new FakeBatchBackend(2, 16);
  const s = new BatchScheduler(b);
  const [a, c] = [new Session(s, { slot: 0 }), new Session(s, { slot: 1 })];
  const longPrompt = prompt(5, 200);
  let second: Promise<number[]> | null = null;
  // c starts once a decodes
  b.betweenLayers = () => void (b.batches.length === 3 && (second = collect(c, request(longPrompt, 5))));
  const first = collect(a, request(prompt(4, 6), 40));
  assertEquals(await first, expectedTokens(prompt(4, 6), 40));
  assertEquals(await second, expectedTokens(longPrompt, 5));
  const mixed = b.batches.filter((batch) => batch.some((x) => x.slot === 0) && batch.some((x) => x.n > 1));
  // 200 tokens at most 15 a batch (the budget of 16 less a's decode row): a decodes all along
  assert(mixed.length >= 200 / 15, JSON.stringify(b.batches));
  assert(b.batches.every((batch) => batch.reduce((n, x) => n + x.n, 0) <= 16), "the token budget holds");
});

Deno.test("a stop mid-forward ends only the stopped turn; completed chunks stay cached for its next turn", async () => {
  const b = new FakeBatchBackend(2, 8);
  const stats = new EngineStats(2);
  const s = new BatchScheduler(b);
  const [a, c] = [new Session(s, { slot: 0, stats }), new Session(s, { slot: 1, stats })];
  const longPrompt = prompt(9, 60);
  let stop = false, stoppedAt = -1;
  b.betweenLayers = (batch) => {
    // stop c in the middle of the forward of its prefill chunk at position 24 or beyond
    if (!stop && (batch.find((x) => x.slot === 1)?.pos ?? 0) >= 24) {
      stop = true;
      stoppedAt = b.batches.length;
    }
  };
  const first = collect(a, request(prompt(8, 4), 30));
  const second = collect(c, request(longPrompt, 5, { shouldStop: () => stop }));
  assertEquals(await second, [], "the stopped turn yields nothing");
  assertEquals(await first, expectedTokens(prompt(8, 4), 30), "the other turn is unharmed");
  const later = b.batches.slice(stoppedAt).filter((batch) => batch.some((x) => x.slot === 1));
  assertEquals(later, [], "the stop took effect in the forward that saw it");
  assert(b.batches.length > stoppedAt + 20, "the other turn's forward ran again, and on");
  const cached = c.lastStats!.contextUsed;
  assert(cached > 0 && cached < 60 && cached % 1 === 0, `completed chunks are kept (${cached})`);
  // the next turn with the same prompt reuses them and gets the right tokens
  b.betweenLayers = null;
  assertEquals(await collect(c, request(longPrompt, 5)), expectedTokens(longPrompt, 5));
  assertEquals(c.lastStats!.cachedTokens, cached);
  const snap = stats.snapshot();
  assertEquals(snap.slots.map((x) => x.contextUsed), [a.lastStats!.contextUsed, 64]);
  assertEquals(snap.generatedTokens, 35);
  assertEquals(snap.cachedTokens, cached);
  assertEquals(snap.promptTokens, 4 + 60, "each prompt token was computed once (the stopped chunk excepted)");
});

Deno.test("a turn stopped while its step waits is dropped before the next forward", async () => {
  const b = new FakeBatchBackend(1);
  const s = new BatchScheduler(b);
  const session = new Session(s);
  const ac = new AbortController();
  ac.abort();
  assertEquals(await collect(session, request(prompt(1, 20), 5, { signal: ac.signal })), []);
  assertEquals(b.batches.length, 0);
  assertEquals(await collect(session, request(prompt(1, 20), 5)), expectedTokens(prompt(1, 20), 5));
});
