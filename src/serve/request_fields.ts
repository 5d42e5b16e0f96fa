// Typed readers for JSON request fields: each returns the value or throws ApiError 400 naming the field.
// Shared by the chat-completions and responses parsers.

import { badRequest } from "./api_error.ts";
import type { Effort } from "../chat/messages.ts";
import { type SamplerParams, validateSamplerParams } from "../chat/sampler.ts";
import { OssiError } from "../errors.ts";

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function requireObjectBody(body: unknown): Json {
  if (!isObject(body)) throw badRequest("the request body must be a JSON object", null, "invalid_body");
  return body;
}

export function optString(o: Json, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(`'${key}' must be a string`, key, "invalid_type");
  return v;
}

export function reqString(o: Json, key: string): string {
  const v = optString(o, key);
  if (v === undefined) {
    throw badRequest(`missing required parameter: '${key}'`, key, "missing_required_parameter");
  }
  return v;
}

export function optBool(o: Json, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badRequest(`'${key}' must be a boolean`, key, "invalid_type");
  return v;
}

/** A finite number in [min, max]; `integer` also requires a whole number. */
export function optNumber(
  o: Json,
  key: string,
  min: number,
  max: number,
  integer = false,
): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw badRequest(`'${key}' must be ${integer ? "an integer" : "a number"}`, key, "invalid_type");
  }
  if (v < min || v > max) throw badRequest(`'${key}' must be between ${min} and ${max}, got ${v}`, key);
  return v;
}

/** OpenAI's reasoning efforts onto harmony's three levels ("minimal" and "none" run as "low"). */
export function parseEffort(v: unknown, param: string): Effort | undefined {
  if (v === undefined || v === null) return undefined;
  switch (v) {
    case "low":
    case "medium":
    case "high":
      return v as Effort;
    case "minimal":
    case "none":
      return "low";
  }
  throw badRequest(`'${param}' must be one of low, medium, high`, param);
}

/** temperature / top_p / seed over the server's defaults (the model's generation_config). */
export function parseSampler(o: Json, base: SamplerParams): SamplerParams {
  const p: SamplerParams = { ...base };
  const temperature = optNumber(o, "temperature", 0, 2);
  if (temperature !== undefined) p.temperature = temperature;
  const topP = optNumber(o, "top_p", 0, 1);
  if (topP !== undefined) p.topP = topP;
  const seed = optNumber(o, "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  if (seed !== undefined) p.seed = seed;
  const presence = optNumber(o, "presence_penalty", -2, 2);
  if (presence !== undefined) p.presencePenalty = presence;
  const frequency = optNumber(o, "frequency_penalty", -2, 2);
  if (frequency !== undefined) p.frequencyPenalty = frequency;
  // Extensions vLLM and llama.cpp accept too.
  const topK = optNumber(o, "top_k", -1, 1 << 30, true);
  if (topK !== undefined) p.topK = Math.max(0, topK);
  const minP = optNumber(o, "min_p", 0, 1);
  if (minP !== undefined) p.minP = minP;
  const repetition = optNumber(o, "repetition_penalty", 0, 10);
  if (repetition !== undefined) p.repetitionPenalty = repetition;
  try {
    validateSamplerParams(p);
  } catch (e) {
    if (e instanceof OssiError) throw badRequest(e.message.replace(/^sampler: /, ""));
    throw e;
  }
  return p;
}

/** Text of an OpenAI content field: a string, or an array of parts whose text parts are joined. */
export function contentText(v: unknown, param: string, partTypes: readonly string[]): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (!Array.isArray(v)) throw badRequest(`'${param}' must be a string or an array of content parts`, param);
  let text = "";
  for (const [i, part] of v.entries()) {
    if (!isObject(part) || typeof part.type !== "string") {
      throw badRequest(`'${param}[${i}]' must be a content part with a type`, `${param}[${i}]`);
    }
    if (!partTypes.includes(part.type)) {
      throw badRequest(
        `'${param}[${i}]': content type '${part.type}' is not supported (text only)`,
        `${param}[${i}]`,
      );
    }
    if (typeof part.text !== "string") {
      throw badRequest(`'${param}[${i}].text' must be a string`, `${param}[${i}].text`);
    }
    text += part.text;
  }
  return text;
}

/** `stop`: a string or up to 4 strings; empty strings are ignored. */
export function parseStop(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string") || list.length > 4) {
    throw badRequest("'stop' must be a string or an array of at most 4 strings", "stop");
  }
  return (list as string[]).filter((s) => s.length > 0);
}

/** `stream_options.include_usage`: a last chunk with usage and no choices. */
export function parseIncludeUsage(body: Json): boolean {
  const options = body.stream_options;
  if (options === undefined || options === null) return false;
  if (!isObject(options)) throw badRequest("'stream_options' must be an object", "stream_options");
  return optBool(options, "include_usage") ?? false;
}
