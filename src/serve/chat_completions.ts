// POST /v1/chat/completions: one JSON completion, or SSE chunks ending in `data: [DONE]`. The analysis
// channel goes to `reasoning_content` (never into `content`); tool calls finish with "tool_calls".

import type { ChatUsage } from "../chat/chat_engine.ts";
import type { TokenLogprob } from "../chat/harmony_parser.ts";
import type { ToolCall } from "../chat/messages.ts";
import { errorBody, toApiError } from "./api_error.ts";
import { type ChatCompletionSpec, parseChatCompletionRequest } from "./chat_completions_request.ts";
import { type FinishReason, runTurn, type TurnResult } from "./run_turn.ts";
import { awaitSlot, engineError, type PreparedTurn, type ServeContext } from "./serve_context.ts";
import { sseResponse } from "./sse.ts";
import { TokenIds, wantsTokenIds } from "./token_ids.ts";

export function newId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

export async function handleChatCompletions(
  ctx: ServeContext,
  body: unknown,
  signal: AbortSignal,
): Promise<Response> {
  const spec = parseChatCompletionRequest(body, ctx.opts.sampler, ctx.engine.tokenizer.vocabSize);
  const wantIds = wantsTokenIds(body);
  const abort = new AbortController();
  const prepared = await ctx.prepare(spec, abort.signal);
  const ids = new TokenIds(wantIds, prepared.request.encoded!.ids);
  prepared.request.onToken = ids.onToken;
  const slot = ctx.queue.acquire(abort.signal); // throws 429 at once when the queue is full
  // From here on the request holds a place in the queue: a client that leaves must give it back.
  const onGone = () => abort.abort();
  signal.addEventListener("abort", onGone, { once: true });
  if (signal.aborted) abort.abort();
  const done = () => signal.removeEventListener("abort", onGone);
  if (spec.stream) return streamCompletion(ctx, spec, prepared, ids, slot, abort, done);
  return await completeOnce(ctx, spec, prepared, ids, awaitSlot(slot, abort.signal)).finally(done);
}

interface Collected {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
  logprobs: TokenLogprob[];
  result: TurnResult;
}

async function completeOnce(
  ctx: ServeContext,
  spec: ChatCompletionSpec,
  prepared: PreparedTurn,
  ids: TokenIds,
  slot: Promise<() => void>,
): Promise<Response> {
  const release = await slot;
  let out: Collected;
  try {
    out = await collect(ctx, prepared, spec.stops);
  } catch (e) {
    throw engineError(e);
  } finally {
    release();
  }
  const message: Record<string, unknown> = {
    role: "assistant",
    content: out.content || (out.toolCalls.length ? null : ""),
    refusal: null,
    annotations: [],
  };
  // vLLM and DeepSeek clients read reasoning_content; Ollama, OpenRouter and current vLLM read reasoning.
  if (out.reasoning) message.reasoning_content = message.reasoning = out.reasoning;
  if (out.toolCalls.length) message.tool_calls = out.toolCalls.map((c) => wireToolCall(c));
  return Response.json({
    id: newId("chatcmpl-"),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: spec.model,
    choices: [{
      index: 0,
      message,
      logprobs: spec.logprobs === undefined
        ? null
        : { content: out.logprobs.map(wireLogprob), refusal: null },
      finish_reason: wireFinish(out.result.finishReason, out.toolCalls),
      ...ids.allField(),
    }],
    usage: chatUsage(prepared, out.result.usage),
    ...ids.promptField(),
  });
}

async function collect(ctx: ServeContext, prepared: PreparedTurn, stops: string[]): Promise<Collected> {
  const out: Collected = {
    content: "",
    reasoning: "",
    toolCalls: [],
    logprobs: [],
    result: { finishReason: "stop", usage: null },
  };
  const turn = runTurn(ctx.engine, prepared.request, stops);
  while (true) {
    const r = await turn.next();
    if (r.done) {
      out.result = r.value;
      return out;
    }
    const ev = r.value;
    if (ev.type === "content") {
      out.content += ev.text;
      if (ev.logprobs) out.logprobs.push(...ev.logprobs);
    } else if (ev.type === "reasoning") out.reasoning += ev.text;
    else out.toolCalls.push(ev.call);
  }
}

