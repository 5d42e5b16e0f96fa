// GET /health, GET /metrics (Prometheus text) and POST /stop against the stub engine: their shapes, the
// API key on /metrics and /stop (not on /health), and a stream stopped by id.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Json, postJson, sseJson, STUB_MODEL, withStubServer } from "./serve_util.ts";

Deno.test(
  "GET /health and /metrics describe the slots and counters; /metrics follows the Prometheus text format",
  withStubServer({}, async (s) => {
    await (await postJson(`${s.url}/v1/chat/completions`, {
      model: STUB_MODEL,
      messages: [{ role: "user", content: "What is 2+3?" }],
    })).json();
    assertEquals(await (await fetch(`${s.url}/health`)).json(), {
      status: "ok",
      slots: 1,
      running: 0,
      waiting: 0,
      busy: false,
    });
    const res = await fetch(`${s.url}/metrics`);
    assertMatch(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const names = [
      "ossi_requests_running",
      "ossi_requests_waiting",
      "ossi_requests_finished_total",
      "ossi_prompt_tokens_total",
      "ossi_prompt_tokens_cached_total",
      "ossi_generation_tokens_total",
      "ossi_slots",
      "ossi_slot_context_size_tokens",
      "ossi_slot_context_tokens",
      "ossi_slot_busy",
    ];
    for (const name of names) {
      assertMatch(text, new RegExp(`^# HELP ${name} .+\\n# TYPE ${name} (gauge|counter)\\n${name}[{ ]`, "m"));
    }
    // every sample line is `name{labels} value`, and counters end in _total
    for (const line of text.trim().split("\n").filter((l) => !l.startsWith("#"))) {
      assertMatch(line, /^[a-z_]+(\{slot="\d+"\})? -?\d+(\.\d+)?$/);
    }
    assertMatch(text, /^ossi_requests_finished_total 1$/m);
    assertMatch(text, /^ossi_slot_busy\{slot="0"\} 0$/m);
  }),
);

Deno.test(
  "the API key guards /metrics and POST /stop, not /health",
  withStubServer({ apiKey: "k" }, async (s) => {
    assertEquals((await fetch(`${s.url}/health`)).status, 200);
    assertEquals((await fetch(`${s.url}/metrics`)).status, 401);
    assertEquals((await postJson(`${s.url}/stop`, { id: "chatcmpl-x" })).status, 401);
    const auth = { authorization: "Bearer k" };
    assertEquals((await fetch(`${s.url}/metrics`, { headers: auth })).status, 200);
    assertEquals((await postJson(`${s.url}/stop`, { id: "chatcmpl-x" }, auth)).status, 404);
    assertEquals((await postJson(`${s.url}/stop`, {}, auth)).status, 400);
    assertEquals((await fetch(`${s.url}/stop`, { headers: auth })).status, 405);
  }),
);

Deno.test(
  "POST /stop ends a stream by its id as a finished one, with what was generated so far",
  withStubServer({ delayMs: 20 }, async (s) => {
    const res = await postJson(`${s.url}/v1/chat/completions`, {
      model: STUB_MODEL,
      messages: [{ role: "user", content: "a long question to echo back, word by word" }],
      stream: true,
    });
    const id = res.headers.get("x-request-id")!;
    assertMatch(id, /^chatcmpl-/);
    const reader = res.body!.getReader();
    await reader.read(); // the stream is running
    const stop: Json = await (await postJson(`${s.url}/stop`, { id })).json();
    assertEquals(stop, { id, object: "stop", stopped: true });
    const rest = new Response(
      new ReadableStream({
        async pull(c) {
          const r = await reader.read();
          if (r.done) c.close();
          else c.enqueue(r.value);
        },
      }),
    );
    const chunks = await sseJson(rest);
    assertEquals(chunks.at(-1)!.choices[0].finish_reason, "stop");
    assertEquals(chunks.at(-1)!.id, id);
    assertEquals(s.gen.aborted, 1, "the generation was stopped, not finished");
    assert(s.gen.completed === 0);
  }),
);
