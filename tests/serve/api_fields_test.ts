// Request fields as OpenAI treats them (fetch, as curl sends them): unknown fields and unsupported features
// are 400s, harmless ones are accepted; schemas with unsupported keywords are refused by name; max_tokens
// that ends anywhere before the stop token says "length"; logprobs in OpenAI's shapes (plain and streamed);
// model names and aliases.

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Json, postJson, STUB_MODEL, withStubServer } from "./serve_util.ts";
import { MODEL, withDemoServer } from "./demo_server.ts";
import { listFlag } from "../../src/cli/args.ts";
import { parseCommandArgs } from "../../src/cli/options.ts";

const ask = (extra: Json = {}) => ({
  model: STUB_MODEL,
  messages: [{ role: "user", content: "What is 2+3?" }],
  ...extra,
});

Deno.test(
  "fields: unknown fields are 400 in each API's wording; refused features 400; harmless fields accepted",
  withStubServer({}, async ({ url }) => {
    const chat = (b: Json) => postJson(`${url}/v1/chat/completions`, b);
    let r = await chat(ask({ foo: 1 }));
    assertEquals(r.status, 400);
    assertEquals((await r.json()).error.message, "Unrecognized request argument supplied: foo");
    r = await postJson(`${url}/v1/responses`, { model: STUB_MODEL, input: "hi", foo: 1 });
    assertEquals(r.status, 400);
    const e = (await r.json()).error;
    assertEquals([e.message, e.param, e.code], ["Unknown parameter: 'foo'.", "foo", "unknown_parameter"]);
    for (
      const [field, value] of [["audio", { voice: "x", format: "wav" }], ["functions", [{ name: "f" }]], [
        "web_search_options",
        {},
      ]]
    ) {
      r = await chat(ask({ [field as string]: value }));
      assertEquals(r.status, 400, String(field));
      assertEquals((await r.json()).error.param, field);
    }
    r = await chat(ask({ modalities: ["text", "audio"] }));
    assertEquals(r.status, 400);
    await r.body?.cancel();
    // Identifiers, storage and caching hints, service tier, prediction: accepted.
    r = await chat(ask({
      user: "u1",
      metadata: { a: "b" },
      store: true,
      service_tier: "auto",
      prompt_cache_key: "k",
      safety_identifier: "s",
      parallel_tool_calls: false,
      modalities: ["text"],
      prediction: { type: "content", content: "5" },
      audio: null,
    }));
    assertEquals(r.status, 200);
    assertEquals((await r.json()).choices[0].message.content, "5");
    r = await postJson(`${url}/v1/responses`, {
      model: STUB_MODEL,
      input: "What is 2+3?",
      store: true,
      metadata: { k: "v" },
      include: ["reasoning.encrypted_content"],
      truncation: "disabled",
    });
    const resp = await r.json();
    assertEquals([r.status, resp.output_text, resp.metadata], [200, "5", { k: "v" }]);
  }),
);

Deno.test(
  "fields: tool_choice without tools, top_logprobs without logprobs, unsupported schema keywords, logit_bias keys are 400s",
  withStubServer({}, async ({ url }) => {
    const chat = (b: Json) => postJson(`${url}/v1/chat/completions`, b);
    const cases: [Json, string, RegExp][] = [
      [{ tool_choice: "required" }, "tool_choice", /only allowed when 'tools' are specified/],
      [{ tools: [], tool_choice: { type: "function", function: { name: "f" } } }, "tool_choice", /tools/],
      [{ top_logprobs: 2 }, "top_logprobs", /logprobs/],
      [{ logprobs: true, top_logprobs: 21 }, "top_logprobs", /between 0 and 20/],
      [
        {
          response_format: {
            type: "json_schema",
            json_schema: { name: "x", schema: { type: "string", pattern: "a+" } },
          },
        },
        "response_format.json_schema.schema",
        /unsupported JSON Schema keyword 'pattern'/,
      ],
      [
        { response_format: { type: "json_schema", json_schema: { schema: {} } } },
        "response_format.json_schema.name",
        /name/,
      ],
      [{ response_format: { type: "json_object" } }, "messages", /must contain the word 'json'/],
      [{ response_format: { type: "yaml" } }, "response_format.type", /json_schema/],
      [{ logit_bias: { "99999": 5 } }, "logit_bias", /token id/],
      [{ logit_bias: { "5": 101 } }, "logit_bias", /\[-100, 100\]/],
      [
        {
          tools: [{ type: "function", function: { name: "f", parameters: { type: "object", not: {} } } }],
          tool_choice: "required",
        },
        "tools",
        /function 'f': #: unsupported JSON Schema keyword 'not'/,
      ],
    ];
    for (const [extra, param, message] of cases) {
      const r = await chat(ask(extra));
      const body = await r.json();
      assertEquals(r.status, 400, JSON.stringify(extra));
      assertEquals(body.error.param, param, JSON.stringify(extra));
      assertMatch(body.error.message, message);
    }
    const r = await postJson(`${url}/v1/responses`, {
      model: STUB_MODEL,
      input: "hi",
      text: { format: { type: "json_schema", name: "x", schema: { type: "object", minProperties: 1 } } },
    });
    const body = await r.json();
    assertEquals([r.status, body.error.param], [400, "text.format.schema"]);
    assertMatch(body.error.message, /'minProperties'/);
  }),
);

