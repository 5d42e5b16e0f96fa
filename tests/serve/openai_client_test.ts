// End to end: the official `openai` npm client against `ossi serve` on the demo model (ref backend).
// Answers are checked against the demo model's eval.jsonl (expected answers, reference completions).

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { MODEL, withDemoServer } from "./demo_server.ts";
import { DEMO_EVAL } from "../demo_eval.ts";

Deno.test("openai client: models list, chat answer, reasoning apart, usage matching the reference", async () => {
  await withDemoServer(async (client) => {
    const models = await client.models.list();
    assertEquals(models.data.map((m) => m.id), [MODEL]);

    const c = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "What is 23+45?" }],
    });
    assertEquals(c.choices[0].message.content, String(23 + 45));
    assertEquals(c.choices[0].finish_reason, "stop");
    const reasoning = (c.choices[0].message as unknown as { reasoning_content?: string }).reasoning_content ??
      "";
    assertMatch(reasoning, /So 68\./);

    // Usage against an eval item: the prompt is the reference prompt, the completion the reference one.
    const item = DEMO_EVAL.find((e) => e.task === "add" && e.messages.length === 1 && e.reference_correct)!;
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: item.messages as OpenAI.ChatCompletionMessageParam[],
      reasoning_effort: item.reasoning_effort as "low",
    });
    assertEquals(r.choices[0].message.content, item.expected);
    assertEquals(r.usage!.prompt_tokens, item.prompt_ids.length);
    const { loadTokenizer } = await import("../../src/chat/tokenizer.ts");
    const tok = await loadTokenizer(DEMO_MODEL);
    assertEquals(r.usage!.completion_tokens, tok.encode(item.reference_completion).length);
    assertEquals(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
  });
});

Deno.test("openai client: streamed answer with usage, 4 concurrent requests, malformed JSON is 400", async () => {
  await withDemoServer(async (client, _server, url) => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "What is 23+45?" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let reasoning = "";
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      content += delta?.content ?? "";
      reasoning += delta?.reasoning_content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    assertEquals(content, "68");
    assertMatch(reasoning, /So 68\./);
    assert(chunks > 10, `streamed in ${chunks} chunks`);
    assert(usage !== undefined && usage.completion_tokens > 5 && usage.prompt_tokens > 20, "usage chunk");

    const items = DEMO_EVAL.filter((e) =>
      e.messages.length === 1 && e.reasoning_effort === "low" && e.reference_correct
    )
      .filter((_, i) => i % 7 === 0).slice(0, 4);
    assertEquals(items.length, 4);
    const answers = await Promise.all(
      items.map((e) =>
        client.chat.completions.create({
          model: MODEL,
          messages: e.messages as OpenAI.ChatCompletionMessageParam[],
        })
          .then((r) => r.choices[0].message.content)
      ),
    );
    assertEquals(answers, items.map((e) => e.expected));

    const bad = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"model": "tiny-oss-math", "messages": [',
    });
    assertEquals(bad.status, 400);
    const body = await bad.json();
    assertEquals(body.error.type, "invalid_request_error");
    assert(typeof body.error.message === "string", "error.message");

    let err: unknown;
    try {
      await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    } catch (e) {
      err = e;
    }
    assert(err instanceof OpenAI.NotFoundError, `404 as NotFoundError, got ${err}`);
    assertEquals((err as InstanceType<typeof OpenAI.NotFoundError>).code, "model_not_found");
  });
});

Deno.test("openai client: the Responses API answers, plain and streamed", async () => {
  await withDemoServer(async (client) => {
    const r = await client.responses.create({
      model: MODEL,
      input: "What is 23+45?",
      reasoning: { effort: "low" },
    });
    assertEquals(r.status, "completed");
    assertEquals(r.output_text, "68");
    assert(r.output.some((i) => i.type === "reasoning"), "a reasoning item");
    assert(r.usage!.output_tokens > 5, "usage");

    const stream = await client.responses.create({ model: MODEL, input: "What is 12+30?", stream: true });
    let text = "";
    let completed: OpenAI.Responses.Response | undefined;
    for await (const ev of stream) {
      if (ev.type === "response.output_text.delta") text += ev.delta;
      if (ev.type === "response.completed") completed = ev.response;
    }
    assertEquals(text, "42");
    assertEquals(completed?.status, "completed");
    assertEquals(completed?.output_text, "42");
  });
});
