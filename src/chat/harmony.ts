// The built-in harmony renderer: a conversation to the prompt text gpt-oss was trained on (system,
// developer with function tools, user, earlier assistant turns, tool results), ending "<|start|>assistant".

import { OssiError } from "../errors.ts";
import {
  type ChatMessage,
  type PromptOptions,
  type ResponseFormatPrompt,
  todayIso,
  type ToolDef,
} from "./messages.ts";
import { PromptBuilder, type RenderedPrompt } from "./rendered_prompt.ts";

export const DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI.";
export const KNOWLEDGE_CUTOFF = "2024-06";

/** The system message: identity, dates, reasoning effort, channels (and the tools' channel rule). */
export function renderSystemContent(opts: PromptOptions): string {
  const lines = [
    opts.system ?? DEFAULT_IDENTITY,
    `Knowledge cutoff: ${KNOWLEDGE_CUTOFF}`,
    `Current date: ${opts.date ?? todayIso()}`,
    "",
    `Reasoning: ${opts.effort}`,
    "",
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.",
  ];
  if (opts.tools?.length) lines.push("Calls to these tools must go to the commentary channel: 'functions'.");
  return lines.join("\n");
}

/** The developer message ("# Instructions", "# Tools", "# Response Formats"), or null when empty. */
export function renderDeveloperContent(
  instructions: string,
  tools: ToolDef[] | undefined,
  format?: ResponseFormatPrompt,
): string | null {
  const parts: string[] = [];
  if (instructions) parts.push(`# Instructions\n\n${instructions}`);
  if (tools?.length) parts.push(`# Tools\n\n## functions\n\n${renderFunctionsNamespace(tools)}`);
  if (format) parts.push(renderResponseFormat(format));
  return parts.length ? parts.join("\n\n") : null;
}

/** harmony's structured-output section: the format's name, its description as a comment, the schema. */
export function renderResponseFormat(f: ResponseFormatPrompt): string {
  const comment = f.description ? f.description.split("\n").map((l) => `// ${l}`).join("\n") + "\n" : "";
  return `# Response Formats\n\n## ${f.name}\n\n${comment}${JSON.stringify(f.schema)}`;
}

/** `namespace functions { ... }` with one TypeScript-like type per tool. */
export function renderFunctionsNamespace(tools: ToolDef[]): string {
  let s = "namespace functions {\n\n";
  for (const t of tools) {
    if (t.description) s += t.description.split("\n").map((l) => `// ${l}`).join("\n") + "\n";
    const params = t.parameters;
    if (!isSchema(params) || !isSchema(params.properties) || Object.keys(params.properties).length === 0) {
      s += `type ${t.name} = () => any;\n\n`;
    } else s += `type ${t.name} = (_: ${objectType(params, "")}) => any;\n\n`;
  }
  return s + "} // namespace functions";
}

type Schema = Record<string, unknown>;

/** Schemas come from clients: anything that is not a JSON object renders as `any`, never throws. */
function isSchema(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An object schema as `{\n// desc\nname?: type, // default: x\n}`; nested objects indent by two. */
function objectType(schema: Schema, indent: string): string {
  const props = isSchema(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  let s = "{\n";
  for (const [name, prop] of Object.entries(props)) {
    if (isSchema(prop) && typeof prop.description === "string") {
      for (const line of prop.description.split("\n")) s += `${indent}// ${line}\n`;
    }
    const opt = required.has(name) ? "" : "?";
    let line = `${indent}${name}${opt}: ${typeOf(prop, indent + "  ")},`;
    if (isSchema(prop) && prop.default !== undefined) line += ` // default: ${formatDefault(prop.default)}`;
    s += line + "\n";
  }
  return s + indent.slice(2) + "}";
}

function formatDefault(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A JSON-schema type in the TypeScript-like syntax harmony uses. */
function typeOf(schema: unknown, indent: string): string {
  if (!isSchema(schema)) return "any";
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v) ?? "null").join(" | ");
  if ("const" in schema) return JSON.stringify(schema.const) ?? "null";
  const union = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(union)) return union.map((s) => typeOf(s, indent)).join(" | ");
  const t = schema.type;
  if (Array.isArray(t)) return t.map((x) => typeOf({ ...schema, type: x }, indent)).join(" | ");
  switch (t) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      if (!isSchema(schema.items)) return "any[]";
      const inner = typeOf(schema.items, indent);
      return inner.includes(" | ") ? `(${inner})[]` : `${inner}[]`;
    }
    case "object":
      return isSchema(schema.properties) ? objectType(schema, indent) : "object";
    default:
      return "any";
  }
}

/** One harmony message. Its body is user text, and so is each `{ name }` part of its header. */
function message(
  out: PromptBuilder,
  header: (string | { name: string })[],
  body: string,
  end = "<|end|>",
): void {
  out.markup("<|start|>");
  for (const part of header) typeof part === "string" ? out.markup(part) : out.literal(part.name);
  out.markup("<|message|>").literal(body).markup(end);
}

/**
 * Renders a conversation. System and developer messages become the developer "# Instructions" (in
 * order); `opts.system` replaces the identity line. Reasoning of assistant messages is kept only after
 * the last user message (an ongoing tool-calling turn), as harmony requires; earlier analysis is dropped.
 * Message bodies and the function names in headers are literal: no user text can spell harmony markup.
 */
export function renderHarmonyPrompt(messages: ChatMessage[], opts: PromptOptions): RenderedPrompt {
  const out = new PromptBuilder();
  message(out, ["system"], renderSystemContent(opts));
  const instructions = messages
    .filter((m) => m.role === "system" || m.role === "developer")
    .map((m) => m.content)
    .join("\n\n");
  const developer = renderDeveloperContent(instructions, opts.tools, opts.responseFormat);
  if (developer !== null) message(out, ["developer"], developer);

  let lastUser = -1;
  messages.forEach((m, i) => {
    if (m.role === "user") lastUser = i;
  });
  /** Function name of each tool call id seen so far, for tool results that carry only the id. */
  const callNames = new Map<string, string>();
  messages.forEach((m, i) => {
    switch (m.role) {
      case "system":
      case "developer":
        return;
      case "user":
        message(out, ["user"], m.content);
        return;
      case "assistant": {
        if (i > lastUser && m.reasoning) message(out, ["assistant<|channel|>analysis"], m.reasoning);
        const calls = m.toolCalls ?? [];
        // Text next to tool calls is a preamble (commentary); on its own it is the final answer.
        if (m.content) {
          message(out, [`assistant<|channel|>${calls.length ? "commentary" : "final"}`], m.content);
        }
        for (const c of calls) {
          callNames.set(c.id, c.name);
          message(
            out,
            ["assistant<|channel|>commentary to=functions.", { name: c.name }, " <|constrain|>json"],
            c.arguments,
            "<|call|>",
          );
        }
        return;
      }
      case "tool": {
        const name = m.name ?? (m.toolCallId ? callNames.get(m.toolCallId) : undefined);
        if (!name) {
          throw new OssiError(`tool message ${i} names no function (set name or a known toolCallId)`);
        }
        message(out, ["functions.", { name }, " to=assistant<|channel|>commentary"], m.content);
        return;
      }
    }
  });
  return out.markup("<|start|>assistant").build();
}

/** The prompt text of renderHarmonyPrompt(). */
export function renderHarmony(messages: ChatMessage[], opts: PromptOptions): string {
  return renderHarmonyPrompt(messages, opts).text;
}
