// Structured outputs and forced tool calls through the official `openai` client on the demo model: at
// temperature 1, every seeded sample parses and validates against its schema (checked by ajv, an
// independent validator), on chat completions (plain and streamed) and the Responses API.

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { newAjv, PERSON_SCHEMA } from "../chat/constrain/schemas.ts";
import { MODEL, withDemoServer } from "./demo_server.ts";

const SAMPLES = 20;

/** A seeded sample at temperature 1 of the answer to the demo question, with `extra` fields. */
function sample(client: OpenAI, seed: number, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>) {
  return client.chat.completions.create({
    model: MODEL,
    messages: [{ role: "user", content: "What is 23+45?" }],
    temperature: 1,
    seed,
    max_completion_tokens: 300,
    ...extra,
  });
}

const WEATHER_TOOLS: OpenAI.ChatCompletionFunctionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather at a place",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", maxLength: 20 },
          units: { enum: ["celsius", "fahrenheit"] },
          days: { type: "integer", minimum: 1, maximum: 7 },
          where: {
            type: "object",
            properties: { lat: { type: "number" }, lon: { type: "number" } },
            required: ["lat", "lon"],
            additionalProperties: false,
          },
          extras: { type: "array", items: { enum: ["wind", "rain", "uv"] }, maxItems: 3 },
        },
        required: ["city", "units", "where"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "add",
      parameters: {
        type: "object",
        properties: { a: { type: "integer" }, b: { type: "integer" } },
        required: ["a", "b"],
        additionalProperties: false,
      },
    },
  },
];

Deno.test("structured outputs: 20 seeded samples at temperature 1 all parse and validate (nested objects, arrays, enums, required keys)", async () => {
  const validate = newAjv().compile(PERSON_SCHEMA);
  await withDemoServer(async (client) => {
    const finishes = new Set<string>();
    for (let seed = 1; seed <= SAMPLES; seed++) {
      const c = await sample(client, seed, {
        response_format: {
          type: "json_schema",
          json_schema: { name: "person", schema: PERSON_SCHEMA, strict: true },
        },
      });
      const msg = c.choices[0].message;
      const value = JSON.parse(msg.content!);
      assert(validate(value), `seed ${seed}: ${msg.content}\n${JSON.stringify(validate.errors)}`);
      finishes.add(c.choices[0].finish_reason);
      const u = c.usage!;
      assert(u.completion_tokens <= 300, "max_completion_tokens holds");
      const reasoningTokens = u.completion_tokens_details!.reasoning_tokens!;
      assert(
        reasoningTokens > 0 && reasoningTokens < u.completion_tokens,
        `reasoning tokens ${reasoningTokens}`,
      );
      const m = msg as unknown as { reasoning_content?: string; reasoning?: string };
      assertEquals(m.reasoning, m.reasoning_content);
    }
    // "length" when the budget closed the JSON early, "stop" otherwise.
    assert([...finishes].every((f) => f === "stop" || f === "length"), [...finishes].join());
  });
});

Deno.test("structured outputs: streamed chunks join into a valid document; json_object mode gives an object", async () => {
  const validate = newAjv().compile(PERSON_SCHEMA);
  await withDemoServer(async (client) => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "What is 12+30?" }],
      temperature: 1,
      seed: 7,
      max_tokens: 250,
      stream: true,
      response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON_SCHEMA } },
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    assert(validate(JSON.parse(text)), text);

    const j = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Answer in JSON: what is 2+2?" }],
      temperature: 1,
      seed: 3,
      max_tokens: 120,
      response_format: { type: "json_object" },
    });
    const v = JSON.parse(j.choices[0].message.content!);
    assert(typeof v === "object" && v !== null && !Array.isArray(v), j.choices[0].message.content!);
  });
});

Deno.test("forced tools: tool_choice required gives a call with valid arguments in 20 of 20 seeded samples; a named function is the one called", async () => {
  const validate = newAjv().compile(WEATHER_TOOLS[0].function.parameters!);
  await withDemoServer(async (client) => {
    for (let seed = 1; seed <= SAMPLES; seed++) {
      const c = await sample(client, seed, {
        tools: WEATHER_TOOLS.slice(0, 1),
        tool_choice: "required",
      });
      const call = c.choices[0].message.tool_calls?.[0] as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert(call, `seed ${seed}: no tool call`);
      assertEquals(call.function.name, "get_weather");
      const args = JSON.parse(call.function.arguments);
      assert(validate(args), `seed ${seed}: ${call.function.arguments}`);
      assert(["tool_calls", "length"].includes(c.choices[0].finish_reason), c.choices[0].finish_reason);
      assertMatch(call.id, /^call_/);
    }
    const named = await sample(client, 5, {
      tools: WEATHER_TOOLS,
      tool_choice: { type: "function", function: { name: "add" } },
    });
    const call = named.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    assertEquals(call.function.name, "add");
    const args = JSON.parse(call.function.arguments);
    assert(Number.isInteger(args.a) && Number.isInteger(args.b), call.function.arguments);

    // The Responses API forces the same way.
    const r = await client.responses.create({
      model: MODEL,
      input: "What is 23+45?",
      temperature: 1,
      top_p: 1,
      max_output_tokens: 200,
      tools: [{
        type: "function",
        name: "add",
        parameters: WEATHER_TOOLS[1].function.parameters!,
        strict: true,
      }],
      tool_choice: "required",
    });
    const fc = r.output.find((i) => i.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall;
    assertEquals(fc.name, "add");
    assert(Number.isInteger(JSON.parse(fc.arguments).a), fc.arguments);
  });
});

Deno.test("structured outputs on the Responses API (text.format), with output_text logprobs", async () => {
  const validate = newAjv().compile(PERSON_SCHEMA);
  await withDemoServer(async (client) => {
    const r = await client.responses.create({
      model: MODEL,
      input: "What is 23+45?",
      temperature: 1,
      max_output_tokens: 250,
      text: { format: { type: "json_schema", name: "person", schema: PERSON_SCHEMA, strict: true } },
      include: ["message.output_text.logprobs"],
      top_logprobs: 2,
    });
    assert(validate(JSON.parse(r.output_text)), r.output_text);
    assertEquals(r.text?.format?.type, "json_schema");
    const msg = r.output.find((i) => i.type === "message") as OpenAI.Responses.ResponseOutputMessage;
    const part = msg.content[0] as OpenAI.Responses.ResponseOutputText;
    const lps = part.logprobs!;
    assertEquals(lps.map((l) => l.token).join(""), part.text);
    for (const l of lps) {
      assert(l.logprob <= 0 && l.top_logprobs.length <= 2, JSON.stringify(l));
    }
    assert(
      r.usage!.output_tokens_details.reasoning_tokens < r.usage!.output_tokens,
      "reasoning within output",
    );
  });
});
