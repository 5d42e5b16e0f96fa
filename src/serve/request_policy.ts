// Which request fields each API accepts, mirroring OpenAI field by field: fields ossi implements, fields
// that cannot change the answer (identifiers, caching and storage hints) and are accepted as OpenAI accepts
// them, fields for features ossi lacks (refused with 400 when set), and unknown fields (400, in OpenAI's
// own wording for each API).

import { ApiError, badRequest } from "./api_error.ts";
import type { Json } from "./request_fields.ts";

interface Policy {
  /** Read by the parser (or harmless: identifiers, hints about caching and storage). */
  accepted: ReadonlySet<string>;
  /** Features ossi does not have: a 400 naming the field unless it is null. */
  refused: Readonly<Record<string, string>>;
  unknown: (key: string) => ApiError;
}

const CHAT: Policy = {
  accepted: new Set([
    // implemented
    "model",
    "messages",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_completion_tokens",
    "max_tokens",
    "n",
    "presence_penalty",
    "reasoning_effort",
    "response_format",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_p",
    "parallel_tool_calls",
    "modalities",
    "prediction",
    // sampling extensions that vLLM and llama.cpp accept too
    "top_k",
    "min_p",
    "repetition_penalty",
    // vLLM's extension: the prompt's and the answer's token ids (token_ids.ts)
    "return_token_ids",
    // vLLM's extension: the prompt tokens' log-probabilities (prompt_logprobs.ts)
    "prompt_logprobs",
    // cannot change the answer
    "user",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "safety_identifier",
  ]),
  refused: {
    audio: "audio output is not supported (text only)",
    functions: "'functions' is deprecated and not supported; use 'tools'",
    function_call: "'function_call' is deprecated and not supported; use 'tool_choice'",
    web_search_options: "web search is not supported",
    verbosity: "'verbosity' is not supported",
    moderation: "moderation is not supported",
  },
  unknown: (key) =>
    new ApiError(400, `Unrecognized request argument supplied: ${key}`, "invalid_request_error"),
};

const RESPONSES: Policy = {
  accepted: new Set([
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "reasoning",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "top_logprobs",
    "include",
    "text",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "previous_response_id",
    "truncation",
    "store",
    "metadata",
    "user",
    "safety_identifier",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "top_k",
    "min_p",
    "repetition_penalty",
    "return_token_ids",
  ]),
  refused: {
    background: "background responses are not supported (nothing is stored)",
    conversation:
      "conversations are not supported (nothing is stored): send the whole conversation in 'input'",
    prompt: "prompt templates are not supported",
    context_management: "'context_management' is not supported",
    image: "image generation is not supported",
    access_programs: "'access_programs' is not supported",
    moderation: "moderation is not supported",
  },
  unknown: (key) =>
    new ApiError(400, `Unknown parameter: '${key}'.`, "invalid_request_error", "unknown_parameter", key),
};

/** The legacy Completions API (POST /v1/completions), as OpenAI and vLLM define it. */
const COMPLETIONS: Policy = {
  accepted: new Set([
    "model",
    "prompt",
    "best_of",
    "echo",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "n",
    "presence_penalty",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "suffix",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "return_token_ids",
    "prompt_logprobs",
    // only a tag for the caller's abuse monitoring: cannot change the answer
    "user",
  ]),
  refused: {},
  unknown: CHAT.unknown,
};

const POLICIES = { chat: CHAT, responses: RESPONSES, completions: COMPLETIONS };

/** Throws the 400 OpenAI gives for the first field it would reject. */
export function checkFields(body: Json, api: keyof typeof POLICIES): void {
  const p = POLICIES[api];
  for (const [key, value] of Object.entries(body)) {
    if (p.accepted.has(key)) continue;
    if (key in p.refused) {
      if (value === null || value === undefined || value === false) continue;
      throw badRequest(p.refused[key], key, "unsupported_parameter");
    }
    throw p.unknown(key);
  }
}

/** Values of `include` on the Responses API, and which ossi fills in. */
export const RESPONSE_INCLUDES = new Set([
  "message.output_text.logprobs",
  // Reasoning comes back as text in every response, so nothing needs to be encrypted for later turns.
  "reasoning.encrypted_content",
  // Outputs of tools ossi does not run: never present, so nothing to include.
  "file_search_call.results",
  "web_search_call.results",
  "web_search_call.action.sources",
  "message.input_image.image_url",
  "computer_call_output.output.image_url",
  "code_interpreter_call.outputs",
]);
