// The prompt's own log-probabilities on the wire: vLLM's `prompt_logprobs` extension (both completions
// APIs) and the legacy Completions API's `echo` + `logprobs` (the prompt's tokens first in `logprobs`). The
// engine scores the prompt under the model's distribution (temperature 1, no penalties or bias), computing
// it from position 0; see ChatRequest.promptLogprobs.

import type { PromptLogprob } from "../chat/harmony_parser.ts";
import { MAX_SCORE_TOP } from "../engine/token_scores.ts";
import { badRequest } from "./api_error.ts";
import { type Json, optBool, optNumber } from "./request_fields.ts";

/**
 * `prompt_logprobs` (vLLM): alternatives per prompt token, 0 to 20 (0: the prompt token alone). Refused with
 * `stream`, as vLLM refuses it.
 */
export function parsePromptLogprobs(body: Json): number | undefined {
  const n = optNumber(body, "prompt_logprobs", 0, MAX_SCORE_TOP, true);
  if (n !== undefined && optBool(body, "stream")) {
    throw badRequest("'prompt_logprobs' is not available with 'stream': true", "prompt_logprobs");
  }
  return n;
}

/** The larger of two requests for alternatives per prompt token (undefined: none asked). */
export function widestTop(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

/** One entry of vLLM's prompt_logprobs: {logprob, rank, decoded_token}. */
interface VllmLogprob {
  logprob: number;
  rank: number;
  decoded_token: string;
}

/**
 * vLLM's `prompt_logprobs`: null for the first token, then per token a map from token id to its entry, the
 * prompt token and its `top` most likely alternatives (top + 1 entries, or top when it is among them).
 */
export function wirePromptLogprobs(
  list: readonly PromptLogprob[],
  top: number,
): (Record<string, VllmLogprob> | null)[] {
  return list.map((t) => {
    if (t.logprob === null || t.rank === null) return null;
    const out: Record<string, VllmLogprob> = {
      [t.id]: { logprob: t.logprob, rank: t.rank, decoded_token: t.token },
    };
    t.top.slice(0, top).forEach((x, i) => {
      out[x.id] ??= { logprob: x.logprob, rank: i + 1, decoded_token: x.token };
    });
    return out;
  });
}

/** The legacy logprobs object: parallel lists, with each token's offset in the choice's text. */
export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/** A token as the legacy shape lists it: its text and logprob (null: the first prompt token), alternatives. */
interface LegacyToken {
  token: string;
  logprob: number | null;
  top: readonly { token: string; logprob: number }[];
}

/**
 * Builds legacy logprobs; offsets count UTF-16 units from the start of the returned text (the echoed
 * prompt included), as vLLM counts them.
 */
export class LogprobsWriter {
  constructor(private offset: number) {}

  /** The echoed prompt's tokens, from offset 0, with `top` alternatives each (the first token: null). */
  static prompt(list: readonly PromptLogprob[], top: number): LegacyLogprobs {
    return new LogprobsWriter(0).write(list.map((t) => ({ ...t, top: t.top.slice(0, top) })));
  }

  write(list: readonly LegacyToken[]): LegacyLogprobs {
    const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const t of list) {
      out.tokens.push(t.token);
      out.token_logprobs.push(t.logprob);
      out.top_logprobs.push(t.logprob === null ? null : topOf(t, t.logprob));
      out.text_offset.push(this.offset);
      this.offset += t.token.length;
    }
    return out;
  }
}

/** `a`'s tokens, then `b`'s. */
export function concatLogprobs(a: LegacyLogprobs, b: LegacyLogprobs): LegacyLogprobs {
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: [...a.top_logprobs, ...b.top_logprobs],
    text_offset: [...a.text_offset, ...b.text_offset],
  };
}

/**
 * The most likely alternatives and the chosen token (OpenAI: up to logprobs + 1 entries); tokens that
 * decode alike keep the first (likeliest) entry.
 */
function topOf(t: LegacyToken, logprob: number): Record<string, number> {
  const top: Record<string, number> = {};
  for (const x of [...t.top, { token: t.token, logprob }]) if (!(x.token in top)) top[x.token] = x.logprob;
  return top;
}
