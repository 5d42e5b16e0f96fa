// The prompt's own log-probabilities on the server: `echo` + `logprobs` on /v1/completions (lm-eval-harness's
// loglikelihood requests: max_tokens 0 or 1, temperature 0), max_tokens 0, vLLM's `prompt_logprobs` on both
// completions APIs, streamed echo. Shapes over the stub engine (flat logits: every token -log(vocab)); values
// on a spawned `ossi serve` over the demo model (ref and wasm backends) against a plain f64 log-softmax of
// the reference backend's logits for the same tokens, through the `openai` client.

import OpenAI from "openai";
import { assert, assertEquals } from "../assert.ts";
import { argmax } from "../../src/chat/sampler.ts";
import { loadTokenizer } from "../../src/chat/tokenizer.ts";
import { createBackend } from "../../src/engine/create_backend.ts";
import { loadModel } from "../../src/model/load.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { RAW_REPLY } from "./scripted_generator.ts";
import { spawnServe } from "./spawn_serve.ts";
import { postJson, sseJson, STUB_MODEL, type StubServer, withStubServer } from "./serve_util.ts";

const tok = await loadTokenizer(DEMO_MODEL);
const PROMPT = "Once upon a time";
const PROMPT_IDS = tok.encode(PROMPT);
const FLAT = -Math.log(tok.vocabSize);

const clientOf = (url: string) =>
  new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0, timeout: 60_000 });
const stubClient = (s: StubServer) => clientOf(s.url);

type Logprobs = OpenAI.CompletionChoice.Logprobs;
/** vLLM's prompt_logprobs: null, then per token {id: {logprob, rank, decoded_token}}. */
type VllmPromptLogprobs = (Record<string, { logprob: number; rank: number; decoded_token: string }> | null)[];

/** lm-eval-harness's reading of an echoed completion: the continuation's logprob sum and greedy-ness. */
function lmEvalScore(lp: Logprobs, ctxlen: number, end: number) {
  const tokens = lp.token_logprobs!.slice(ctxlen, end) as number[];
  const tops = lp.top_logprobs!.slice(ctxlen, end) as Record<string, number>[];
  return {
    sum: tokens.reduce((a, b) => a + b, 0),
    greedy: tokens.every((t, i) => t === Math.max(...Object.values(tops[i]))),
  };
}

Deno.test(
  "completions: echo + logprobs with max_tokens 0 returns the prompt's tokens, the first null (stub engine)",
  withStubServer({}, async (s) => {
    const client = stubClient(s);
    const c = await client.completions.create({
      model: STUB_MODEL,
      prompt: PROMPT,
      echo: true,
      logprobs: 2,
      max_tokens: 0,
      temperature: 0,
    });
    const ch = c.choices[0], lp = ch.logprobs!;
    assertEquals([ch.text, ch.finish_reason, c.usage!.completion_tokens], [PROMPT, "length", 0]);
    assertEquals(lp.tokens, PROMPT_IDS.map((id) => tok.decode([id])));
    assertEquals(lp.tokens!.join(""), PROMPT);
    assertEquals(lp.token_logprobs![0], null);
    assertEquals(lp.top_logprobs![0], null);
    for (let i = 1; i < PROMPT_IDS.length; i++) {
      assert(Math.abs(lp.token_logprobs![i] - FLAT) < 1e-9, "flat logits: -log(vocab)");
      const top = lp.top_logprobs![i];
      assert(Object.keys(top).length <= 3 && top[lp.tokens![i]] === lp.token_logprobs![i]);
    }
    let offset = 0;
    lp.text_offset!.forEach((o, i) => (assertEquals(o, offset), offset += lp.tokens![i].length));
    // a cached prompt is computed again: nothing reused
    assertEquals(c.usage!.prompt_tokens_details?.cached_tokens, 0);

    // max_tokens 0 without echo: empty text, as vLLM answers
    const none = await client.completions.create({ model: STUB_MODEL, prompt: PROMPT, max_tokens: 0 });
    assertEquals([none.choices[0].text, none.choices[0].finish_reason, none.choices[0].logprobs], [
      "",
      "length",
      null,
    ]);

    // with generated tokens: the prompt's entries, then the completion's, offsets running on
    const more = await client.completions.create({
      model: STUB_MODEL,
      prompt: PROMPT,
      echo: true,
      logprobs: 1,
      max_tokens: 3,
    });
    const m = more.choices[0].logprobs!;
    const reply = tok.encode(RAW_REPLY).slice(0, 3).map((id) => tok.decode([id]));
    assertEquals(m.tokens, [...lp.tokens!, ...reply]);
    assertEquals(m.tokens!.join(""), more.choices[0].text);
    assertEquals(m.token_logprobs!.length, PROMPT_IDS.length + 3);
    assertEquals(m.text_offset![PROMPT_IDS.length], PROMPT.length);
  }),
);

