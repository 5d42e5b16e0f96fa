// One assistant turn on the engine as the HTTP routes need it: the engine's events with `stop` strings
// applied to the answer text, ending in a finish reason and the usage counts.

import type { ChatRequest, ChatUsage } from "../chat/chat_engine.ts";
import type { ChatEvent, TokenLogprob } from "../chat/harmony_parser.ts";
import type { ChatService } from "../service/chat_service.ts";
import { StopMatcher } from "./stop_matcher.ts";

/** What a turn needs of the engine (in tests, a real ChatEngine over scripted tokens, in this thread). */
export type TurnEngine = Pick<ChatService, "chat">;

export type FinishReason = "stop" | "length" | "tool_calls" | "aborted";
export type TurnEvent = Exclude<ChatEvent, { type: "done" }>;

export interface TurnResult {
  finishReason: FinishReason;
  /** null only when the engine ended without reporting usage. */
  usage: ChatUsage | null;
}

/**
 * Streams one turn. Aborting `req.signal` ends it after the current token (finish reason "aborted");
 * a stop string ends it too (finish reason "stop"), and nothing from the stop string on is yielded.
 */
export async function* runTurn(
  engine: TurnEngine,
  req: ChatRequest,
  stops: readonly string[],
): AsyncGenerator<TurnEvent, TurnResult, void> {
  const inner = new AbortController();
  const onAbort = () => inner.abort();
  if (req.signal?.aborted) inner.abort();
  req.signal?.addEventListener("abort", onAbort, { once: true });
  const matcher = new StopMatcher(stops);
  const events = engine.chat({ ...req, signal: inner.signal });
  let finishReason: FinishReason = "stop";
  let stoppedByString = false;
  let usage: ChatUsage | null = null;
  /** Log-probabilities of answer text the stop matcher still holds back. */
  let held: TokenLogprob[] | undefined;
  const withLogprobs = (text: string) => {
    const ev: TurnEvent = { type: "content", text };
    if (held) [ev.logprobs, held] = [held, []];
    return ev;
  };
  try {
    while (true) {
      const r = await events.next();
      if (r.done) {
        usage = r.value ?? null;
        break;
      }
      const ev = r.value;
      if (ev.type === "done") {
        finishReason = ev.reason;
        continue;
      }
      if (stoppedByString) continue;
      if (ev.type !== "content") {
        yield ev;
        continue;
      }
      if (ev.logprobs) (held ??= []).push(...ev.logprobs);
      const s = matcher.push(ev.text);
      if (s.text) yield withLogprobs(s.text);
      if (s.stopped) {
        stoppedByString = true;
        inner.abort();
      }
    }
  } finally {
    req.signal?.removeEventListener("abort", onAbort);
    // Ends the engine's generator if our consumer left early (a cancelled stream): it frees the engine.
    inner.abort();
    await events.return(undefined as unknown as ChatUsage);
  }
  const tail = matcher.flush();
  if (tail) yield withLogprobs(tail);
  if (stoppedByString) finishReason = "stop";
  else if (req.signal?.aborted) finishReason = "aborted";
  // A constrained answer closed early to fit max_tokens is complete, but it was cut.
  else if (usage?.budgetCut && finishReason !== "aborted") finishReason = "length";
  return { finishReason, usage };
}
