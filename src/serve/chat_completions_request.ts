// Parses a POST /v1/chat/completions body into the chat layer's terms (messages, prompt options, sampler),
// with a 400 ApiError naming the field for anything malformed.

import { badRequest } from "./api_error.ts";
import type { ChatMessage, PromptOptions, ToolCall, ToolDef } from "../chat/messages.ts";
import type { SamplerParams } from "../chat/sampler.ts";
import type { OutputSpec } from "../chat/constrain/output_program.ts";
import {
  checkToolChoiceNeedsTools,
  forcedToolCall,
  parseFormat,
  parseLogitBias,
  parseTopLogprobs,
} from "./output_fields.ts";
import { parsePromptLogprobs } from "./prompt_logprobs.ts";
import { checkFields } from "./request_policy.ts";
import {
  contentText,
  isObject,
  type Json,
  optBool,
  optNumber,
  optString,
  parseEffort,
  parseIncludeUsage,
  parseSampler,
  parseStop,
  reqString,
  requireObjectBody,
} from "./request_fields.ts";

/** A turn to generate, as both APIs describe it. */
export interface TurnSpec {
  model: string;
  messages: ChatMessage[];
  prompt: PromptOptions;
  sampler: SamplerParams;
  /** Most tokens to generate; undefined means up to the end of the context. */
  maxTokens?: number;
  stops: string[];
  stream: boolean;
  /** Constrained decoding: a JSON answer of a schema, or a forced tool call. */
  output?: OutputSpec;
  /** Log-probabilities of answer tokens, with this many alternatives each. */
  logprobs?: number;
  /** Log-probabilities of the prompt's tokens, with this many alternatives each (ChatRequest.promptLogprobs). */
  promptLogprobs?: number;
  logitBias?: ReadonlyMap<number, number>;
  /** The request field holding the prompt, named by errors about it (default "messages"). */
  promptParam?: string;
}

export interface ChatCompletionSpec extends TurnSpec {
  /** stream_options.include_usage: a last chunk with usage and no choices. */
  includeUsage: boolean;
  /** vLLM's `prompt_logprobs`: the response lists the prompt's log-probabilities in vLLM's shape. */
  wirePromptLogprobs?: number;
}

const ROLES = ["system", "developer", "user", "assistant", "tool"] as const;

export function parseChatCompletionRequest(
  raw: unknown,
  defaults: SamplerParams,
  vocabSize = Infinity,
): ChatCompletionSpec {
  const body = requireObjectBody(raw);
  checkFields(body, "chat");
  const model = reqString(body, "model");
  if (body.messages === undefined) {
    throw badRequest("missing required parameter: 'messages'", "messages", "missing_required_parameter");
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw badRequest("'messages' must be a non-empty array", "messages");
  }
  const messages = parseMessages(body.messages);
  const n = optNumber(body, "n", 1, 1, true);
  void n; // only n = 1 is served; optNumber rejects any other value.
  const maxTokens = optNumber(body, "max_completion_tokens", 1, Number.MAX_SAFE_INTEGER, true) ??
    optNumber(body, "max_tokens", 1, Number.MAX_SAFE_INTEGER, true);
  checkModalities(body.modalities);
  checkPrediction(body.prediction);
  optBool(body, "parallel_tool_calls");
  const format = parseFormat(body.response_format, "response_format", messages, "chat");
  const prompt: PromptOptions = { effort: parseEffort(body.reasoning_effort, "reasoning_effort") ?? "low" };
  if (format.responseFormat) prompt.responseFormat = format.responseFormat;
  checkToolChoiceNeedsTools(body);
  const tools = applyToolChoice(parseChatTools(body.tools), body.tool_choice);
  if (tools.length > 0) prompt.tools = tools;
  const output = forcedToolCall(tools, body.tool_choice) ?? format.output;
  const logprobs = parseTopLogprobs(body, optBool(body, "logprobs") ?? false);
  const promptLogprobs = parsePromptLogprobs(body);
  return {
    model,
    messages,
    prompt,
    maxTokens,
    ...parseGenerationFields(body, defaults, vocabSize),
    ...(output ? { output } : {}),
    ...(logprobs !== undefined ? { logprobs } : {}),
    ...(promptLogprobs !== undefined ? { promptLogprobs, wirePromptLogprobs: promptLogprobs } : {}),
  };
}

/** The fields both completions APIs read alike: sampling and penalties, logit_bias, stop, streaming. */
export function parseGenerationFields(
  body: Json,
  defaults: SamplerParams,
  vocabSize: number,
): Pick<ChatCompletionSpec, "sampler" | "stops" | "stream" | "includeUsage" | "logitBias"> {
  const logitBias = parseLogitBias(body.logit_bias, vocabSize);
  return {
    sampler: parseSampler(body, defaults),
    stops: parseStop(body.stop),
    stream: optBool(body, "stream") ?? false,
    includeUsage: parseIncludeUsage(body),
    ...(logitBias ? { logitBias } : {}),
  };
}

