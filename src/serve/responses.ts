// POST /v1/responses: the Responses API. Output items are built from the turn's events in order
// (reasoning, message, function_call); streaming sends the typed events (response.created,
// response.output_text.delta, ..., response.completed), each with a sequence_number.

import type { ChatUsage } from "../chat/chat_engine.ts";
import { errorBody } from "./api_error.ts";
import { newId, wireLogprob } from "./chat_completions.ts";
import { parseResponsesRequest, type ResponsesSpec } from "./responses_request.ts";
import { runTurn, type TurnEvent, type TurnResult } from "./run_turn.ts";
import { type AdmittedTurn, engineError, type PreparedTurn, type ServeContext } from "./serve_context.ts";
import { sseResponse, type SseSink } from "./sse.ts";

type Item = Record<string, unknown> & { type: string; id: string };
type Emit = (type: string, fields: Record<string, unknown>) => void;

export async function handleResponses(
  ctx: ServeContext,
  body: unknown,
  signal: AbortSignal,
): Promise<Response> {
  const spec = parseResponsesRequest(body, ctx.opts.sampler);
  const turn = await ctx.admit(spec, newId("resp_"), body, signal);
  // From here on the request holds a place in the queue: a client that leaves must give it back.
  const { req, prepared, ids } = turn;
  const createdAt = Math.floor(Date.now() / 1000);
  const object = (builder: OutputBuilder, result: TurnResult | null) => ({
    ...responseObject(spec, req.id, createdAt, builder, result, prepared),
    ...ids.promptField(),
    ...(result ? ids.allField() : {}),
  });
  if (spec.stream) return streamResponse(ctx, spec, turn, object);
  try {
    const release = await ctx.awaitPlace(turn.place, req.abort.signal);
    try {
      const builder = new OutputBuilder(() => {}, spec.logprobs !== undefined);
      const result = await drive(ctx, prepared, builder);
      if (result.finishReason === "aborted") ctx.refuseWhenStopping();
      return Response.json(object(builder, result), { headers: { "x-request-id": req.id } });
    } catch (e) {
      throw engineError(e);
    } finally {
      release();
    }
  } finally {
    req.done();
  }
}

function streamResponse(
  ctx: ServeContext,
  spec: ResponsesSpec,
  turn: AdmittedTurn,
  object: (builder: OutputBuilder, result: TurnResult | null) => ReturnType<typeof responseObject>,
): Response {
  const { req, prepared, place } = turn, { id, abort } = req;
  place.catch(() => {}); // rejected only when the request was stopped while queued
  let seq = 0;
  const send = (sink: SseSink, type: string, fields: Record<string, unknown>) =>
    sink.send({ type, sequence_number: seq++, ...fields }, type);
  return sseResponse(
    async (sink: SseSink) => {
      let release: (() => void) | undefined;
      const emit: Emit = (type, fields) => send(sink, type, fields);
      try {
        const builder = new OutputBuilder(emit, spec.logprobs !== undefined);
        const initial = object(builder, null);
        emit("response.created", { response: initial });
        release = await place;
        emit("response.in_progress", { response: initial });
        const result = await drive(ctx, prepared, builder);
        // stopped: by shutdown (an error event says so), POST /stop (the stream ends as usual) or the
        // client leaving (nothing more is written)
        if (result.finishReason === "aborted") ctx.refuseWhenStopping();
        const final = object(builder, result);
        emit(final.status === "completed" ? "response.completed" : "response.incomplete", {
          response: final,
        });
      } finally {
        release?.();
        req.done();
      }
    },
    abort,
    (e, sink) => {
      const err = ctx.streamError(e, abort.signal.aborted);
      if (!err) return;
      ctx.logError(err.status >= 500 && err.status !== 503 ? e : err);
      const { message, code, param } = errorBody(err).error;
      send(sink, "error", { message, code, param });
    },
    { "x-request-id": id },
  );
}

async function drive(ctx: ServeContext, prepared: PreparedTurn, builder: OutputBuilder): Promise<TurnResult> {
  const turn = runTurn(ctx.engine, prepared.request, []);
  while (true) {
    const r = await turn.next();
    if (r.done) {
      builder.finish();
      return r.value;
    }
    builder.push(r.value);
  }
}

/** Turns events into output items, telling `emit` each step as the streaming API names it. */
export class OutputBuilder {
  readonly items: Item[] = [];
  private open: { item: Item; text: string; kind: "reasoning" | "message"; logprobs: unknown[] } | null =
    null;

  /** `logprobs`: the request asked for them (message.output_text.logprobs). */
  constructor(private readonly emit: Emit, private readonly logprobs = false) {}

