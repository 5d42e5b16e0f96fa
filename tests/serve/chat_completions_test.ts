// POST /v1/chat/completions against the stub engine: answers, reasoning kept apart, streaming chunks,
// usage, stop strings, max_tokens, effort, tool calls and tool results.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Json, postJson, sseJson, STUB_MODEL, withStubServer } from "./serve_util.ts";

const ask = (content: string, extra: Json = {}) => ({
  model: STUB_MODEL,
  messages: [{ role: "user", content }],
  ...extra,
});

Deno.test(
  "chat completions: answer in content, analysis in reasoning_content, usage counted",
  withStubServer({}, async (s) => {
    const res = await postJson(
      `${s.url}/v1/chat/completions`,
      ask("What is 23+45?", { reasoning_effort: "high" }),
    );
    assertEquals(res.status, 200);
    const body: Json = await res.json();
    assertEquals(body.object, "chat.completion");
    assertEquals(body.model, STUB_MODEL);
    assertMatch(body.id, /^chatcmpl-/);
    const choice = body.choices[0];
    assertEquals(choice.message.role, "assistant");
    assertEquals(choice.message.content, "68");
    assertEquals(choice.message.reasoning_content, "effort high: 23+45=68.");
    assertEquals(choice.finish_reason, "stop");
    const u = body.usage;
    assert(u.prompt_tokens > 20, `prompt tokens ${u.prompt_tokens}`);
    assertEquals(u.prompt_tokens, s.gen.lastStats!.promptTokens);
    assertEquals(u.completion_tokens, s.gen.lastStats!.decodeTokens);
    assertEquals(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert(u.completion_tokens_details.reasoning_tokens > 0, "reasoning tokens counted");
  }),
);

Deno.test(
  "chat completions: streaming sends role, reasoning and content deltas, finish, usage, [DONE]",
  withStubServer({}, async (s) => {
    const res = await postJson(
      `${s.url}/v1/chat/completions`,
      ask("What is 7+8?", { stream: true, stream_options: { include_usage: true } }),
    );
    assertEquals(res.status, 200);
    assertMatch(res.headers.get("content-type")!, /^text\/event-stream/);
    const chunks = await sseJson(res);
    assertEquals(chunks[0].choices[0].delta.role, "assistant");
    let content = "";
    let reasoning = "";
    for (const c of chunks) {
      assertEquals(c.object, "chat.completion.chunk");
      const d = c.choices[0]?.delta ?? {};
      content += d.content ?? "";
      reasoning += d.reasoning_content ?? "";
      assert(!(d.content ?? "").includes("7+8=15"), "analysis text never reaches content");
    }
    assertEquals(content, "15");
    assertEquals(reasoning, "effort low: 7+8=15.");
    const last = chunks.at(-1)!;
    assertEquals(last.choices, []);
    assertEquals(last.usage.completion_tokens, s.gen.lastStats!.decodeTokens);
    assertEquals(chunks.at(-2)!.choices[0].finish_reason, "stop");
    assert(chunks.length > 6, "streamed in several chunks");
  }),
);

Deno.test(
  "chat completions: stop strings cut the answer; max_tokens ends with finish_reason length",
  withStubServer({}, async (s) => {
    const stopped: Json =
      await (await postJson(`${s.url}/v1/chat/completions`, ask("hello there", { stop: ["there"] })))
        .json();
    assertEquals(stopped.choices[0].message.content, "You said: hello ");
    assertEquals(stopped.choices[0].finish_reason, "stop");
    const streamed = await sseJson(
      await postJson(`${s.url}/v1/chat/completions`, ask("hello there", { stop: "lo t", stream: true })),
    );
    assertEquals(streamed.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "You said: hel");
    const short: Json =
      await (await postJson(`${s.url}/v1/chat/completions`, ask("What is 1+2?", { max_tokens: 3 })))
        .json();
    assertEquals(short.choices[0].finish_reason, "length");
    assertEquals(short.usage.completion_tokens, 3);
    const short2: Json = await (await postJson(
      `${s.url}/v1/chat/completions`,
      ask("What is 1+2?", { max_completion_tokens: 5 }),
    )).json();
    assertEquals(short2.usage.completion_tokens, 5);
  }),
);

Deno.test(
  "chat completions: a tool call finishes with tool_calls, and its result is rendered back",
  withStubServer({}, async (s) => {
    const tools = [{
      type: "function",
      function: {
        name: "get_weather",
        description: "Weather now",
        parameters: { type: "object", properties: { city: { type: "string" } } },
      },
    }];
    const first: Json =
      await (await postJson(`${s.url}/v1/chat/completions`, ask("weather in Paris?", { tools }))).json();
    const choice = first.choices[0];
    assertEquals(choice.finish_reason, "tool_calls");
    assertEquals(choice.message.content, null);
    assertEquals(choice.message.reasoning_content, "Need the weather tool.");
    const call = choice.message.tool_calls[0];
    assertEquals(call.type, "function");
    assertEquals(call.function.name, "get_weather");
    assertEquals(JSON.parse(call.function.arguments), { city: "Paris" });
    assertMatch(call.id, /^call_/);

    const second: Json = await (await postJson(`${s.url}/v1/chat/completions`, {
      model: STUB_MODEL,
      tools,
      messages: [
        { role: "user", content: "weather in Paris?" },
        choice.message,
        { role: "tool", tool_call_id: call.id, content: '{"temp":21}' },
      ],
    })).json();
    assertEquals(second.choices[0].message.content, 'get_weather says {"temp":21}');
    assertEquals(second.choices[0].finish_reason, "stop");
    assertMatch(
      s.gen.prompts.at(-1)!,
      /to=functions\.get_weather <\|constrain\|>json<\|message\|>\{"city":"Paris"\}<\|call\|>/,
    );

    const streamed = await sseJson(
      await postJson(`${s.url}/v1/chat/completions`, ask("weather in Oslo", { tools, stream: true })),
    );
    const calls = streamed.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    assertEquals(calls.length, 1);
    assertEquals(calls[0].index, 0);
    assertEquals(calls[0].function.arguments, '{"city":"Oslo"}');
    assertEquals(streamed.at(-1)!.choices[0].finish_reason, "tool_calls");

    // tool_choice "none" hides the tools: the stub then has nothing to call.
    const none: Json = await (await postJson(
      `${s.url}/v1/chat/completions`,
      ask("weather in Rome", { tools, tool_choice: "none" }),
    )).json();
    assertEquals(none.choices[0].finish_reason, "stop");
    assertEquals(none.choices[0].message.content, "You said: weather in Rome");
  }),
);

Deno.test(
  "chat completions: system messages and multi-part content reach the prompt",
  withStubServer({}, async (s) => {
    const body: Json = await (await postJson(`${s.url}/v1/chat/completions`, {
      model: STUB_MODEL,
      messages: [
        { role: "system", content: "Answer tersely." },
        { role: "user", content: [{ type: "text", text: "What is 2" }, { type: "text", text: "+3?" }] },
      ],
    })).json();
    assertEquals(body.choices[0].message.content, "5");
    assertMatch(s.gen.prompts.at(-1)!, /Answer tersely\./);
  }),
);

Deno.test(
  "chat completions: temperature, top_p and seed reach the sampler",
  withStubServer({}, async (s) => {
    const picks = async (extra: Json) => {
      const res = await postJson(`${s.url}/v1/chat/completions`, ask("What is 9+9?", extra));
      assertEquals((await res.json()).choices[0].message.content, "18");
      return s.gen.lastSamples;
    };
    const a = await picks({ temperature: 1, seed: 5 });
    const b = await picks({ temperature: 1, seed: 5 });
    const c = await picks({ temperature: 1, seed: 6 });
    assertEquals(a, b, "same seed, same picks");
    assert(a.join() !== c.join(), "another seed, other picks");
    assert(new Set(a).size > 3, "temperature 1 on flat logits picks many ids");
    assertEquals(new Set(await picks({ temperature: 0 })).size, 1, "temperature 0 is greedy");
    const narrow = await picks({ temperature: 1, top_p: 0.01, seed: 5 });
    assert(new Set(narrow).size <= 6, "top_p 0.01 keeps few of 512 flat candidates");
  }),
);
