// Parses a POST /v1/responses body: `input` (a string or a list of message / function_call /
// function_call_output items), `instructions`, `reasoning.effort`, function `tools`, max_output_tokens.

import { badRequest } from "./api_error.ts";
import type { ChatMessage, PromptOptions, ToolDef } from "../chat/messages.ts";
import type { SamplerParams } from "../chat/sampler.ts";
import { applyToolChoice, toolDef, type TurnSpec } from "./chat_completions_request.ts";
import { checkToolChoiceNeedsTools, forcedToolCall, parseFormat } from "./output_fields.ts";
import { checkFields, RESPONSE_INCLUDES } from "./request_policy.ts";
import {
  contentText,
  isObject,
  optBool,
  optNumber,
  optString,
  parseEffort,
  parseSampler,
  reqString,
  requireObjectBody,
} from "./request_fields.ts";

export interface ResponsesSpec extends TurnSpec {
  instructions: string | null;
  /** The request's tools as given, echoed in the response object. */
  toolsEcho: unknown[];
  toolChoice: unknown;
  /** Echoed in the response object as OpenAI does. */
  textFormat: Record<string, unknown>;
  topLogprobs: number;
  metadata: Record<string, unknown>;
  parallelToolCalls: boolean;
}

const MESSAGE_ROLES = ["system", "developer", "user", "assistant"] as const;

export function parseResponsesRequest(raw: unknown, defaults: SamplerParams): ResponsesSpec {
  const body = requireObjectBody(raw);
  checkFields(body, "responses");
  const model = reqString(body, "model");
  if (body.input === undefined || body.input === null) {
    throw badRequest("missing required parameter: 'input'", "input", "missing_required_parameter");
  }
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    throw badRequest(
      "'previous_response_id' is not supported: send the whole conversation in 'input'",
      "previous_response_id",
    );
  }
  const instructions = optString(body, "instructions") ?? null;
  const messages: ChatMessage[] = instructions ? [{ role: "developer", content: instructions }] : [];
  messages.push(...parseInput(body.input));
  if (!messages.some((m) => m.role !== "developer" && m.role !== "system")) {
    throw badRequest("'input' holds no user message", "input");
  }
  let effort = undefined;
  if (body.reasoning !== undefined && body.reasoning !== null) {
    if (!isObject(body.reasoning)) throw badRequest("'reasoning' must be an object", "reasoning");
    effort = parseEffort(body.reasoning.effort, "reasoning.effort");
  }
  const prompt: PromptOptions = { effort: effort ?? "low" };
  const text = body.text ?? {};
  if (!isObject(text)) throw badRequest("'text' must be an object", "text");
  if (text.verbosity !== undefined && text.verbosity !== null && text.verbosity !== "medium") {
    throw badRequest("'text.verbosity' is not supported (only 'medium')", "text.verbosity");
  }
  const format = parseFormat(text.format, "text.format", messages, "responses");
  if (format.responseFormat) prompt.responseFormat = format.responseFormat;
  const truncation = body.truncation;
  if (truncation !== undefined && truncation !== null && truncation !== "disabled") {
    throw badRequest(
      "'truncation' must be 'disabled': ossi never drops input to fit the context",
      "truncation",
    );
  }
  const include = parseInclude(body.include);
  const top = optNumber(body, "top_logprobs", 0, 20, true);
  const logprobs = include.has("message.output_text.logprobs") || top !== undefined ? top ?? 0 : undefined;
  if (body.metadata !== undefined && body.metadata !== null && !isObject(body.metadata)) {
    throw badRequest("'metadata' must be an object", "metadata");
  }
  const maxToolCalls = optNumber(body, "max_tool_calls", 0, Number.MAX_SAFE_INTEGER, true);
  const toolsEcho = Array.isArray(body.tools) ? body.tools : [];
  checkToolChoiceNeedsTools(body);
  // max_tool_calls 0 allows no call: the tools are not offered.
  const tools = maxToolCalls === 0 ? [] : applyToolChoice(parseResponseTools(body.tools), body.tool_choice);
  if (tools.length > 0) prompt.tools = tools;
  const output = (maxToolCalls === 0 ? undefined : forcedToolCall(tools, body.tool_choice)) ?? format.output;
  return {
    model,
    messages,
    prompt,
    sampler: parseSampler(body, defaults),
    maxTokens: optNumber(body, "max_output_tokens", 1, Number.MAX_SAFE_INTEGER, true),
    stops: [],
    stream: optBool(body, "stream") ?? false,
    instructions,
    toolsEcho,
    toolChoice: body.tool_choice ?? "auto",
    textFormat: format.echo,
    topLogprobs: top ?? 0,
    metadata: isObject(body.metadata) ? body.metadata : {},
    parallelToolCalls: optBool(body, "parallel_tool_calls") ?? true,
    ...(output ? { output } : {}),
    ...(logprobs !== undefined ? { logprobs } : {}),
  };
}

