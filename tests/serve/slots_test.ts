// `ossi serve` as a process, engine in its worker: with --parallel 2 two interleaved conversations each
// reuse their own KV cache; /health and /metrics answer while a long prefill runs; a client that
// disconnects mid-prefill frees its slot for the next request; POST /stop ends a stream as a finished
// one; SIGTERM stops what runs (the stream says so) and exits 0; the wasm backend streams.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { type Json, postJson, sseJson } from "./serve_util.ts";
import { spawnServe } from "./spawn_serve.ts";

const MODEL = "tiny-oss-math";
/** About 6,000 tokens: a minute of prefill on the reference backend (each test stops it early). */
const LONG = "What is 1+1? ".repeat(850);

const ask = (messages: Json[], extra: Json = {}) => ({ model: MODEL, messages, ...extra });

async function metrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stopServer(s: Awaited<ReturnType<typeof spawnServe>>): Promise<number> {
  s.child.kill("SIGTERM");
  await s.reader.cancel().catch(() => {});
  const status = await s.child.status;
  await s.child.stdout.cancel().catch(() => {});
  return status.code;
}

Deno.test("ossi serve --parallel 2: interleaved conversations each reuse their own cache (cached_tokens)", async () => {
  const s = await spawnServe(["--model", DEMO_MODEL, "--port", "0", "--backend", "ref", "--parallel", "2"]);
  try {
    const chat = async (messages: Json[]) => {
      const body: Json = await (await postJson(`${s.url}/v1/chat/completions`, ask(messages))).json();
      return { usage: body.usage, reply: { role: "assistant", content: body.choices[0].message.content } };
    };
    const a1 = [{ role: "user", content: "What is 23+45?" }];
    const b1 = [{ role: "user", content: "What is 12+30?" }];
    const ra1 = await chat(a1), rb1 = await chat(b1);
    assertEquals([ra1.reply.content, rb1.reply.content], ["68", "42"]);
    const ra2 = await chat([...a1, ra1.reply, { role: "user", content: "What is 7+8?" }]);
    const rb2 = await chat([...b1, rb1.reply, { role: "user", content: "What is 9+9?" }]);
    assertEquals([ra2.reply.content, rb2.reply.content], ["15", "18"]);
    for (const [first, next] of [[ra1, ra2], [rb1, rb2]]) {
      const cached = next.usage.prompt_tokens_details.cached_tokens;
      assert(cached >= first.usage.prompt_tokens, `the next turn reused its own cache: ${cached} cached`);
    }
    const m = await metrics(s.url);
    assertEquals(m.ossi_slots, 2);
    assert(m['ossi_slot_context_tokens{slot="0"}'] > 0 && m['ossi_slot_context_tokens{slot="1"}'] > 0);
    assertEquals(m.ossi_requests_finished_total, 4);
    const completion = [ra1, rb1, ra2, rb2].reduce((n, r) => n + r.usage.completion_tokens, 0);
    assertEquals(m.ossi_generation_tokens_total, completion);
  } finally {
    assertEquals(await stopServer(s), 0);
  }
});

Deno.test("ossi serve: /health answers during a long prefill; a disconnect frees its slot; POST /stop", async () => {
  const s = await spawnServe(["--model", DEMO_MODEL, "--port", "0", "--backend", "ref", "--parallel", "1"]);
  try {
    const leaving = new AbortController();
    const long = await postJson(
      `${s.url}/v1/chat/completions`,
      ask([{ role: "user", content: LONG }], { stream: true }),
      {},
      leaving.signal,
    );
    let finished = false;
    long.text().then(() => (finished = true), () => {});
    await waitFor("the prefill to start", async () => (await metrics(s.url)).ossi_prompt_tokens_total > 0);
    const health: Json = await (await fetch(`${s.url}/health`)).json();
    assertEquals([health.status, health.slots, health.running], ["ok", 1, 1]);
    const m = await metrics(s.url);
    assert(m.ossi_prompt_tokens_total < 5000 && !finished, "the prefill was still running");
    assertEquals(m.ossi_requests_running, 1);
    // a second request waits for the slot; the first client leaves mid-prefill and frees it
    const next = postJson(`${s.url}/v1/chat/completions`, ask([{ role: "user", content: "What is 2+2?" }]));
    await waitFor(
      "the second request to wait",
      async () => (await metrics(s.url)).ossi_requests_waiting === 1,
    );
    leaving.abort();
    const body: Json = await (await next).json();
    assertEquals(body.choices[0].message.content, "4");
    assert((await metrics(s.url)).ossi_prompt_tokens_total < 5000, "the left request's prefill stopped");

    // POST /stop ends a stream as a finished one; an unknown id is a 404
    const res = await postJson(
      `${s.url}/v1/chat/completions`,
      ask([{ role: "user", content: LONG }], { stream: true }),
    );
    const id = res.headers.get("x-request-id")!;
    assertMatch(id, /^chatcmpl-/);
    const stop = await postJson(`${s.url}/stop`, { id });
    assertEquals(await stop.json(), { id, object: "stop", stopped: true });
    const chunks = await sseJson(res);
    assertEquals(chunks.at(-1)!.choices[0].finish_reason, "stop");
    assertEquals((await postJson(`${s.url}/stop`, { id })).status, 404);
    assertEquals((await metrics(s.url)).ossi_requests_running, 0);
  } finally {
    assertEquals(await stopServer(s), 0);
  }
});

Deno.test("ossi serve: SIGTERM mid-prefill ends the stream with an error event and exits 0", async () => {
  const s = await spawnServe(["--model", DEMO_MODEL, "--port", "0", "--backend", "ref"]);
  const res = await postJson(
    `${s.url}/v1/chat/completions`,
    ask([{ role: "user", content: LONG }], { stream: true }),
  );
  await waitFor("the prefill to start", async () => (await metrics(s.url)).ossi_prompt_tokens_total > 0);
  s.child.kill("SIGTERM");
  const events = await sseJson(res);
  assertEquals(events.at(-1)!.error.code, "shutting_down");
  const status = await s.child.status;
  await s.reader.cancel().catch(() => {});
  await s.child.stdout.cancel().catch(() => {});
  assertEquals(status.code, 0);
});

Deno.test("ossi serve --backend wasm streams: events leave as tokens are made; /health answers meanwhile", async () => {
  const s = await spawnServe(["--model", DEMO_MODEL, "--port", "0", "--backend", "wasm", "--threads", "1"]);
  try {
    // the startup line says what runs: the demo model's MXFP4 experts take the fast path by default
    assert(/wasm backend, fast precision, \d+ slots? of \d+ tokens/.test(s.stderr()), s.stderr());
    // the demo model answers this with a long run of "1 1 1 ...": seconds of decoding
    const q = "Sort 9 2 7 4 8 1 6 3 5 12 15 11 14 13 10 19 17 18 16";
    const res = await postJson(
      `${s.url}/v1/chat/completions`,
      ask([{ role: "user", content: q }], { stream: true, max_tokens: 1500 }),
    );
    const reader = res.body!.getReader(), dec = new TextDecoder();
    let text = "";
    while (!text.includes('"reasoning"') && !text.includes('"content":"1')) {
      text += dec.decode((await reader.read()).value);
    }
    // the first tokens are out; a blocked event loop would answer only after the last one
    const health: Json = await (await fetch(`${s.url}/health`)).json();
    assertEquals(health.busy, true, "the generation was still running when /health answered");
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value);
    assert(text.endsWith("data: [DONE]\n\n") && text.split("\n\n").length > 1000, text.slice(-500));
  } finally {
    assertEquals(await stopServer(s), 0);
  }
});
