// Load: a bounded burst of concurrent streaming clients on loopback, a third of which hang up early.
// Every other client gets its own correct answer, the engine ends idle, and the server keeps serving.

import { assert, assertEquals } from "../assert.ts";
import { type Json, postJson, startStubServer, STUB_MODEL } from "./serve_util.ts";

const CLIENTS = 24;
const DEADLINE_MS = 60_000;

/** Streams one answer; a leaver cancels after `leaveAfter` chunks. Returns the content, or null if it left. */
async function client(url: string, a: number, b: number, leaveAfter: number | null): Promise<string | null> {
  const ac = new AbortController();
  const res = await postJson(
    `${url}/v1/chat/completions`,
    {
      model: STUB_MODEL,
      messages: [{ role: "user", content: `What is ${a}+${b}?` }],
      stream: true,
    },
    {},
    ac.signal,
  );
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let content = "";
  let chunks = 0;
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error("stream ended without [DONE]");
    buf += value;
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const data = buf.slice(6, end); // "data: ..."
      buf = buf.slice(end + 2);
      if (data === "[DONE]") return content;
      const chunk: Json = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      content += chunk.choices[0]?.delta?.content ?? "";
      if (leaveAfter !== null && ++chunks >= leaveAfter) {
        ac.abort();
        await reader.cancel().catch(() => {});
        return null;
      }
    }
  }
}

Deno.test({
  name: `load: ${CLIENTS} concurrent streaming clients, a third leaving early, all others answered`,
  async fn() {
    const s = await startStubServer({ delayMs: 1, maxWaiting: CLIENTS });
    const timer = setTimeout(() => {
      throw new Error(`load test over ${DEADLINE_MS} ms`);
    }, DEADLINE_MS);
    try {
      const t0 = performance.now();
      const jobs = Array.from({ length: CLIENTS }, (_, i) => {
        const [a, b] = [10 + i, 50 + 2 * i];
        const leaveAfter = i % 3 === 1 ? 2 + (i % 5) : null;
        return client(s.url, a, b, leaveAfter).then((answer) => ({ i, a, b, leaveAfter, answer }));
      });
      const results = await Promise.all(jobs);
      const ms = performance.now() - t0;
      for (const r of results) {
        if (r.leaveAfter === null) assertEquals(r.answer, String(r.a + r.b), `client ${r.i}`);
        else assertEquals(r.answer, null);
      }
      const stayers = results.filter((r) => r.leaveAfter === null).length;
      assertEquals(s.gen.completed, stayers, "every staying client's generation ran to the end");
      // A leaver still queued when it hung up never reaches the engine; one that was running is aborted.
      assert(s.gen.aborted <= CLIENTS - stayers, "no staying client was aborted");
      const q = s.server.context.queue;
      for (let i = 0; i < 200 && (q.busy || q.waiting); i++) await new Promise((r) => setTimeout(r, 10));
      assert(!q.busy && q.waiting === 0, "the engine is idle afterwards");
      const health: Json = await (await fetch(`${s.url}/health`)).json();
      assertEquals(health.status, "ok");
      const after: Json = await (await postJson(`${s.url}/v1/chat/completions`, {
        model: STUB_MODEL,
        messages: [{ role: "user", content: "What is 1+1?" }],
      })).json();
      assertEquals(after.choices[0].message.content, "2");
      console.log(
        `load: ${CLIENTS} clients (${stayers} stayed) in ${
          ms.toFixed(0)
        } ms; ${s.gen.aborted} generations aborted`,
      );
    } finally {
      clearTimeout(timer);
      await s.close();
    }
  },
});