Deno.test(
  "completions: a streamed echo carries the prompt's logprobs in its first chunk (stub engine)",
  withStubServer({}, async (s) => {
    const res = await postJson(`${s.url}/v1/completions`, {
      model: STUB_MODEL,
      prompt: PROMPT,
      echo: true,
      logprobs: 0,
      max_tokens: 2,
      stream: true,
    });
    const chunks = await sseJson(res);
    const first = chunks[0].choices[0];
    assertEquals(first.text, PROMPT);
    assertEquals(first.logprobs.tokens.length, PROMPT_IDS.length);
    assertEquals(first.logprobs.token_logprobs[0], null);
    assertEquals(first.logprobs.text_offset[0], 0);
    assertEquals(chunks[1].choices[0].logprobs.text_offset, [PROMPT.length]);
    const zero = await sseJson(
      await postJson(`${s.url}/v1/completions`, {
        model: STUB_MODEL,
        prompt: PROMPT,
        echo: true,
        logprobs: 0,
        max_tokens: 0,
        stream: true,
      }),
    );
    assertEquals(zero.map((c) => c.choices[0].text), [PROMPT, ""]);
    assertEquals(zero.map((c) => c.choices[0].finish_reason), [null, "length"]);
    assertEquals(zero[0].choices[0].logprobs.tokens.length, PROMPT_IDS.length);
  }),
);

Deno.test(
  "prompt_logprobs (vLLM) on both completions APIs: null, then {id: {logprob, rank, decoded_token}} (stub engine)",
  withStubServer({}, async (s) => {
    const c = await (await postJson(`${s.url}/v1/completions`, {
      model: STUB_MODEL,
      prompt: PROMPT_IDS,
      max_tokens: 1,
      prompt_logprobs: 2,
    })).json();
    const pl: VllmPromptLogprobs = c.choices[0].prompt_logprobs;
    assertEquals(pl.length, PROMPT_IDS.length);
    assertEquals(pl[0], null);
    for (let i = 1; i < pl.length; i++) {
      const own = pl[i]![PROMPT_IDS[i]];
      assertEquals(own.decoded_token, tok.decode([PROMPT_IDS[i]]));
      assert(Math.abs(own.logprob - FLAT) < 1e-9);
      // flat logits: every id ranks first; the prompt token and the 2 lowest ids
      assertEquals(own.rank, 1);
      assert(Object.keys(pl[i]!).length <= 3 && Object.keys(pl[i]!).includes("0"));
    }
    assertEquals(c.choices[0].logprobs, null, "prompt_logprobs alone adds no legacy logprobs");

    const chat = await (await postJson(`${s.url}/v1/chat/completions`, {
      model: STUB_MODEL,
      messages: [{ role: "user", content: "hi" }],
      prompt_logprobs: 0,
      return_token_ids: true,
    })).json();
    const ids: number[] = chat.prompt_token_ids;
    const cpl: VllmPromptLogprobs = chat.prompt_logprobs;
    assertEquals(cpl.length, ids.length);
    assertEquals(cpl[0], null);
    assertEquals(cpl.slice(1).map((e) => Object.keys(e!)), ids.slice(1).map((id) => [String(id)]));
    for (const stream of [true]) {
      const r = await postJson(`${s.url}/v1/chat/completions`, {
        model: STUB_MODEL,
        messages: [{ role: "user", content: "hi" }],
        prompt_logprobs: 1,
        stream,
      });
      assertEquals([r.status, (await r.json()).error.param], [400, "prompt_logprobs"]);
    }
    // the Responses API has no such field
    const r = await postJson(`${s.url}/v1/responses`, { model: STUB_MODEL, input: "hi", prompt_logprobs: 1 });
    assertEquals(r.status, 400);
    await r.body?.cancel();
  }),
);

/** The reference backend's log-softmax (f64) of every row for `ids`, and its argmax per row. */
async function referenceRows(ids: number[]) {
  const model = loadModel(DEMO_MODEL);
  const b = await createBackend(model, "ref", { maxContext: ids.length + 1 });
  try {
    const [rows] = await b.forward([{ slot: 0, tokens: ids, pos: 0, logits: "all" }]);
    const V = model.config.vocabSize;
    return ids.map((_, i) => {
      const row = rows.subarray(i * V, (i + 1) * V);
      const m = row.reduce((a, v) => Math.max(a, v), -Infinity);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      return { lp: Float64Array.from(row, (v) => v - lse), best: argmax(row) };
    });
  } finally {
    b.dispose();
  }
}

