// POST /v1/completions: OpenAI's legacy Completions API. The prompt is continued as raw text (no chat
// template, no markup) up to max_tokens (16 by default), a stop string or one of the model's stop ids;
// one `text_completion` object, or SSE chunks of it ending in `data: [DONE]`.

import type { TokenLogprob } from "../chat/harmony_parser.ts";
import { newId, turnUsage } from "./chat_completions.ts";
import { type CompletionSpec, parseCompletionRequest } from "./completions_request.ts";
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

/** The legacy logprobs object: parallel lists, with each token's offset in the choice's text. */
interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/**
 * Builds legacy logprobs; offsets count UTF-16 units from the start of the returned text (the echoed
 * prompt included), as vLLM counts them.
 */
class LogprobsWriter {
  private offset: number;

  constructor(start: number) {
    this.offset = start;
  }

  write(list: readonly TokenLogprob[]): LegacyLogprobs {
    const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const t of list) {
      out.tokens.push(t.token);
      out.token_logprobs.push(t.logprob);
      // The most likely alternatives and the chosen token (OpenAI: up to logprobs + 1 entries); tokens
      // that decode alike keep the first (likeliest) entry.
      const top: Record<string, number> = {};
      for (const x of [...t.top, t]) if (!(x.token in top)) top[x.token] = x.logprob;
      out.top_logprobs.push(top);
      out.text_offset.push(this.offset);
      this.offset += t.token.length;
    }
    return out;
  }
}

/** The prompt's text as `echo` returns it ("" without echo). */
function echoed(spec: CompletionSpec, turn: AdmittedTurn): string {
  return spec.echo ? turn.prepared.request.encoded!.rendered.text : "";
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
  const result = await runToEnd(ctx, spec, turn, (ev) => {
    if (ev.type !== "content") return; // a raw turn yields only content
    text += ev.text;
    if (ev.logprobs) logprobs.push(...ev.logprobs);
  });
  return Response.json({
    ...completionHead(id, "text_completion", spec.model),
    choices: [{
      index: 0,
      text,
      logprobs: spec.logprobs === undefined ? null : new LogprobsWriter(prompt.length).write(logprobs),
      finish_reason: wireFinish(result),
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
  return streamTurn(ctx, spec, turn, (sink) => ({
    start: () => {
      if (!prompt && !ids.enabled) return;
      const first = chunk(prompt);
      Object.assign(first.choices[0], ids.promptField());
      sink.send(first);
    },
    event: (ev) => {
      if (ev.type !== "content") return;
      sink.send(chunk(ev.text, null, spec.logprobs === undefined ? null : lp.write(ev.logprobs ?? [])));
    },
    end: (result) => {
      sink.send(chunk("", wireFinish(result)));
      if (spec.includeUsage) {
        sink.send({ ...head, choices: [], usage: turnUsage(prepared, result.usage) });
      }
    },
  }));
}