function streamCompletion(
  ctx: ServeContext,
  spec: ChatCompletionSpec,
  prepared: PreparedTurn,
  ids: TokenIds,
  slot: Promise<() => void>,
  abort: AbortController,
  done: () => void,
): Response {
  const id = newId("chatcmpl-");
  const created = Math.floor(Date.now() / 1000);
  // With return_token_ids, each chunk carries the ids generated since the one before (as vLLM's do).
  const chunk = (delta: Record<string, unknown>, finish: string | null = null, logprobs: unknown = null) => ({
    id,
    object: "chat.completion.chunk",
    created,
    model: spec.model,
    choices: [{ index: 0, delta, logprobs, finish_reason: finish, ...ids.nextField() }],
  });
  slot.catch(() => {}); // a request aborted while queued rejects its slot; the producer sees that below.
  return sseResponse(
    async (sink) => {
      let release: (() => void) | undefined;
      try {
        release = await slot;
        sink.send({ ...chunk({ role: "assistant", content: "", refusal: null }), ...ids.promptField() });
        const toolCalls: ToolCall[] = [];
        const turn = runTurn(ctx.engine, prepared.request, spec.stops);
        let result: TurnResult;
        while (true) {
          const r = await turn.next();
          if (r.done) {
            result = r.value;
            break;
          }
          const ev = r.value;
          if (ev.type === "content") {
            const lp = spec.logprobs === undefined
              ? null
              : { content: (ev.logprobs ?? []).map(wireLogprob), refusal: null };
            sink.send(chunk({ content: ev.text }, null, lp));
          } else if (ev.type === "reasoning") {
            sink.send(chunk({ reasoning_content: ev.text, reasoning: ev.text }));
          } else {
            sink.send(chunk({ tool_calls: [{ index: toolCalls.length, ...wireToolCall(ev.call) }] }));
            toolCalls.push(ev.call);
          }
        }
        if (result.finishReason === "aborted") return; // the client is gone
        sink.send(chunk({}, wireFinish(result.finishReason, toolCalls)));
        if (spec.includeUsage) {
          sink.send({
            id,
            object: "chat.completion.chunk",
            created,
            model: spec.model,
            choices: [],
            usage: chatUsage(prepared, result.usage),
          });
        }
        sink.sendRaw("[DONE]");
      } finally {
        release?.();
        done();
      }
    },
    abort,
    (e, sink) => {
      if (abort.signal.aborted) return;
      const err = toApiError(engineError(e));
      ctx.logError(err.status >= 500 ? e : err);
      sink.send(errorBody(err));
      sink.sendRaw("[DONE]");
    },
  );
}

export function wireToolCall(c: ToolCall) {
  return { id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } };
}

function wireFinish(reason: FinishReason, calls: ToolCall[]): string {
  if (calls.length > 0 && reason !== "length") return "tool_calls";
  return reason === "aborted" ? "stop" : reason;
}

/** OpenAI's usage object; reasoning_tokens counts the generated reasoning-text tokens (within completion). */
function chatUsage(prepared: PreparedTurn, usage: ChatUsage | null) {
  const prompt = usage?.promptTokens ?? prepared.promptTokens;
  const completion = usage?.completionTokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: usage?.cachedTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage?.reasoningTokens ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** One token's log-probability as OpenAI writes it (both APIs use this shape). */
export function wireLogprob(t: TokenLogprob) {
  return {
    token: t.token,
    logprob: t.logprob,
    bytes: t.bytes,
    top_logprobs: t.top.map((x) => ({ token: x.token, logprob: x.logprob, bytes: x.bytes })),
  };
}
