// What the chat-completions and completions routes share to run an admitted turn: to its end (one JSON
// answer) or as server-sent events ending in `data: [DONE]`. Either way the turn holds its place in the
// queue only while it runs, and gives it back however it ends (done, stopped, failed, client gone).

import { errorBody } from "./api_error.ts";
import type { TurnSpec } from "./chat_completions_request.ts";
import { runTurn, type TurnEvent, type TurnResult } from "./run_turn.ts";
import { type AdmittedTurn, engineError, type ServeContext } from "./serve_context.ts";
import { sseResponse, type SseSink } from "./sse.ts";

/** What every completion object and chunk of both completions APIs opens with. */
export function completionHead(id: string, object: string, model: string, created = nowSeconds()) {
  return { id, object, created, model };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** How a route answers an admitted turn: at once (one JSON body) or streamed. */
export interface TurnRoute {
  once(turn: AdmittedTurn): Promise<Response>;
  stream(turn: AdmittedTurn): Response;
}

/**
 * Admits a parsed turn as request `id` and answers it by `route`; the request is done when the answer
 * is (a stream: when its last byte is written).
 */
export async function serveTurn(
  ctx: ServeContext,
  spec: TurnSpec & { stream: boolean },
  id: string,
  body: unknown,
  signal: AbortSignal,
  route: TurnRoute,
): Promise<Response> {
  const turn = await ctx.admit(spec, id, body, signal);
  // From here on the request holds a place in the queue: a client that leaves must give it back.
  if (spec.stream) return route.stream(turn);
  try {
    return await route.once(turn);
  } finally {
    turn.req.done();
  }
}

/** Feeds a turn's events to `onEvent` and returns how it ended. */
async function drain(
  turn: AsyncGenerator<TurnEvent, TurnResult, void>,
  onEvent: (ev: TurnEvent) => void,
): Promise<TurnResult> {
  while (true) {
    const r = await turn.next();
    if (r.done) return r.value;
    onEvent(r.value);
  }
}

/**
 * Waits for the turn's place, runs it to its end (events to `onEvent`) and gives the place back. The
 * caller still owns the request (turn.req.done()). A turn stopped by shutdown is a 503.
 */
export async function runToEnd(
  ctx: ServeContext,
  spec: TurnSpec,
  turn: AdmittedTurn,
  onEvent: (ev: TurnEvent) => void,
): Promise<TurnResult> {
  const release = await ctx.awaitPlace(turn.place, turn.req.abort.signal);
  let result: TurnResult;
  try {
    result = await drain(runTurn(ctx.engine, turn.prepared.request, spec.stops), onEvent);
  } catch (e) {
    throw engineError(e, spec.promptParam);
  } finally {
    release();
  }
  if (result.finishReason === "aborted") ctx.refuseWhenStopping();
  return result;
}

/** How a route writes one streamed turn as SSE chunks. */
export interface TurnWriter {
  /** The turn holds its place and is about to run. */
  start(): void;
  event(ev: TurnEvent): void;
  /** After the last event (writes nothing once the client has left). */
  end(result: TurnResult): void;
}

/**
 * Streams an admitted turn: `writer` writes its chunks, then `data: [DONE]` ends the stream. An error
 * becomes an error chunk; stopped by shutdown, a 503 one; stopped by POST /stop, the stream ends as
 * usual; a client that left gets nothing more. The request is done when the stream ends.
 */
export function streamTurn(
  ctx: ServeContext,
  spec: TurnSpec,
  turn: AdmittedTurn,
  writer: (sink: SseSink) => TurnWriter,
): Response {
  const { prepared, req, place } = turn;
  const abort = req.abort;
  place.catch(() => {}); // a request aborted while queued rejects its place; the producer sees that below.
  return sseResponse(
    async (sink) => {
      let release: (() => void) | undefined;
      try {
        release = await place;
        const w = writer(sink);
        w.start();
        const result = await drain(runTurn(ctx.engine, prepared.request, spec.stops), (ev) => w.event(ev));
        if (result.finishReason === "aborted") ctx.refuseWhenStopping();
        w.end(result);
        sink.sendRaw("[DONE]");
      } finally {
        release?.();
        req.done();
      }
    },
    abort,
    (e, sink) => {
      const err = ctx.streamError(e, abort.signal.aborted, spec.promptParam);
      if (!err) return;
      ctx.logError(err.status >= 500 && err.status !== 503 ? e : err);
      sink.send(errorBody(err));
      sink.sendRaw("[DONE]");
    },
    { "x-request-id": req.id },
  );
}