Deno.test(
  "max_tokens: every limit short of the stop token gives finish_reason length (incomplete), whatever it cuts",
  withStubServer({}, async ({ url }) => {
    // The scripted answer: analysis, <|end|>, the final header, "5", <|return|>: 23 tokens.
    let full = 0;
    for (let n = 1; n <= 24; n++) {
      const c = await (await postJson(`${url}/v1/chat/completions`, ask({ max_tokens: n }))).json();
      const r = await (await postJson(`${url}/v1/responses`, {
        model: STUB_MODEL,
        input: "What is 2+3?",
        max_output_tokens: n,
      }))
        .json();
      const u = c.usage;
      assert(u.completion_tokens <= n && u.completion_tokens_details.reasoning_tokens <= u.completion_tokens);
      if (c.choices[0].finish_reason === "stop") {
        full ||= n;
        assertEquals([c.choices[0].message.content, r.status], ["5", "completed"]);
      } else {
        assertEquals(c.choices[0].finish_reason, "length", `max_tokens ${n}`);
        assertEquals(u.completion_tokens, n);
        assertEquals(
          [r.status, r.incomplete_details.reason],
          ["incomplete", "max_output_tokens"],
          `max_output_tokens ${n}`,
        );
      }
    }
    assertEquals(full, 23);
  }),
);

Deno.test("logprobs: OpenAI's shapes on chat completions, plain and streamed, tokens spelling the answer", async () => {
  await withDemoServer(async (client) => {
    const c = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "What is 123+45?" }],
      logprobs: true,
      top_logprobs: 3,
    });
    const content = c.choices[0].logprobs!.content!;
    assertEquals(c.choices[0].logprobs!.refusal, null);
    assertEquals(content.map((t) => t.token).join(""), c.choices[0].message.content);
    for (const t of content) {
      assert(t.logprob <= 0, "a log-probability");
      assertEquals(t.bytes, [...new TextEncoder().encode(t.token)]);
      assertEquals(t.top_logprobs.length, 3);
      const tops = t.top_logprobs.map((x) => x.logprob);
      assertEquals(tops, [...tops].sort((a, b) => b - a));
      // Greedy picks the most likely token, so it heads the list.
      assertEquals(t.top_logprobs[0].token, t.token);
      assert(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-9);
    }
    const plain = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "What is 123+45?" }],
    });
    assertEquals(plain.choices[0].logprobs, null);

    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "What is 123+45?" }],
      logprobs: true,
      stream: true,
    });
    let text = "";
    const tokens: string[] = [];
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      if (!ch) continue;
      text += ch.delta.content ?? "";
      for (const t of ch.logprobs?.content ?? []) {
        tokens.push(t.token);
        assertEquals(t.top_logprobs, []);
      }
    }
    assertEquals(tokens.join(""), text);
    assertEquals(text, c.choices[0].message.content);
  });
});

Deno.test("model names: /v1/models lists the id and --alias names; a Hub id's name part is accepted", async () => {
  assertEquals(listFlag(parseCommandArgs("serve", ["--alias", "a", "--port", "0", "--alias=b"]), "alias"), [
    "a",
    "b",
  ]);
  const { startServer } = await import("../../src/serve/server.ts");
  const { openLocalService } = await import("../../src/service/open_service.ts");
  const { DEMO_MODEL } = await import("../fixture_util.ts");
  const engine = await openLocalService(DEMO_MODEL, { backend: "ref", maxContext: 512 });
  const server = startServer({
    engine,
    modelId: "openai/gpt-oss-20b",
    aliases: ["gpt-oss-20b"],
    listedAliases: ["my-model"],
    sampler: { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0 },
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    assertEquals((await client.models.list()).data.map((m) => m.id), ["openai/gpt-oss-20b", "my-model"]);
    for (const name of ["openai/gpt-oss-20b", "gpt-oss-20b", "my-model"]) {
      const c = await client.chat.completions.create({
        model: name,
        messages: [{ role: "user", content: "What is 2+3?" }],
      });
      assertEquals([c.model, c.choices[0].message.content], [name, "5"]);
    }
    const r = await fetch(`${server.url}/v1/models/my-model`);
    assertEquals((await r.json()).id, "my-model");
  } finally {
    await server.shutdown();
    await engine.close();
  }
});
