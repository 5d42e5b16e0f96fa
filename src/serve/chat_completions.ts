// POST /v1/chat/completions: one JSON completion, or SSE chunks ending in `data: [DONE]`. The analysis
// channel goes to `reasoning_content` (never into `content`); tool calls finish with "tool_calls".

import type { ChatUsage } from "../chat/chat_engine.ts";
import type { PromptLogprob, TokenLogprob } from "../chat/harmony_parser.ts";
import type { ToolCall } from "../chat/messages.ts";
import { type ChatCompletionSpec, parseChatCompletionRequest } from "./chat_completions_request.ts";
import { wirePromptLogprobs } from "./prompt_logprobs.ts";
import type { FinishReason } from "./run_turn.ts";
import type { AdmittedTurn, PreparedTurn, ServeContext } from "./serve_context.ts";
import { completionHead, runToEnd, serveTurn, streamTurn } from "./turn_response.ts";

export function newId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

export function handleChatCompletions(
  ctx: ServeContext,
  body: unknown,
  signal: AbortSignal,
): Promise<Response> {
  const spec = parseChatCompletionRequest(body, ctx.opts.sampler, ctx.engine.info.vocabSize);
  return serveTurn(ctx, spec, newId("chatcmpl-"), body, signal, {
    once: (turn) => completeOnce(ctx, spec, turn),
    stream: (turn) => streamCompletion(ctx, spec, turn),
  });
}

interface Collected {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
  logprobs: TokenLogprob[];
  prompt: PromptLogprob[];
}

async function completeOnce(
  ctx: ServeContext,
  spec: ChatCompletionSpec,
  turn: AdmittedTurn,
): Promise<Response> {
  const { prepared, ids, req: { id } } = turn;
  const out: Collected = { content: "", reasoning: "", toolCalls: [], logprobs: [], prompt: [] };
  const result = await runToEnd(ctx, spec, turn, (ev) => {
    if (ev.type === "content") {
      out.content += ev.text;
      if (ev.logprobs) out.logprobs.push(...ev.logprobs);
    } else if (ev.type === "reasoning") out.reasoning += ev.text;
    else if (ev.type === "prompt_logprobs") out.prompt = ev.logprobs;
    else out.toolCalls.push(ev.call);
  });
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
    ...completionHead(id, "chat.completion", spec.model),
    choices: [{
      index: 0,
      message,
      logprobs: spec.logprobs === undefined
        ? null
        : { content: out.logprobs.map(wireLogprob), refusal: null },
      finish_reason: wireFinish(result.finishReason, out.toolCalls),
      ...ids.allField(),
    }],
    usage: turnUsage(prepared, result.usage),
    ...ids.promptField(),
    // vLLM's extension, on the response as vLLM puts it
    ...(spec.wirePromptLogprobs === undefined
      ? {}
      : { prompt_logprobs: wirePromptLogprobs(out.prompt, spec.wirePromptLogprobs) }),
  }, { headers: { "x-request-id": id } });
}

function streamCompletion(ctx: ServeContext, spec: ChatCompletionSpec, turn: AdmittedTurn): Response {
  const { prepared, ids, req: { id } } = turn;
  const head = completionHead(id, "chat.completion.chunk", spec.model);
  // With return_token_ids, each chunk carries the ids generated since the one before (as vLLM's do).
  const chunk = (delta: Record<string, unknown>, finish: string | null = null, logprobs: unknown = null) => ({
    ...head,
    choices: [{ index: 0, delta, logprobs, finish_reason: finish, ...ids.nextField() }],
  });
  const toolCalls: ToolCall[] = [];
  return streamTurn(ctx, spec, turn, (sink) => ({
    start: () =>
      sink.send({ ...chunk({ role: "assistant", content: "", refusal: null }), ...ids.promptField() }),
    event: (ev) => {
      if (ev.type === "content") {
        const lp = spec.logprobs === undefined
          ? null
          : { content: (ev.logprobs ?? []).map(wireLogprob), refusal: null };
        sink.send(chunk({ content: ev.text }, null, lp));
      } else if (ev.type === "reasoning") {
        sink.send(chunk({ reasoning_content: ev.text, reasoning: ev.text }));
      } else if (ev.type === "tool_call") {
        sink.send(chunk({ tool_calls: [{ index: toolCalls.length, ...wireToolCall(ev.call) }] }));
        toolCalls.push(ev.call);
      }
    },
    end: (result) => {
      sink.send(chunk({}, wireFinish(result.finishReason, toolCalls)));
      if (spec.includeUsage) {
        sink.send({ ...head, choices: [], usage: turnUsage(prepared, result.usage) });
      }
    },
  }));
}

export function wireToolCall(c: ToolCall) {
  return { id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } };
}

function wireFinish(reason: FinishReason, calls: ToolCall[]): string {
  if (calls.length > 0 && reason !== "length") return "tool_calls";
  return reason === "aborted" ? "stop" : reason;
}

/** OpenAI's usage object; reasoning_tokens counts the generated reasoning-text tokens (within completion). */
export function turnUsage(prepared: PreparedTurn, usage: ChatUsage | null) {
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
