// Bad requests get OpenAI-shaped errors with the right status, and the server keeps answering after them.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Json, postJson, STUB_MODEL, withStubServer } from "./serve_util.ts";

/** Asserts an OpenAI-shaped error with this status and code; `what` names the request in failures. */
async function expectError(res: Response, status: number, code: string | null, what = ""): Promise<Json> {
  const body: Json = await res.json();
  assertEquals(res.status, status, `${what} ${JSON.stringify(body)}`);
  assert(typeof body.error?.message === "string" && body.error.message.length > 0, `${what} error.message`);
  assert(typeof body.error.type === "string", `${what} error.type`);
  assertEquals(body.error.code, code, `${what} error.code`);
  return body.error;
}

Deno.test(
  "errors: malformed JSON, missing and ill-typed fields are 400 with an error object",
  withStubServer({}, async (s) => {
    const chat = `${s.url}/v1/chat/completions`;
    await expectError(await postJson(chat, "{not json"), 400, "invalid_json");
    await expectError(await postJson(chat, "[1,2]"), 400, "invalid_body");
    await expectError(
      await fetch(chat, { method: "POST", body: new Uint8Array([0xff, 0xfe, 0x7b]) }),
      400,
      "invalid_body",
    );
    const missing = await expectError(
      await postJson(chat, { model: STUB_MODEL }),
      400,
      "missing_required_parameter",
    );
    assertEquals(missing.param, "messages");
    await expectError(
      await postJson(chat, { messages: [{ role: "user", content: "hi" }] }),
      400,
      "missing_required_parameter",
    );
    const msgs = [{ role: "user", content: "hi" }];
    await expectError(await postJson(chat, { model: STUB_MODEL, messages: [] }), 400, "invalid_value");
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: [{ role: "robot", content: "x" }] }),
      400,
      "invalid_value",
    );
    // one bad field on an otherwise valid request
    const badFields: [Json, string][] = [
      [{ temperature: "hot" }, "invalid_type"],
      [{ temperature: 9 }, "invalid_value"],
      [{ top_p: 0 }, "invalid_value"],
      [{ n: 3 }, "invalid_value"],
      [{ max_tokens: 0 }, "invalid_value"],
      [{ reasoning_effort: "max" }, "invalid_value"],
      [{ stop: [1] }, "invalid_value"],
      [{ tools: [{ type: "web_search" }] }, "invalid_value"],
    ];
    for (const [field, code] of badFields) {
      const res = await postJson(chat, { model: STUB_MODEL, messages: msgs, ...field });
      await expectError(res, 400, code, JSON.stringify(field));
    }
    await expectError(
      await postJson(chat, {
        model: STUB_MODEL,
        messages: [{ role: "tool", tool_call_id: "nope", content: "x" }],
      }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(`${s.url}/v1/responses`, { model: STUB_MODEL }),
      400,
      "missing_required_parameter",
    );
    await expectError(
      await postJson(`${s.url}/v1/responses`, { model: STUB_MODEL, input: 5 }),
      400,
      "invalid_value",
    );
    await expectError(await fetch(chat), 405, "method_not_allowed");
    await expectError(await fetch(`${s.url}/v1/nothing`), 404, "not_found");
    // Still serving.
    const ok = await postJson(chat, {
      model: STUB_MODEL,
      messages: [{ role: "user", content: "What is 1+1?" }],
    });
    assertEquals((await ok.json()).choices[0].message.content, "2");
  }),
);

Deno.test(
  "errors: unknown model is 404, on both APIs and on GET /v1/models/{id}",
  withStubServer({}, async (s) => {
    const e = await expectError(
      await postJson(`${s.url}/v1/chat/completions`, {
        model: "gpt-5",
        messages: [{ role: "user", content: "hi" }],
      }),
      404,
      "model_not_found",
    );
    assertMatch(e.message, /gpt-5/);
    await expectError(
      await postJson(`${s.url}/v1/responses`, { model: "gpt-5", input: "hi", stream: true }),
      404,
      "model_not_found",
    );
    await expectError(await fetch(`${s.url}/v1/models/gpt-5`), 404, "model_not_found");
    const card: Json = await (await fetch(`${s.url}/v1/models/${STUB_MODEL}`)).json();
    assertEquals(card.id, STUB_MODEL);
    assertEquals(card.object, "model");
  }),
);