/** `modalities`: text is all ossi writes. */
function checkModalities(v: unknown): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v) || v.some((m) => m !== "text" && m !== "audio")) {
    throw badRequest("'modalities' must be an array of 'text' and 'audio'", "modalities");
  }
  if (v.includes("audio")) throw badRequest("audio output is not supported (text only)", "modalities");
}

/** `prediction` only speeds OpenAI up (the answer is the same), so a valid one is accepted as it is. */
function checkPrediction(v: unknown): void {
  if (v === undefined || v === null) return;
  if (!isObject(v) || v.type !== "content" || (typeof v.content !== "string" && !Array.isArray(v.content))) {
    throw badRequest("'prediction' must be {type: \"content\", content}", "prediction");
  }
}

function parseMessages(list: unknown[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  /** Function names of the tool calls seen so far, by call id (a tool message may omit its name). */
  const callNames = new Map<string, string>();
  for (const [i, m] of list.entries()) {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw badRequest(`'${at}' must be an object`, at);
    const role = m.role;
    if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role)) {
      throw badRequest(`'${at}.role' must be one of ${ROLES.join(", ")}`, `${at}.role`);
    }
    const content = contentText(m.content, `${at}.content`, ["text", "refusal"]);
    const msg: ChatMessage = { role: role as ChatMessage["role"], content };
    if (role === "assistant") {
      const reasoning = optString(m, "reasoning_content") ?? optString(m, "reasoning");
      if (reasoning) msg.reasoning = reasoning;
      if (m.tool_calls !== undefined && m.tool_calls !== null) {
        msg.toolCalls = parseToolCalls(m.tool_calls, `${at}.tool_calls`);
        for (const c of msg.toolCalls) callNames.set(c.id, c.name);
      }
    } else if (role === "tool") {
      const id = optString(m, "tool_call_id");
      if (id === undefined) {
        throw badRequest(
          `missing required parameter: '${at}.tool_call_id'`,
          `${at}.tool_call_id`,
          "missing_required_parameter",
        );
      }
      msg.toolCallId = id;
      const name = optString(m, "name") ?? callNames.get(id);
      if (name === undefined) {
        throw badRequest(`'${at}.tool_call_id' ${id} answers no earlier tool call`, `${at}.tool_call_id`);
      }
      msg.name = name;
    }
    out.push(msg);
  }
  return out;
}

function parseToolCalls(v: unknown, at: string): ToolCall[] {
  if (!Array.isArray(v)) throw badRequest(`'${at}' must be an array`, at);
  return v.map((c, j) => {
    const p = `${at}[${j}]`;
    if (!isObject(c) || !isObject(c.function)) {
      throw badRequest(`'${p}' must be {id, type: "function", function}`, p);
    }
    const fn = c.function as Json;
    return {
      id: reqString(c, "id"),
      name: reqString(fn, "name"),
      arguments: optString(fn, "arguments") ?? "{}",
    };
  });
}

/** Chat-completions tools: [{type: "function", function: {name, description, parameters}}]. */
function parseChatTools(v: unknown): ToolDef[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badRequest("'tools' must be an array", "tools");
  return v.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t) || t.type !== "function" || !isObject(t.function)) {
      throw badRequest(
        `'${at}' must be {type: "function", function: {...}} (only function tools are supported)`,
        at,
      );
    }
    return toolDef(t.function, `${at}.function`);
  });
}

/** A function tool's name, description and JSON-schema parameters. */
export function toolDef(fn: Json, at: string): ToolDef {
  const name = reqString(fn, "name");
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    throw badRequest(`'${at}.name' must be 1-64 letters, digits, _ . -`, `${at}.name`);
  }
  const def: ToolDef = { name };
  const description = optString(fn, "description");
  if (description !== undefined) def.description = description;
  if (fn.parameters !== undefined && fn.parameters !== null) {
    if (!isObject(fn.parameters)) {
      throw badRequest(`'${at}.parameters' must be a JSON schema object`, `${at}.parameters`);
    }
    def.parameters = fn.parameters;
  }
  return def;
}

/**
 * tool_choice: "none" hides the tools; a named function keeps only that one; "auto" and "required" offer
 * them all (the model is not forced to call one).
 */
export function applyToolChoice(tools: ToolDef[], choice: unknown): ToolDef[] {
  if (choice === undefined || choice === null || choice === "auto" || choice === "required") return tools;
  if (choice === "none") return [];
  if (isObject(choice)) {
    const name = isObject(choice.function) ? choice.function.name : choice.name;
    const kept = tools.filter((t) => t.name === name);
    if (typeof name === "string" && kept.length === 1) return kept;
    throw badRequest(`'tool_choice' names a function that is not in 'tools': ${String(name)}`, "tool_choice");
  }
  throw badRequest("'tool_choice' must be none, auto, required or {type: \"function\", ...}", "tool_choice");
}