  push(ev: TurnEvent): void {
    if (ev.type === "tool_call") {
      this.finish();
      const item: Item = {
        type: "function_call",
        id: newId("fc_"),
        call_id: ev.call.id,
        name: ev.call.name,
        arguments: "",
        status: "in_progress",
      };
      const output_index = this.items.push(item) - 1;
      this.emit("response.output_item.added", { output_index, item: { ...item } });
      this.emit("response.function_call_arguments.delta", {
        item_id: item.id,
        output_index,
        delta: ev.call.arguments,
      });
      item.arguments = ev.call.arguments;
      item.status = "completed";
      this.emit("response.function_call_arguments.done", {
        item_id: item.id,
        output_index,
        arguments: ev.call.arguments,
      });
      this.emit("response.output_item.done", { output_index, item });
      return;
    }
    if (ev.type === "prompt_logprobs") return; // never asked for on this API
    const kind = ev.type === "reasoning" ? "reasoning" : "message";
    if (this.open?.kind !== kind) this.start(kind);
    const open = this.open!;
    open.text += ev.text;
    const where = { item_id: open.item.id, output_index: this.items.length - 1, content_index: 0 };
    if (kind === "reasoning") this.emit("response.reasoning_text.delta", { ...where, delta: ev.text });
    else {
      const logprobs = ev.type === "content" && this.logprobs ? (ev.logprobs ?? []).map(wireLogprob) : [];
      open.logprobs.push(...logprobs);
      this.emit("response.output_text.delta", { ...where, delta: ev.text, logprobs });
    }
  }

  /** Closes the open reasoning or message item. */
  finish(): void {
    const open = this.open;
    if (!open) return;
    this.open = null;
    const where = { item_id: open.item.id, output_index: this.items.length - 1, content_index: 0 };
    const part = open.kind === "reasoning"
      ? { type: "reasoning_text", text: open.text }
      : { type: "output_text", text: open.text, annotations: [], logprobs: open.logprobs };
    if (open.kind === "reasoning") this.emit("response.reasoning_text.done", { ...where, text: open.text });
    else this.emit("response.output_text.done", { ...where, text: open.text, logprobs: open.logprobs });
    this.emit("response.content_part.done", { ...where, part });
    open.item.content = [part];
    if (open.kind === "message") open.item.status = "completed";
    this.emit("response.output_item.done", { output_index: where.output_index, item: open.item });
  }

  get outputText(): string {
    return this.items.filter((i) => i.type === "message")
      .map((i) => ((i.content as { text: string }[])[0]?.text ?? "")).join("");
  }

  private start(kind: "reasoning" | "message"): void {
    this.finish();
    const item: Item = kind === "reasoning"
      ? { type: "reasoning", id: newId("rs_"), summary: [], content: [] }
      : { type: "message", id: newId("msg_"), status: "in_progress", role: "assistant", content: [] };
    const output_index = this.items.push(item) - 1;
    this.open = { item, text: "", kind, logprobs: [] };
    this.emit("response.output_item.added", { output_index, item: { ...item } });
    const part = kind === "reasoning"
      ? { type: "reasoning_text", text: "" }
      : { type: "output_text", text: "", annotations: [], logprobs: [] };
    this.emit("response.content_part.added", { item_id: item.id, output_index, content_index: 0, part });
  }
}

function responseObject(
  spec: ResponsesSpec,
  id: string,
  createdAt: number,
  builder: OutputBuilder,
  result: TurnResult | null,
  prepared: PreparedTurn,
) {
  const status = result === null
    ? "in_progress"
    : result.finishReason === "length"
    ? "incomplete"
    : "completed";
  return {
    id,
    object: "response",
    created_at: createdAt,
    status,
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    background: false,
    instructions: spec.instructions,
    max_output_tokens: spec.maxTokens ?? null,
    model: spec.model,
    output: result === null ? [] : builder.items,
    output_text: builder.outputText,
    parallel_tool_calls: spec.parallelToolCalls,
    previous_response_id: null,
    reasoning: { effort: spec.prompt.effort, summary: null },
    store: false,
    temperature: spec.sampler.temperature,
    top_p: spec.sampler.topP,
    service_tier: "default",
    text: { format: spec.textFormat, verbosity: "medium" },
    tool_choice: spec.toolChoice,
    tools: spec.toolsEcho,
    top_logprobs: spec.topLogprobs,
    truncation: "disabled",
    usage: result === null ? null : responseUsage(prepared, result.usage),
    user: null,
    metadata: spec.metadata,
  };
}

function responseUsage(prepared: PreparedTurn, usage: ChatUsage | null) {
  const input = usage?.promptTokens ?? prepared.promptTokens;
  const output = usage?.completionTokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.cachedTokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: usage?.reasoningTokens ?? 0 },
    total_tokens: input + output,
  };
}
