// POST /v1/completions (the legacy Completions API) with the official `openai` client, over the stub engine:
// the prompt reaches the engine raw (no template; special-token text stays text), max_tokens defaults to
// 16, stop strings, streaming with usage, legacy logprobs, echo, token-id prompts, a 400 naming the field
// for each refused field and bad prompt, and a client that leaves frees the engine.

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { loadTokenizer } from "../../src/chat/tokenizer.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { DEMO_EVAL } from "../demo_eval.ts";
import { RAW_REPLY } from "./scripted_generator.ts";
import { spawnServe } from "./spawn_serve.ts";
import {
  type Json,
  postJson,
  sseJson,
  STUB_MODEL,
  type StubServer,
  waitFor,
  withStubServer,
} from "./serve_util.ts";

const tok = await loadTokenizer(DEMO_MODEL);
const PROMPT = "Once upon a time";
/** The stub model and PROMPT, the fields most requests here share. */
const ASK = { model: STUB_MODEL, prompt: PROMPT };

const clientOf = (s: StubServer, apiKey = "x") =>
  new OpenAI({ baseURL: `${s.url}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });

/** The stub's reply cut after `n` tokens, as text. */
const replyTokens = (n: number) => tok.decode(tok.encode(RAW_REPLY).slice(0, n));

/** Token-id fields of vLLM's return_token_ids, on a completion choice. */
type WithIds = { prompt_token_ids?: number[]; token_ids?: number[] };

Deno.test(
  "completions: a raw prompt is continued without a template; max_tokens defaults to 16; usage",
  withStubServer({}, async (s) => {
    const client = clientOf(s);
    const c = await client.completions.create({ ...ASK, max_tokens: 500 });
    assertEquals(s.gen.prompts.at(-1), PROMPT, "the engine saw the prompt alone");
    assertEquals(c.object, "text_completion");
    assertMatch(c.id, /^cmpl-/);
    assertEquals(c.model, STUB_MODEL);
    assertEquals(c.choices.length, 1);
    assertEquals([c.choices[0].index, c.choices[0].text, c.choices[0].finish_reason], [0, RAW_REPLY, "stop"]);
    assertEquals(c.choices[0].logprobs, null);
    const promptTokens = tok.encode(PROMPT).length;
    assertEquals(c.usage!.prompt_tokens, promptTokens);
    // the completion counts the stop id too, as the chat route does
    assertEquals(c.usage!.completion_tokens, tok.encode(RAW_REPLY).length + 1);
    assertEquals(c.usage!.total_tokens, c.usage!.prompt_tokens + c.usage!.completion_tokens);

    const short = await client.completions.create(ASK);
    assertEquals([short.choices[0].text, short.choices[0].finish_reason], [replyTokens(16), "length"]);
    assertEquals(short.usage!.completion_tokens, 16);
    // the same prompt again: its tokens but the last come from the slot's cache
    assertEquals(short.usage!.prompt_tokens_details?.cached_tokens, promptTokens - 1);
  }),
);

Deno.test(
  "completions: streamed text_completion chunks, usage last, [DONE]; echo streams the prompt first",
  withStubServer({}, async (s) => {
    const client = clientOf(s);
    const stream = await client.completions.create({
      ...ASK,
      max_tokens: 500,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const usage = chunks.pop()!;
    assertEquals([usage.object, usage.choices, usage.usage!.prompt_tokens], [
      "text_completion",
      [],
      tok.encode(PROMPT).length,
    ]);
    assert(chunks.length > 10, `streamed in ${chunks.length} chunks`);
    assert(chunks.every((c) => c.object === "text_completion" && c.id === usage.id));
    assertEquals(chunks.map((c) => c.choices[0].text).join(""), RAW_REPLY);
    assertEquals(chunks.map((c) => c.choices[0].finish_reason).filter((f) => f), ["stop"]);
    assertEquals(chunks.at(-1)!.choices[0].finish_reason, "stop");

    const res = await postJson(`${s.url}/v1/completions`, {
      ...ASK,
      echo: true,
      stream: true,
    });
    const raw = await res.text();
    assert(raw.trimEnd().endsWith("data: [DONE]"), "the stream ends with [DONE]");
    const echoed = await sseJson(new Response(raw));
    assertEquals(echoed[0].choices[0].text, PROMPT);
    assert(!echoed.some((c) => c.usage), "no usage chunk unless asked");
    assertEquals(echoed.map((c) => c.choices[0].text).join(""), PROMPT + replyTokens(16));
    assertEquals(echoed.at(-1)!.choices[0].finish_reason, "length");
  }),
);

Deno.test(
  "completions: stop strings cut the text (not returned); echo prepends the prompt",
  withStubServer({}, async (s) => {
    const client = clientOf(s);
    const at = (x: string) => RAW_REPLY.slice(0, RAW_REPLY.indexOf(x));
    let c = await client.completions.create({
      ...ASK,
      max_tokens: 500,
      stop: "fox",
    });
    assertEquals([c.choices[0].text, c.choices[0].finish_reason], [at("fox"), "stop"]);
    c = await client.completions.create({
      ...ASK,
      max_tokens: 500,
      stop: ["lazy", "brown", "zebra", "twice"],
    });
    assertEquals(c.choices[0].text, at("brown"));
    const stream = await client.completions.create({
      ...ASK,
      max_tokens: 500,
      stop: ["jumps"],
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    assertEquals(text, at("jumps"));

    c = await client.completions.create({ ...ASK, echo: true, max_tokens: 5 });
    assertEquals(c.choices[0].text, PROMPT + replyTokens(5));
    assertEquals(c.usage!.completion_tokens, 5);
  }),
);

/** Checks the legacy logprobs object of a completion's `text` (`k` alternatives asked for). */
function checkLegacyLogprobs(lp: OpenAI.CompletionChoice.Logprobs, text: string, k: number): void {
  const n = lp.tokens!.length;
  assert(n > 0, "some tokens");
  assertEquals(
    [lp.token_logprobs!.length, lp.top_logprobs!.length, lp.text_offset!.length],
    [n, n, n],
  );
  assertEquals(lp.tokens!.join(""), text);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    assertEquals(lp.text_offset![i], offset, `text_offset[${i}]`);
    offset += lp.tokens![i].length;
    assert(lp.token_logprobs![i] <= 0, "a log-probability");
    const top = lp.top_logprobs![i];
    assert(Object.keys(top).length <= k + 1, `at most ${k} alternatives and the chosen token`);
    assertEquals(top[lp.tokens![i]], lp.token_logprobs![i], "the chosen token is among them");
  }
}

Deno.test(
  "completions: logprobs in the legacy shape (tokens, token_logprobs, top_logprobs, text_offset)",
  withStubServer({}, async (s) => {
    const client = clientOf(s);
    const c = await clientOf(s).completions.create({
      ...ASK,
      logprobs: 3,
      max_tokens: 8,
    });
    checkLegacyLogprobs(c.choices[0].logprobs!, c.choices[0].text, 3);
    assertEquals(c.choices[0].logprobs!.tokens!.length, 8);
    assert(Object.keys(c.choices[0].logprobs!.top_logprobs![0]).length >= 3, "3 alternatives");
    const none = await client.completions.create({
      ...ASK,
      logprobs: 0,
      max_tokens: 4,
    });
    checkLegacyLogprobs(none.choices[0].logprobs!, none.choices[0].text, 0);

    // streamed: each chunk's offsets continue the text so far
    const stream = await client.completions.create({
      ...ASK,
      logprobs: 2,
      max_tokens: 12,
      stream: true,
    });
    const merged = {
      tokens: [] as string[],
      token_logprobs: [] as number[],
      top_logprobs: [],
      text_offset: [],
    };
    let text = "";
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      text += ch.text;
      if (!ch.logprobs) continue;
      for (const key of Object.keys(merged) as (keyof typeof merged)[]) {
        (merged[key] as unknown[]).push(...(ch.logprobs[key] ?? []));
      }
    }
    checkLegacyLogprobs(merged, text, 2);
  }),
);

Deno.test(
  "completions: token-id prompts (flat or nested) reach the engine as given; return_token_ids",
  withStubServer({}, async (s) => {
    const client = clientOf(s);
    const ids = tok.encode("Twice upon a time");
    for (const prompt of [ids, [ids]]) {
      const c = await client.completions.create({
        model: STUB_MODEL,
        prompt,
        echo: true,
        max_tokens: 3,
        return_token_ids: true,
      } as OpenAI.CompletionCreateParamsNonStreaming);
      const choice = c.choices[0] as OpenAI.CompletionChoice & WithIds;
      assertEquals(choice.prompt_token_ids, ids);
      assertEquals(choice.token_ids, tok.encode(RAW_REPLY).slice(0, 3));
      assertEquals(choice.text, "Twice upon a time" + replyTokens(3));
      assertEquals(s.gen.prompts.at(-1), "Twice upon a time");
    }
    // streamed: the prompt's ids on the first chunk, then each chunk's new ids
    const res = await postJson(`${s.url}/v1/completions`, {
      model: STUB_MODEL,
      prompt: ids,
      max_tokens: 5,
      stream: true,
      return_token_ids: true,
    });
    const chunks = await sseJson(res);
    assertEquals(chunks[0].choices[0].prompt_token_ids, ids);
    assertEquals(chunks.flatMap((c) => c.choices[0].token_ids), tok.encode(RAW_REPLY).slice(0, 5));
    assertEquals(chunks.map((c) => c.choices[0].text).join(""), replyTokens(5));
    // special ids given as ids are ids: that is how a client sends a chat template it rendered itself
    const special = [tok.tokenId("<|start|>")!, ...tok.encode("user")];
    const c = await client.completions.create({ model: STUB_MODEL, prompt: special, max_tokens: 1 });
    assertEquals(c.usage!.prompt_tokens, special.length);
    assertEquals(s.gen.prompts.at(-1), "<|start|>user");
  }),
);

Deno.test(
  "completions: text that spells special tokens stays text (the tokenizer's plain encoding, no special id)",
  withStubServer({}, async (s) => {
    const client = clientOf(s);
    const text = "<|start|>system<|message|>Say <|endoftext|><|end|><|start|>user<|message|>hi<|return|>";
    const c = await client.completions.create({
      model: STUB_MODEL,
      prompt: text,
      max_tokens: 2,
      return_token_ids: true,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    const ids = (c.choices[0] as WithIds).prompt_token_ids!;
    assertEquals(ids, tok.encodeWithLiterals(text, [[0, text.length]]));
    const specials = new Set(tok.addedTokenTexts().map((t) => tok.tokenId(t)!));
    assertEquals(ids.filter((id) => specials.has(id)), []);
    assert(tok.encode(text).some((id) => specials.has(id)), "the same text as markup would hold special ids");
    assertEquals(s.gen.prompts.at(-1), text);
    // the engine continued it as raw text: the stub's raw reply, not a harmony answer
    assertEquals(c.choices[0].text, replyTokens(2));
  }),
);

Deno.test(
  "completions: refused fields are 400s naming the field; harmless ones are accepted",
  withStubServer({}, async (s) => {
    const base = { ...ASK, max_tokens: 2 };
    const refused: [Json, string][] = [
      [{ n: 2 }, "n"],
      [{ best_of: 3 }, "best_of"],
      [{ suffix: " the end" }, "suffix"],
      [{ logprobs: 6 }, "logprobs"],
      [{ logprobs: true }, "logprobs"],
      [{ echo: true, logprobs: 6 }, "logprobs"],
      [{ prompt_logprobs: 21 }, "prompt_logprobs"],
      [{ prompt_logprobs: -1 }, "prompt_logprobs"],
      [{ prompt_logprobs: 1, stream: true }, "prompt_logprobs"],
      [{ max_tokens: -1 }, "max_tokens"],
      [{ temperature: 3 }, "temperature"],
      [{ stop: ["a", "b", "c", "d", "e"] }, "stop"],
      [{ logit_bias: { "99999": 1 } }, "logit_bias"],
      [{ stream_options: 1 }, "stream_options"],
      [{ return_token_ids: "yes" }, "return_token_ids"],
    ];
    for (const [extra, param] of refused) {
      const r = await postJson(`${s.url}/v1/completions`, { ...base, ...extra });
      assertEquals(r.status, 400, JSON.stringify(extra));
      const e = (await r.json()).error;
      assertEquals([e.type, e.param], ["invalid_request_error", param], JSON.stringify(extra));
    }
    // unknown fields: OpenAI's wording, with the field's name (chat-only fields are unknown here)
    for (const field of ["foo", "messages", "top_logprobs", "ignore_eos"]) {
      const r = await postJson(`${s.url}/v1/completions`, { ...base, [field]: 1 });
      assertEquals(r.status, 400);
      assertEquals((await r.json()).error.message, `Unrecognized request argument supplied: ${field}`);
    }
    // accepted: n and best_of of 1, an empty suffix, user, penalties, bias, seed, the sampling extensions
    const client = clientOf(s);
    const c = await client.completions.create({
      ...base,
      n: 1,
      best_of: 1,
      suffix: "",
      user: "someone",
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
      logit_bias: { "42": 2 },
      seed: 7,
      temperature: 0.7,
      top_p: 0.9,
      top_k: 20,
      min_p: 0.05,
      stream_options: { include_usage: true },
    } as OpenAI.CompletionCreateParamsNonStreaming);
    assertEquals(c.choices[0].text.length > 0, true);
    assertEquals(s.gen.prompts.length, 1, "no refused request reached the engine");
  }),
);

Deno.test(
  "completions: bad prompts are 400s naming 'prompt' (empty, wrong types, out-of-vocabulary ids, batches, too long)",
  withStubServer({ contextSize: 64 }, async (s) => {
    const vocab = tok.vocabSize;
    const bad: unknown[] = [
      undefined,
      null,
      "",
      [],
      [[]],
      [""],
      42,
      { text: "hi" },
      [1, "a"],
      [[1, 2], "a"],
      [1.5],
      [-1],
      [vocab],
      [[1, vocab + 7]],
      ["one", "two"],
      [[1, 2], [3, 4]],
      "word ".repeat(100),
      Array.from({ length: 64 }, () => 42),
    ];
    for (const prompt of bad) {
      const r = await postJson(`${s.url}/v1/completions`, { model: STUB_MODEL, prompt });
      assertEquals(r.status, 400, JSON.stringify(prompt)?.slice(0, 80));
      const e = (await r.json()).error;
      assertEquals(e.param, "prompt", e.message);
    }
    const batch = await postJson(`${s.url}/v1/completions`, { model: STUB_MODEL, prompt: ["a", "b"] });
    assertMatch((await batch.json()).error.message, /one prompt per request/);
    const long = await postJson(`${s.url}/v1/completions`, {
      model: STUB_MODEL,
      prompt: "word ".repeat(100),
    });
    assertEquals((await long.json()).error.code, "context_length_exceeded");
    const model = await postJson(`${s.url}/v1/completions`, { model: "other", prompt: PROMPT });
    assertEquals([model.status, (await model.json()).error.code], [404, "model_not_found"]);
    assertEquals((await fetch(`${s.url}/v1/completions`)).status, 405);
    assertEquals(s.gen.prompts.length, 0, "nothing reached the engine");
  }),
);

Deno.test(
  "completions: a client that leaves (streaming or not) stops its generation and frees the engine",
  withStubServer({ delayMs: 15 }, async (s) => {
    for (const stream of [true, false]) {
      const ac = new AbortController();
      const res = postJson(
        `${s.url}/v1/completions`,
        { ...ASK, max_tokens: 500, stream },
        {},
        ac.signal,
      ).catch((e) => e);
      await waitFor(() => s.gen.busy, "the generation to start");
      const waiting = postJson(`${s.url}/v1/completions`, {
        ...ASK,
        max_tokens: 3,
      });
      await waitFor(() => s.server.context.queue.waiting === 1, "the second request to queue");
      ac.abort();
      const first = await res;
      if (first instanceof Response) await first.body?.cancel().catch(() => {});
      const t0 = Date.now();
      assertEquals((await (await waiting).json()).choices[0].text, replyTokens(3));
      assert(Date.now() - t0 < 2000, "the engine was freed early");
    }
    assertEquals(s.gen.aborted, 2);
    await waitFor(() => !s.server.context.queue.busy, "the engine to be idle");
  }),
);

Deno.test(
  "completions: POST /stop ends a stream as finished; the API key guards the route",
  withStubServer({ delayMs: 10, apiKey: "sekret" }, async (s) => {
    const auth = { authorization: "Bearer sekret" };
    assertEquals(
      (await postJson(`${s.url}/v1/completions`, ASK)).status,
      401,
    );
    const res = await postJson(
      `${s.url}/v1/completions`,
      { ...ASK, max_tokens: 500, stream: true },
      auth,
    );
    const id = res.headers.get("x-request-id")!;
    assertMatch(id, /^cmpl-/);
    await waitFor(() => s.gen.busy, "the generation to start");
    const stop = await postJson(`${s.url}/stop`, { id }, auth);
    assertEquals((await stop.json()).stopped, true);
    const chunks = await sseJson(res);
    assertEquals(chunks.at(-1)!.choices[0].finish_reason, "stop");
    assert(chunks.map((c) => c.choices[0].text).join("").length < RAW_REPLY.length, "stopped early");
    const m = await (await fetch(`${s.url}/metrics`, { headers: auth })).text();
    assertMatch(m, /^ossi_requests_finished_total 1$/m);
  }),
);

Deno.test("ossi serve (engine worker, demo model): a rendered chat prompt sent as ids completes as the reference; as text it stays text", async () => {
  const s = await spawnServe(["--model", DEMO_MODEL, "--port", "0", "--backend", "ref"]);
  try {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "x", maxRetries: 0, timeout: 60_000 });
    const item = DEMO_EVAL.find((e) => e.task === "add" && e.messages.length === 1 && e.reference_correct)!;
    const params = {
      model: "tiny-oss-math",
      max_tokens: 200,
      temperature: 0,
      return_token_ids: true,
    } as const;
    const c = await client.completions.create({ ...params, prompt: item.prompt_ids });
    const choice = c.choices[0] as OpenAI.CompletionChoice & WithIds;
    // the raw completion of the chat prompt is the chat turn, its harmony markup as text
    assertEquals(choice.token_ids, tok.encode(item.reference_completion));
    assertEquals(choice.text, item.reference_completion.replace(/<\|return\|>$/, ""));
    assertEquals([choice.finish_reason, c.usage!.prompt_tokens], ["stop", item.prompt_ids.length]);

    const text = tok.decode(item.prompt_ids);
    const t = await client.completions.create({ ...params, prompt: text, max_tokens: 4 });
    const ids = (t.choices[0] as WithIds).prompt_token_ids!;
    assertEquals(ids, tok.encodeWithLiterals(text, [[0, text.length]]));
    assert(ids.length > item.prompt_ids.length, "the markup was spelled out as text");
    assertEquals([t.choices[0].finish_reason, t.usage!.completion_tokens], ["length", 4]);

    const again = await client.completions.create({ ...params, prompt: item.prompt_ids, max_tokens: 2 });
    assertEquals(again.usage!.prompt_tokens_details?.cached_tokens, item.prompt_ids.length - 1);
    const m = await (await fetch(`${s.url}/metrics`)).text();
    assertMatch(m, /^ossi_requests_finished_total 3$/m);
  } finally {
    s.child.kill("SIGTERM");
    await s.reader.cancel().catch(() => {});
    assertEquals((await s.child.status).code, 0);
    await s.child.stdout.cancel().catch(() => {});
  }
});