Deno.test("ossi serve (demo model: ref, wasm --exact, wasm fast): echoed prompt logprobs are the log-softmax of the model's logits; lm-eval's greedy check holds", async () => {
  const context = tok.encode("Once upon a time, 12 plus 30 was");
  const agreement: string[] = [];
  // [backend flags, tolerance per token vs the reference]: the fast path's int8 weights move logprobs
  // (on this tiny model up to a few nats in the unlikely tail; its mean is checked instead)
  const cases: [string[], number][] = [
    [["--backend", "ref"], 1e-6],
    [["--backend", "wasm", "--exact"], 1e-3],
    [
      ["--backend", "wasm"],
      Infinity,
    ],
  ];
  for (const [flags, tol] of cases) {
    const name = flags.join(" ");
    const s = await spawnServe(["--model", DEMO_MODEL, "--port", "0", ...flags]);
    try {
      const client = clientOf(s.url);
      // the server's own greedy continuation of the context; then the same context with another last token
      const g = await client.completions.create({
        model: "tiny-oss-math",
        prompt: context,
        max_tokens: 6,
        temperature: 0,
        return_token_ids: true,
      } as OpenAI.CompletionCreateParamsNonStreaming);
      const ids = [...context, ...(g.choices[0] as { token_ids?: number[] }).token_ids!];
      const wrong = [...ids.slice(0, -1), ids.at(-1) === 5 ? 6 : 5];
      const want = await referenceRows(ids);
      if (tol < 1) {
        // exact arithmetic: the server's greedy continuation is the reference's
        ids.slice(context.length).forEach((id, k) => assertEquals(id, want[context.length + k - 1].best));
      }
      // lm-eval-harness's loglikelihood request, current (max_tokens 1) and older (max_tokens 0) shapes
      for (const maxTokens of [0, 1]) {
        const c = await client.completions.create({
          model: "tiny-oss-math",
          prompt: ids,
          echo: true,
          logprobs: 5,
          max_tokens: maxTokens,
          temperature: 0,
        });
        const lp = c.choices[0].logprobs!;
        assertEquals(lp.tokens!.length, ids.length + maxTokens);
        assertEquals([lp.token_logprobs![0], lp.top_logprobs![0]], [null, null]);
        let worst = 0, sum = 0;
        for (let i = 1; i < ids.length; i++) {
          const { lp: row } = want[i - 1];
          const d = Math.abs(lp.token_logprobs![i] - row[ids[i]]);
          worst = Math.max(worst, d);
          sum += d;
          if (tol < 1) {
            // the alternatives are the true top 5 (by value: two ids can decode alike) and the token itself
            const best5 = [...row].sort((a, b) => b - a).slice(0, 5);
            const listed = Object.values(lp.top_logprobs![i]).sort((a, b) => b - a);
            for (let k = 0; k < Math.min(5, listed.length); k++) {
              assert(Math.abs(listed[k] - best5[k]) <= tol || listed[k] === lp.token_logprobs![i]);
            }
          }
        }
        const mean = sum / (ids.length - 1);
        assert(tol < 1 ? worst <= tol : mean < 0.5, `${name}: max |diff| ${worst}, mean ${mean}`);
        if (maxTokens === 0) {
          agreement.push(`${name}: max ${worst.toExponential(1)} mean ${mean.toExponential(1)}`);
        }
        // the continuation the server chose greedily reads as greedy
        const cont = lmEvalScore(lp, context.length, ids.length);
        assert(cont.greedy, `${name}: the greedy continuation reads as greedy`);
      }
      const w = await client.completions.create({
        model: "tiny-oss-math",
        prompt: wrong,
        echo: true,
        logprobs: 1,
        max_tokens: 0,
      });
      assertEquals(lmEvalScore(w.choices[0].logprobs!, context.length, wrong.length).greedy, false, name);

      // streamed: the first chunk carries the same prompt logprobs
      const stream = await client.completions.create({
        model: "tiny-oss-math",
        prompt: ids,
        echo: true,
        logprobs: 5,
        max_tokens: 0,
        stream: true,
      });
      const chunks: OpenAI.Completion[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      const once = await client.completions.create({
        model: "tiny-oss-math",
        prompt: ids,
        echo: true,
        logprobs: 5,
        max_tokens: 0,
      });
      assertEquals(chunks[0].choices[0].logprobs, once.choices[0].logprobs);
      // vLLM's prompt_logprobs: the same numbers, and ranks as the model's logits give them
      const v = await (await postJson(`${s.url}/v1/completions`, {
        model: "tiny-oss-math",
        prompt: ids,
        max_tokens: 0,
        prompt_logprobs: 3,
      })).json();
      const pl: VllmPromptLogprobs = v.choices[0].prompt_logprobs;
      for (let i = 1; i < ids.length; i++) {
        const e = pl[i]![ids[i]];
        assert(Math.abs(e.logprob - once.choices[0].logprobs!.token_logprobs![i]) < 1e-12);
        if (tol < 1e-5) {
          assertEquals(e.rank, 1 + want[i - 1].lp.filter((x) => x > want[i - 1].lp[ids[i]]).length);
        }
      }
    } finally {
      s.child.kill("SIGTERM");
      await s.reader.cancel().catch(() => {});
      await s.child.status;
      await s.child.stdout.cancel().catch(() => {});
    }
  }
  console.log(`served prompt logprobs vs the reference: ${agreement.join("; ")}`);
});