Deno.test(
  "errors: a prompt longer than the context is 400 context_length_exceeded (streaming too)",
  withStubServer({ contextSize: 200 }, async (s) => {
    const long = { model: STUB_MODEL, messages: [{ role: "user", content: "word ".repeat(400) }] };
    await expectError(await postJson(`${s.url}/v1/chat/completions`, long), 400, "context_length_exceeded");
    await expectError(
      await postJson(`${s.url}/v1/chat/completions`, { ...long, stream: true }),
      400,
      "context_length_exceeded",
    );
    await expectError(
      await postJson(`${s.url}/v1/responses`, { model: STUB_MODEL, input: "word ".repeat(400) }),
      400,
      "context_length_exceeded",
    );
    assertEquals(s.gen.prompts.length, 0, "nothing reached the engine");
    // max_tokens past the end of the context is capped, not refused.
    const body: Json = await (await postJson(`${s.url}/v1/chat/completions`, {
      model: STUB_MODEL,
      messages: [{ role: "user", content: "What is 3+4?" }],
      max_tokens: 100000,
    })).json();
    assertEquals(body.choices[0].message.content, "7");
  }),
);

Deno.test(
  "errors: with an API key, /v1 needs 'Authorization: Bearer KEY' (401 otherwise); the page does not",
  withStubServer({ apiKey: "sekret" }, async (s) => {
    const body = { model: STUB_MODEL, messages: [{ role: "user", content: "What is 4+4?" }] };
    await expectError(await fetch(`${s.url}/v1/models`), 401, "invalid_api_key");
    await expectError(
      await postJson(`${s.url}/v1/chat/completions`, body, { authorization: "Bearer wrong" }),
      401,
      "invalid_api_key",
    );
    const ok: Json =
      await (await postJson(`${s.url}/v1/chat/completions`, body, { authorization: "Bearer sekret" })).json();
    assertEquals(ok.choices[0].message.content, "8");
    const models: Json =
      await (await fetch(`${s.url}/v1/models`, { headers: { authorization: "Bearer sekret" } })).json();
    assertEquals(models.data.map((m: Json) => m.id), [STUB_MODEL]);
    const page = await fetch(`${s.url}/`);
    assertEquals(page.status, 200);
    assertMatch(await page.text(), /<title>ossi chat<\/title>/);
  }),
);

Deno.test(
  "errors: random request bodies never give a 500 and never stop the server",
  withStubServer({}, async (s) => {
    let seed = 12345;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const leaves = [
      null,
      true,
      0,
      -1,
      1.5,
      1e308,
      "",
      "x",
      "user",
      "tool",
      "function",
      STUB_MODEL,
      "What is 1+1?",
    ];
    const keys = [
      "model",
      "messages",
      "input",
      "role",
      "content",
      "tools",
      "tool_choice",
      "type",
      "function",
      "name",
      "parameters",
      "tool_calls",
      "tool_call_id",
      "stream",
      "stop",
      "max_tokens",
      "temperature",
      "top_p",
      "seed",
      "reasoning",
      "effort",
      "reasoning_effort",
      "text",
      "call_id",
      "arguments",
      "output",
      "instructions",
      "n",
    ];
    const value = (depth: number): unknown => {
      const k = rand(depth > 3 ? 1 : 4);
      if (k === 0) return leaves[rand(leaves.length)];
      if (k === 1) return Array.from({ length: rand(3) }, () => value(depth + 1));
      return Object.fromEntries(
        Array.from({ length: 1 + rand(5) }, () => [keys[rand(keys.length)], value(depth + 1)]),
      );
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const path = i % 3 === 0 ? "/v1/responses" : "/v1/chat/completions";
      // Half random shapes, half a valid request with one field (at any depth) replaced by a random value.
      let body = value(0) as Json;
      if (i % 2 === 0) {
        body = path === "/v1/responses"
          ? {
            model: STUB_MODEL,
            input: [{ role: "user", content: "What is 1+1?" }],
            tools: [{ type: "function", name: "f" }],
          }
          : {
            model: STUB_MODEL,
            messages: [{ role: "user", content: "What is 1+1?" }],
            tools: [{ type: "function", function: { name: "f" } }],
          };
        let at: Json = body;
        for (let d = rand(3); d > 0; d--) {
          const inner = Object.values(at).filter((v) => v && typeof v === "object") as Json[];
          if (!inner.length) break;
          at = inner[rand(inner.length)];
          if (Array.isArray(at)) at = at[0];
        }
        at[rand(2) ? keys[rand(keys.length)] : Object.keys(at)[0]] = value(2);
      }
      const res = await postJson(`${s.url}${path}`, JSON.stringify(body));
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert(res.status < 500, `${path} ${JSON.stringify(body)} -> ${res.status} ${text}`);
      if (res.status !== 200) assert(typeof JSON.parse(text).error.message === "string", text);
    }
    const seen = JSON.stringify([...statuses]);
    assert(
      (statuses.get(400) ?? 0) > 100 && (statuses.get(200) ?? 0) > 10,
      `both refused and answered: ${seen}`,
    );
    const ok = await postJson(`${s.url}/v1/chat/completions`, {
      model: STUB_MODEL,
      messages: [{ role: "user", content: "What is 2+5?" }],
    });
    assertEquals((await ok.json()).choices[0].message.content, "7");
  }),
);
