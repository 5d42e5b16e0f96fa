// POST /v1/completions: OpenAI's legacy Completions API. The prompt is continued as raw text (no chat
// template, no markup) up to max_tokens (16 by default), a stop string or one of the model's stop ids;
// one `text_completion` object, or SSE chunks of it ending in `data: [DONE]`. With `echo` and `logprobs`
// (and vLLM's `prompt_logprobs`) the prompt's own log-probabilities come first (prompt_logprobs.ts).

import type { PromptLogprob, TokenLogprob } from "../chat/harmony_parser.ts";
import { newId, turnUsage } from "./chat_completions.ts";
import { type CompletionSpec, parseCompletionRequest } from "./completions_request.ts";
import {
  concatLogprobs,
  type LegacyLogprobs,
  LogprobsWriter,
  wirePromptLogprobs,
} from "./prompt_logprobs.ts";
import type { TurnResult } from "./run_turn.ts";
import type { AdmittedTurn, ServeContext } from "./serve_context.ts";
import { completionHead, runToEnd, serveTurn, streamTurn } from "./turn_response.ts";

export function handleCompletions(ctx: ServeContext, body: unknown, signal: AbortSignal): Promise<Response> {
  const spec = parseCompletionRequest(body, ctx.opts.sampler, ctx.engine.info.vocabSize);
  return serveTurn(ctx, spec, newId("cmpl-"), body, signal, {
    once: (turn) => completeOnce(ctx, spec, turn),
    stream: (turn) => streamCompletion(ctx, spec, turn),
  });
}

/** The prompt's text as `echo` returns it ("" without echo). */
function echoed(spec: CompletionSpec, turn: AdmittedTurn): string {
  return spec.echo ? turn.prepared.request.encoded!.rendered.text : "";
}

/** With echo and logprobs: the echoed prompt's tokens in the legacy shape (empty before the engine scored them). */
function echoedLogprobs(spec: CompletionSpec, list: readonly PromptLogprob[]): LegacyLogprobs | null {
  if (!spec.echo || spec.logprobs === undefined) return null;
  return LogprobsWriter.prompt(list, spec.logprobs);
}

/** vLLM's `prompt_logprobs` field of a choice, when asked for. */
function promptLogprobsField(spec: CompletionSpec, list: readonly PromptLogprob[]) {
  if (spec.wirePromptLogprobs === undefined) return {};
  return { prompt_logprobs: wirePromptLogprobs(list, spec.wirePromptLogprobs) };
}

/** finish_reason: stopped by POST /stop reads as "stop", as on the chat route. */
function wireFinish(result: TurnResult): "stop" | "length" {
  return result.finishReason === "length" ? "length" : "stop";
}

async function completeOnce(ctx: ServeContext, spec: CompletionSpec, turn: AdmittedTurn): Promise<Response> {
  const { prepared, ids, req: { id } } = turn;
  const prompt = echoed(spec, turn);
  let text = prompt;
  const logprobs: TokenLogprob[] = [];
  let scored: PromptLogprob[] = [];
  const result = await runToEnd(ctx, spec, turn, (ev) => {
    if (ev.type === "prompt_logprobs") scored = ev.logprobs;
    if (ev.type !== "content") return; // a raw turn yields only content
    text += ev.text;
    if (ev.logprobs) logprobs.push(...ev.logprobs);
  });
  const generated = spec.logprobs === undefined ? null : new LogprobsWriter(prompt.length).write(logprobs);
  const echoedLp = echoedLogprobs(spec, scored);
  return Response.json({
    ...completionHead(id, "text_completion", spec.model),
    choices: [{
      index: 0,
      text,
      logprobs: echoedLp && generated ? concatLogprobs(echoedLp, generated) : generated,
      finish_reason: wireFinish(result),
      ...promptLogprobsField(spec, scored),
      ...ids.promptField(),
      ...ids.allField(),
    }],
    usage: turnUsage(prepared, result.usage),
  }, { headers: { "x-request-id": id } });
}

function streamCompletion(ctx: ServeContext, spec: CompletionSpec, turn: AdmittedTurn): Response {
  const { prepared, ids, req: { id } } = turn;
  const head = completionHead(id, "text_completion", spec.model);
  const prompt = echoed(spec, turn);
  const lp = new LogprobsWriter(prompt.length);
  // With return_token_ids, the first chunk carries the prompt's ids and each chunk the ids generated since
  // the one before (as vLLM's do).
  const chunk = (text: string, finish: string | null = null, logprobs: LegacyLogprobs | null = null) => ({
    ...head,
    choices: [{ index: 0, text, logprobs, finish_reason: finish, ...ids.nextField() }],
  });
  // The first chunk: the echoed prompt and the prompt's ids. When the prompt is scored it waits for the
  // scores (they come after the prefill, before any generated text) and carries them.
  const scoring = echoedLogprobs(spec, []) !== null;
  let firstSent = false;
  const sendFirst = (sink: { send(x: unknown): void }, scored: readonly PromptLogprob[] | null) => {
    firstSent = true;
    if (!prompt && !ids.enabled) return;
    const first = chunk(prompt, null, scored ? echoedLogprobs(spec, scored) : null);
    Object.assign(first.choices[0], ids.promptField());
    sink.send(first);
  };
  return streamTurn(ctx, spec, turn, (sink) => ({
    start: () => {
      if (!scoring) sendFirst(sink, null);
    },
    event: (ev) => {
      if (ev.type === "prompt_logprobs") return sendFirst(sink, ev.logprobs);
      if (ev.type !== "content") return;
      sink.send(chunk(ev.text, null, spec.logprobs === undefined ? null : lp.write(ev.logprobs ?? [])));
    },
    end: (result) => {
      // stopped before the prompt was scored: its text still comes first
      if (!firstSent) sendFirst(sink, null);
      sink.send(chunk("", wireFinish(result)));
      if (spec.includeUsage) {
        sink.send({ ...head, choices: [], usage: turnUsage(prepared, result.usage) });
      }
    },
  }));
}
