// A model folder whose pre-tokenizer regex backtracks catastrophically on some text, or whose chat template
// loops for ages, must not freeze the server: prompts are rendered and encoded in a worker, /health
// answers while one such prompt is stuck there, the prompt is refused (after its time budget, or when
// the template runs out of steps), and the next requests are served.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { WorkerEncoder } from "../../src/chat/prompt_encoder.ts";
import { type Json, postJson, STUB_MODEL, withStubServer } from "./serve_util.ts";

/** The demo tokenizer with `(a+)+$` before its own pre-tokenizer: exponential on "aaaa...a!". */
function slowTokenizerFolder(): string {
  const dir = Deno.makeTempDirSync({ prefix: "ossi-slow-tokenizer-" });
  const json = JSON.parse(Deno.readTextFileSync(`${DEMO_MODEL}/tokenizer.json`));
  const slow = { type: "Split", pattern: { Regex: "(a+)+$" }, behavior: "Isolated", invert: false };
  json.pre_tokenizer = { type: "Sequence", pretokenizers: [slow, json.pre_tokenizer] };
  Deno.writeTextFileSync(`${dir}/tokenizer.json`, JSON.stringify(json));
  return dir;
}

Deno.test("a catastrophically slow pre-tokenizer regex: /health answers meanwhile, the prompt is refused", async () => {
  const dir = slowTokenizerFolder();
  const encoder = new WorkerEncoder(dir, { format: "harmony" }, { budgetMs: 3000, msPerKiloChar: 0 });
  try {
    await withStubServer({ encoder }, async (s) => {
      const chat = `${s.url}/v1/chat/completions`;
      const ok = await postJson(chat, {
        model: STUB_MODEL,
        messages: [{ role: "user", content: "What is 2+3?" }],
      });
      assertEquals(ok.status, 200, await ok.text());
      const started = performance.now();
      const stuck = postJson(chat, {
        model: STUB_MODEL,
        messages: [{ role: "user", content: "a".repeat(60) + "!" }],
      });
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const health: Json = await (await fetch(`${s.url}/health`)).json();
        assertEquals(health.status, "ok");
        assert(performance.now() - t0 < 1000, `/health took ${performance.now() - t0} ms`);
      }
      const res = await stuck;
      const body: Json = await res.json();
      assertEquals(res.status, 400, JSON.stringify(body));
      assertMatch(body.error.message, /took over 3 s/);
      assert(performance.now() - started < 20_000);
      // A fresh worker serves the next prompt.
      const after = await postJson(chat, {
        model: STUB_MODEL,
        messages: [{ role: "user", content: "What is 4+4?" }],
      });
      assertEquals(after.status, 200, await after.text());
    })();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a chat template that loops 10^4 x 10^4 times: /health answers meanwhile, the prompt is a 400", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "ossi-slow-template-" });
  Deno.copyFileSync(`${DEMO_MODEL}/tokenizer.json`, `${dir}/tokenizer.json`);
  Deno.writeTextFileSync(
    `${dir}/chat_template.jinja`,
    "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}<|start|>assistant",
  );
  const encoder = new WorkerEncoder(dir, { format: "harmony" });
  try {
    await withStubServer({ encoder }, async (s) => {
      const stuck = postJson(`${s.url}/v1/chat/completions`, {
        model: STUB_MODEL,
        messages: [{ role: "user", content: "hi" }],
      });
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      assertEquals((await fetch(`${s.url}/health`)).status, 200);
      assert(performance.now() - t0 < 1000, `/health took ${performance.now() - t0} ms`);
      const res = await stuck;
      const body: Json = await res.json();
      assertEquals(res.status, 400, JSON.stringify(body));
      // The template's step budget, or on a very loaded machine the worker's time budget.
      assertMatch(body.error.message, /rendering stopped after|took over \d+ s/);
    })();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
