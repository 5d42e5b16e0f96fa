// Request fields that shape what the model may write, shared by both APIs: structured output formats
// (chat `response_format`, responses `text.format`), forced tool calls (`tool_choice` "required" or a
// named function), log-probabilities and logit bias. Schemas compile here, so an unsupported keyword is a
// 400 naming it before the request queues.

import {
  anyObjectSchema,
  compileSchema,
  SchemaError,
  type SchemaNode,
} from "../chat/constrain/json_schema.ts";
import type { OutputSpec } from "../chat/constrain/output_program.ts";
import type { ChatMessage, ResponseFormatPrompt, ToolDef } from "../chat/messages.ts";
import { badRequest } from "./api_error.ts";
import { isObject, type Json, optBool, optNumber, optString } from "./request_fields.ts";

export interface OutputShape {
  output?: OutputSpec;
  /** Rendered into the developer message ("# Response Formats"). */
  responseFormat?: ResponseFormatPrompt;
  /** The format as the response echoes it (Responses API `text.format`). */
  echo: Json;
}

function compile(schema: unknown, param: string, what: string): SchemaNode {
  try {
    return compileSchema(schema);
  } catch (e) {
    if (e instanceof SchemaError) {
      throw badRequest(`Invalid schema for ${what}: ${e.message}`, param, "invalid_json_schema");
    }
    throw e;
  }
}

/**
 * A format object: {type: "text"} | {type: "json_object"} | {type: "json_schema", ...}. `nested` holds
 * name/schema/strict/description (chat: format.json_schema; responses: the format itself).
 */
export function parseFormat(
  v: unknown,
  param: string,
  messages: ChatMessage[],
  api: "chat" | "responses",
): OutputShape {
  if (v === undefined || v === null) return { echo: { type: "text" } };
  if (!isObject(v) || typeof v.type !== "string") {
    throw badRequest(`'${param}' must be an object with a type (text, json_object or json_schema)`, param);
  }
  switch (v.type) {
    case "text":
      return { echo: { type: "text" } };
    case "json_object": {
      // OpenAI refuses JSON mode unless the conversation asks for JSON.
      if (!messages.some((m) => /json/i.test(m.content))) {
        throw badRequest(
          `'messages' must contain the word 'json' in some form, to use '${param}' of type 'json_object'.`,
          "messages",
        );
      }
      return { output: { kind: "json", root: anyObjectSchema() }, echo: { type: "json_object" } };
    }
    case "json_schema": {
      const at = api === "chat" ? `${param}.json_schema` : param;
      const spec = api === "chat" ? v.json_schema : v;
      if (!isObject(spec)) {
        throw badRequest(`missing required parameter: '${at}'`, at, "missing_required_parameter");
      }
      const name = optString(spec, "name");
      if (name === undefined) {
        throw badRequest(
          `missing required parameter: '${at}.name'`,
          `${at}.name`,
          "missing_required_parameter",
        );
      }
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
        throw badRequest(`'${at}.name' must be 1-64 letters, digits, '_' or '-'`, `${at}.name`);
      }
      const description = optString(spec, "description");
      const strict = optBool(spec, "strict") ?? false;
      const schema = spec.schema ?? {};
      if (!isObject(schema)) throw badRequest(`'${at}.schema' must be a JSON schema object`, `${at}.schema`);
      const root = compile(
        schema,
        `${at}.schema`,
        `${api === "chat" ? "response_format" : "text.format"} '${name}'`,
      );
      const echo: Json = { type: "json_schema", name, schema, strict };
      if (description !== undefined) echo.description = description;
      return {
        output: { kind: "json", root },
        responseFormat: { name, schema, ...(description !== undefined ? { description } : {}) },
        echo,
      };
    }
  }
  throw badRequest(`'${param}.type' must be text, json_object or json_schema`, `${param}.type`);
}

/**
 * The tool call a tool_choice forces: "required" (any of the tools) or one named function; "auto", "none"
 * and no choice force nothing. `named` is the forced function's name (already checked against tools).
 */
export function forcedToolCall(tools: ToolDef[], choice: unknown): OutputSpec | undefined {
  let forced: ToolDef[];
  if (choice === "required") forced = tools;
  else if (isObject(choice)) forced = tools; // applyToolChoice kept only the named function
  else return undefined;
  if (forced.length === 0) {
    throw badRequest(
      "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
      "tool_choice",
    );
  }
  return {
    kind: "tool_call",
    tools: forced.map((t) => ({
      name: t.name,
      root: compile(
        t.parameters ?? { type: "object", additionalProperties: false },
        "tools",
        `function '${t.name}'`,
      ),
    })),
  };
}

/** `tool_choice` given without `tools` (OpenAI refuses any value but "none" then). */
export function checkToolChoiceNeedsTools(body: Json): void {
  const tools = body.tools;
  const none = tools === undefined || tools === null || (Array.isArray(tools) && tools.length === 0);
  const choice = body.tool_choice;
  if (none && choice !== undefined && choice !== null && choice !== "none" && choice !== "auto") {
    throw badRequest(
      "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
      "tool_choice",
    );
  }
}

/** `top_logprobs` 0-20 (how many alternatives per token); `enabled` says whether log-probabilities are on. */
export function parseTopLogprobs(body: Json, enabled: boolean): number | undefined {
  const top = optNumber(body, "top_logprobs", 0, 20, true);
  if (top !== undefined && !enabled) {
    throw badRequest(
      "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is given.",
      "top_logprobs",
    );
  }
  return enabled ? top ?? 0 : undefined;
}

/** `logit_bias`: {"token id": bias in [-100, 100]}. */
export function parseLogitBias(v: unknown, vocabSize: number): Map<number, number> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) {
    throw badRequest("'logit_bias' must be an object mapping token ids to biases", "logit_bias");
  }
  const out = new Map<number, number>();
  for (const [key, bias] of Object.entries(v)) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || !(id < vocabSize)) {
      throw badRequest(
        `Invalid key in 'logit_bias': ${key} is not a token id below ${vocabSize}`,
        "logit_bias",
      );
    }
    if (typeof bias !== "number" || !(bias >= -100 && bias <= 100)) {
      throw badRequest(
        `Invalid value in 'logit_bias' for token ${key}: must be a number in [-100, 100]`,
        "logit_bias",
      );
    }
    out.set(id, bias);
  }
  return out.size ? out : undefined;
}
