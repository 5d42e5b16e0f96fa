// Bad requests get OpenAI-shaped errors with the right status, and the server keeps answering after them.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Json, postJson, startStubServer, STUB_MODEL } from "./serve_util.ts";

async function expectError(res: Response, status: number, code: string | null): Promise<Json> {
  const body: Json = await res.json();
  assertEquals(res.status, status, JSON.stringify(body));
  assert(typeof body.error?.message === "string" && body.error.message.length > 0, "error.message");
  assert(typeof body.error.type === "string", "error.type");
  assertEquals(body.error.code, code);
  return body.error;
}

Deno.test("errors: malformed JSON, missing and ill-typed fields are 400 with an error object", async () => {
  const s = await startStubServer();
  const chat = `${s.url}/v1/chat/completions`;
  try {
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
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, temperature: "hot" }),
      400,
      "invalid_type",
    );
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, temperature: 9 }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, top_p: 0 }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, n: 3 }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, max_tokens: 0 }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, reasoning_effort: "max" }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, stop: [1] }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(chat, {
        model: STUB_MODEL,
        messages: [{ role: "tool", tool_call_id: "nope", content: "x" }],
      }),
      400,
      "invalid_value",
    );
    await expectError(
      await postJson(chat, { model: STUB_MODEL, messages: msgs, tools: [{ type: "web_search" }] }),
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
  } finally {
    await s.close();
  }
});

Deno.test("errors: unknown model is 404, on both APIs and on GET /v1/models/{id}", async () => {
  const s = await startStubServer();
  try {
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
  } finally {
    await s.close();
  }
});

Deno.test("errors: a prompt longer than the context is 400 context_length_exceeded (streaming too)", async () => {
  const s = await startStubServer({ contextSize: 200 });
  try {
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
  } finally {
    await s.close();
  }
});

Deno.test("errors: with an API key, /v1 needs 'Authorization: Bearer KEY' (401 otherwise); the page does not", async () => {
  const s = await startStubServer({ apiKey: "sekret" });
  const body = { model: STUB_MODEL, messages: [{ role: "user", content: "What is 4+4?" }] };
  try {
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
  } finally {
    await s.close();
  }
});
