// Parses a POST /v1/completions body (OpenAI's legacy Completions API, as vLLM serves it): one raw prompt,
// text or token ids, continued with no chat template; a 400 ApiError naming the field for anything else.

import type { RawPrompt } from "../chat/messages.ts";
import type { SamplerParams } from "../chat/sampler.ts";
import { badRequest } from "./api_error.ts";
import { type ChatCompletionSpec, parseGenerationFields } from "./chat_completions_request.ts";
import { parsePromptLogprobs, widestTop } from "./prompt_logprobs.ts";
import { checkFields } from "./request_policy.ts";
import { type Json, optBool, optNumber, optString, reqString, requireObjectBody } from "./request_fields.ts";

/** OpenAI's default `max_tokens` on this API (the chat API's default is the whole context). */
export const DEFAULT_COMPLETION_TOKENS = 16;

/** OpenAI's most alternatives per token for `logprobs` on this API. */
export const MAX_COMPLETION_LOGPROBS = 5;

export interface CompletionSpec extends ChatCompletionSpec {
  /**
   * `echo`: the prompt's text goes before the completion in `text`; with `logprobs`, the prompt's tokens
   * go first in `logprobs` too (the first one's logprob null).
   */
  echo: boolean;
}

export function parseCompletionRequest(
  raw: unknown,
  defaults: SamplerParams,
  vocabSize: number,
): CompletionSpec {
  const body = requireObjectBody(raw);
  checkFields(body, "completions");
  const model = reqString(body, "model");
  const prompt = parsePrompt(body.prompt, vocabSize);
  onlyOne(body, "n", "one completion per request is served");
  onlyOne(body, "best_of", "best_of above 1 is not supported (one completion is generated)");
  const suffix = optString(body, "suffix");
  if (suffix) throw badRequest("'suffix' is not supported (no fill-in-the-middle)", "suffix");
  const echo = optBool(body, "echo") ?? false;
  const logprobs = optNumber(body, "logprobs", 0, MAX_COMPLETION_LOGPROBS, true);
  const wirePromptLogprobs = parsePromptLogprobs(body);
  const promptLogprobs = widestTop(echo ? logprobs : undefined, wirePromptLogprobs);
  return {
    model,
    messages: [],
    prompt: { effort: "low", raw: prompt },
    promptParam: "prompt",
    echo,
    // 0: only the prompt is computed (with echo, its text and log-probabilities come back; else "")
    maxTokens: optNumber(body, "max_tokens", 0, Number.MAX_SAFE_INTEGER, true) ?? DEFAULT_COMPLETION_TOKENS,
    ...parseGenerationFields(body, defaults, vocabSize),
    ...(logprobs !== undefined ? { logprobs } : {}),
    ...(promptLogprobs !== undefined ? { promptLogprobs } : {}),
    ...(wirePromptLogprobs !== undefined ? { wirePromptLogprobs } : {}),
  };
}

/** A field that only 1 (or null) may take: anything else is a 400 naming it. */
function onlyOne(body: Json, key: string, why: string): void {
  const v = optNumber(body, key, 1, Number.MAX_SAFE_INTEGER, true);
  if (v !== undefined && v !== 1) throw badRequest(`'${key}' must be 1: ${why}`, key);
}

const isTokenList = (v: unknown[]) => v.every((x) => typeof x === "number");

/**
 * `prompt`: a string, an array of one string, an array of token ids, or an array of one such array.
 * Several prompts (a batch) are refused: send one request per prompt.
 */
function parsePrompt(v: unknown, vocabSize: number): RawPrompt {
  if (v === undefined || v === null) {
    throw badRequest("missing required parameter: 'prompt'", "prompt", "missing_required_parameter");
  }
  const shape = "'prompt' must be a string, an array of one string, or an array of token ids";
  if (typeof v === "string") return textPrompt(v);
  if (!Array.isArray(v)) throw badRequest(shape, "prompt", "invalid_type");
  if (v.length === 0) throw badRequest("'prompt' must not be empty", "prompt");
  if (isTokenList(v)) return tokenPrompt(v as number[], vocabSize);
  const batch = v.every((x) => typeof x === "string") ||
    v.every((x) => Array.isArray(x) && isTokenList(x));
  if (!batch) throw badRequest(shape, "prompt", "invalid_type");
  if (v.length > 1) {
    throw badRequest(
      `'prompt' holds ${v.length} prompts; one prompt per request is served (send several requests)`,
      "prompt",
    );
  }
  return typeof v[0] === "string" ? textPrompt(v[0]) : tokenPrompt(v[0], vocabSize);
}

function textPrompt(text: string): RawPrompt {
  if (text === "") throw badRequest("'prompt' must not be empty", "prompt");
  return { text };
}

function tokenPrompt(ids: number[], vocabSize: number): RawPrompt {
  if (ids.length === 0) throw badRequest("'prompt' must not be empty", "prompt");
  const bad = ids.findIndex((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
  if (bad >= 0) {
    throw badRequest(
      `'prompt[${bad}]' is ${ids[bad]}: token ids are whole numbers from 0 to ${vocabSize - 1}`,
      "prompt",
    );
  }
  return { ids };
}