function parseInclude(v: unknown): Set<string> {
  if (v === undefined || v === null) return new Set();
  if (!Array.isArray(v)) throw badRequest("'include' must be an array of strings", "include");
  for (const [i, x] of v.entries()) {
    if (typeof x !== "string" || !RESPONSE_INCLUDES.has(x)) {
      throw badRequest(
        `Invalid value for 'include[${i}]': ${JSON.stringify(x)} is not supported`,
        `include[${i}]`,
      );
    }
  }
  return new Set(v as string[]);
}

function parseInput(input: unknown): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  if (!Array.isArray(input)) throw badRequest("'input' must be a string or an array of items", "input");
  const out: ChatMessage[] = [];
  const callNames = new Map<string, string>();
  for (const [i, item] of input.entries()) {
    const at = `input[${i}]`;
    if (!isObject(item)) throw badRequest(`'${at}' must be an object`, at);
    const type = item.type ?? "message";
    if (type === "message") {
      const role = item.role;
      if (typeof role !== "string" || !(MESSAGE_ROLES as readonly string[]).includes(role)) {
        throw badRequest(`'${at}.role' must be one of ${MESSAGE_ROLES.join(", ")}`, `${at}.role`);
      }
      const text = contentText(item.content, `${at}.content`, ["input_text", "output_text", "text"]);
      out.push({ role: role as ChatMessage["role"], content: text });
    } else if (type === "function_call") {
      const call = {
        id: reqString(item, "call_id"),
        name: reqString(item, "name"),
        arguments: optString(item, "arguments") ?? "{}",
      };
      callNames.set(call.id, call.name);
      // Consecutive calls belong to one assistant turn.
      const last = out.at(-1);
      if (last?.role === "assistant" && last.toolCalls && !last.content) last.toolCalls.push(call);
      else out.push({ role: "assistant", content: "", toolCalls: [call] });
    } else if (type === "function_call_output") {
      const id = reqString(item, "call_id");
      const name = callNames.get(id);
      if (name === undefined) {
        throw badRequest(`'${at}.call_id' ${id} answers no earlier function_call`, `${at}.call_id`);
      }
      const output = typeof item.output === "string" ? item.output : JSON.stringify(item.output ?? "");
      out.push({ role: "tool", content: output, toolCallId: id, name });
    } else if (type === "reasoning") {
      continue; // earlier reasoning is dropped from the prompt, as harmony requires
    } else {
      throw badRequest(`'${at}.type' ${String(type)} is not supported`, `${at}.type`);
    }
  }
  return out;
}

/** Responses-API tools are flat: [{type: "function", name, description, parameters}]. */
function parseResponseTools(v: unknown): ToolDef[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badRequest("'tools' must be an array", "tools");
  return v.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t) || t.type !== "function") {
      throw badRequest(
        `'${at}' must be {type: "function", name, parameters} (only function tools are supported)`,
        at,
      );
    }
    return toolDef(t, at);
  });
}
