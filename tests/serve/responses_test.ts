// POST /v1/responses against the stub engine: output items, output_text, reasoning effort, streaming
// events in order, function calls and their outputs.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Json, postJson, readSse, STUB_MODEL, withStubServer } from "./serve_util.ts";

Deno.test(
  "responses: reasoning and message items, output_text, usage, effort from reasoning.effort",
  withStubServer({}, async (s) => {
    const res = await postJson(`${s.url}/v1/responses`, {
      model: STUB_MODEL,
      input: "What is 23+45?",
      instructions: "Be exact.",
      reasoning: { effort: "medium" },
    });
    assertEquals(res.status, 200);
    const body: Json = await res.json();
    assertEquals(body.object, "response");
    assertEquals(body.status, "completed");
    assertMatch(body.id, /^resp_/);
    assertEquals(body.output.map((i: Json) => i.type), ["reasoning", "message"]);
    assertEquals(body.output[0].content[0].text, "effort medium: 23+45=68.");
    assertEquals(body.output[1].content[0], {
      type: "output_text",
      text: "68",
      annotations: [],
      logprobs: [],
    });
    assertEquals(body.output_text, "68");
    assertEquals(body.reasoning.effort, "medium");
    assertEquals(body.usage.output_tokens, s.gen.lastStats!.decodeTokens);
    assertEquals(body.usage.total_tokens, body.usage.input_tokens + body.usage.output_tokens);
    assertMatch(s.gen.prompts.at(-1)!, /Be exact\./);
  }),
);

Deno.test(
  "responses: streaming events come in order with increasing sequence numbers",
  withStubServer({}, async (s) => {
    const events = await readSse(
      await postJson(`${s.url}/v1/responses`, {
        model: STUB_MODEL,
        input: [{ role: "user", content: [{ type: "input_text", text: "What is 2+2?" }] }],
        stream: true,
      }),
    );
    const payloads: Json[] = events.map((e) => JSON.parse(e.data));
    for (const [i, e] of events.entries()) {
      assertEquals(e.event, payloads[i].type, "event name matches the payload type");
      assertEquals(payloads[i].sequence_number, i);
    }
    const types = payloads.map((p) => p.type);
    assertEquals(types[0], "response.created");
    assertEquals(types[1], "response.in_progress");
    assertEquals(types.at(-1), "response.completed");
    const text = payloads.filter((p) => p.type === "response.output_text.delta").map((p) => p.delta).join("");
    assertEquals(text, "4");
    const reasoning = payloads.filter((p) => p.type === "response.reasoning_text.delta").map((p) => p.delta)
      .join("");
    assertEquals(reasoning, "effort low: 2+2=4.");
    const order = types.filter((t) => /output_item|content_part|output_text\.done/.test(t));
    assertEquals(order, [
      "response.output_item.added",
      "response.content_part.added",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
    ]);
    const done = payloads.at(-1)!.response;
    assertEquals(done.output_text, "4");
    assertEquals(done.status, "completed");
  }),
);

Deno.test(
  "responses: function_call items, and function_call_output fed back",
  withStubServer({}, async (s) => {
    const tools = [{
      type: "function",
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    }];
    const first: Json =
      await (await postJson(`${s.url}/v1/responses`, { model: STUB_MODEL, input: "weather in Lima", tools }))
        .json();
    const call = first.output.find((i: Json) => i.type === "function_call");
    assertEquals(call.name, "get_weather");
    assertEquals(call.arguments, '{"city":"Lima"}');
    assertEquals(call.status, "completed");
    assertMatch(call.call_id, /^call_/);
    const second: Json = await (await postJson(`${s.url}/v1/responses`, {
      model: STUB_MODEL,
      tools,
      input: [
        { role: "user", content: "weather in Lima" },
        call,
        { type: "function_call_output", call_id: call.call_id, output: "sunny" },
      ],
    })).json();
    assertEquals(second.output_text, "get_weather says sunny");

    const events = await readSse(
      await postJson(`${s.url}/v1/responses`, {
        model: STUB_MODEL,
        input: "weather in Kyiv",
        tools,
        stream: true,
      }),
    );
    const types = events.map((e) => e.event);
    assert(types.includes("response.function_call_arguments.delta"), "arguments streamed");
    const argsDone = events.find((e) => e.event === "response.function_call_arguments.done")!;
    assertEquals(JSON.parse(argsDone.data).arguments, '{"city":"Kyiv"}');
  }),
);

Deno.test(
  "responses: max_output_tokens gives status incomplete",
  withStubServer({}, async (s) => {
    const body: Json = await (await postJson(`${s.url}/v1/responses`, {
      model: STUB_MODEL,
      input: "What is 5+5?",
      max_output_tokens: 4,
    })).json();
    assertEquals(body.status, "incomplete");
    assertEquals(body.incomplete_details, { reason: "max_output_tokens" });
    assertEquals(body.usage.output_tokens, 4);
  }),
);
