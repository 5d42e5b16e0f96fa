// Several clients at once: each gets its own answer (one generation at a time: the stub throws on overlap),
// a client that disconnects mid-stream stops its generation and frees the engine, a full queue is 429.

import { assert, assertEquals } from "../assert.ts";
import {
  type Json,
  postJson,
  sseJson,
  startStubServer,
  STUB_MODEL,
  waitFor,
  withStubServer,
} from "./serve_util.ts";

const ask = (q: string, extra: Json = {}) => ({
  model: STUB_MODEL,
  messages: [{ role: "user", content: q }],
  ...extra,
});

Deno.test(
  "concurrency: simultaneous requests queue for the engine and each gets its own answer",
  withStubServer({ delayMs: 1 }, async (s) => {
    const pairs = [[12, 30], [5, 9], [40, 2], [77, 11], [3, 3], [60, 25]];
    const answers = await Promise.all(pairs.map(async ([a, b], i) => {
      const req = ask(`What is ${a}+${b}?`, { stream: i % 2 === 0 });
      const res = await postJson(`${s.url}/v1/chat/completions`, req);
      if (i % 2 === 1) return (await res.json()).choices[0].message.content;
      return (await sseJson(res)).map((c) => c.choices[0]?.delta?.content ?? "").join("");
    }));
    assertEquals(answers, pairs.map(([a, b]) => String(a + b)));
    assertEquals(s.gen.completed, pairs.length);
  }),
);

Deno.test(
  "concurrency: a client that disconnects mid-stream stops its generation and frees the engine",
  withStubServer({ delayMs: 15 }, async (s) => {
    const ac = new AbortController();
    const res = await postJson(
      `${s.url}/v1/chat/completions`,
      ask("a long question to echo back", { stream: true }),
      {},
      ac.signal,
    );
    const reader = res.body!.getReader();
    await reader.read(); // the stream is running
    const waiting = postJson(`${s.url}/v1/chat/completions`, ask("What is 8+9?"));
    await waitFor(() => s.server.context.queue.waiting === 1, "the second request to queue");
    ac.abort();
    await reader.cancel().catch(() => {});
    const t0 = Date.now();
    const body: Json = await (await waiting).json();
    assertEquals(body.choices[0].message.content, "17");
    assertEquals(s.gen.aborted, 1);
    assert(Date.now() - t0 < 2000, "the engine was freed early");
    await waitFor(() => !s.server.context.queue.busy, "the engine to be idle");
  }),
);

Deno.test(
  "concurrency: a full queue answers 429; a queued client that leaves frees its place",
  withStubServer({ delayMs: 5, maxWaiting: 1 }, async (s) => {
    const running = postJson(`${s.url}/v1/chat/completions`, ask("What is 1+1?"));
    await waitFor(() => s.server.context.queue.busy, "the first request to own the engine");
    const leaver = new AbortController();
    const queued = postJson(
      `${s.url}/v1/chat/completions`,
      ask("What is 2+2?", { stream: true }),
      {},
      leaver.signal,
    );
    await waitFor(() => s.server.context.queue.waiting === 1, "a request to wait");
    const refused = await postJson(`${s.url}/v1/chat/completions`, ask("What is 3+3?"));
    assertEquals(refused.status, 429);
    assertEquals((await refused.json()).error.code, "queue_full");
    const refusedResponses = await postJson(`${s.url}/v1/responses`, {
      model: STUB_MODEL,
      input: "What is 3+3?",
    });
    assertEquals(refusedResponses.status, 429);
    await refusedResponses.body?.cancel();
    // The waiting client leaves: its place frees up and a new request may queue.
    const res = await queued;
    leaver.abort();
    await res.body?.cancel().catch(() => {});
    await waitFor(() => s.server.context.queue.waiting === 0, "the leaver's place to free up");
    const next = postJson(`${s.url}/v1/chat/completions`, ask("What is 4+4?"));
    assertEquals((await (await running).json()).choices[0].message.content, "2");
    assertEquals((await (await next).json()).choices[0].message.content, "8");
    assertEquals(s.gen.prompts.filter((p) => p.includes("2+2")).length, 0, "the leaver never ran");
  }),
);

Deno.test("concurrency: a non-streaming client that hangs up stops its generation; one that leaves the queue is forgotten", async () => {
  const s = await startStubServer({ delayMs: 15 });
  try {
    const running = new AbortController();
    const first = postJson(
      `${s.url}/v1/chat/completions`,
      ask("echo a fairly long sentence please"),
      {},
      running.signal,
    )
      .catch((e) => e);
    await waitFor(() => s.server.context.queue.busy, "the first request to own the engine");
    const queued = new AbortController();
    const second = postJson(
      `${s.url}/v1/responses`,
      { model: STUB_MODEL, input: "What is 6+6?" },
      {},
      queued.signal,
    )
      .catch((e) => e);
    await waitFor(() => s.server.context.queue.waiting === 1, "the second request to queue");
    queued.abort();
    await waitFor(() => s.server.context.queue.waiting === 0, "the queued request to leave");
    running.abort();
    assert(
      (await first) instanceof Error && (await second) instanceof Error,
      "both clients saw their own abort",
    );
    await waitFor(() => !s.server.context.queue.busy, "the engine to be free");
    assertEquals(s.gen.aborted, 1);
    assertEquals(s.gen.completed, 0);
    const after: Json = await (await postJson(`${s.url}/v1/chat/completions`, ask("What is 6+6?"))).json();
    assertEquals(after.choices[0].message.content, "12");
  } finally {
    await s.close(); // fails if the server logged an error for the clients that left
  }
});
