// The conversation types shared by the chat layer, the REPL, `ossi run` and the server
// (the contract is /work/notes/chat_api.md).

export type Effort = "low" | "medium" | "high";
export const EFFORTS: readonly Effort[] = ["low", "medium", "high"];

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text, as the model wrote it. */
  arguments: string;
}

export interface ToolDef {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters?: Record<string, unknown>;
}

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content: string;
  /** assistant only: the analysis text (dropped when rendering earlier turns, as harmony requires). */
  reasoning?: string;
  /** assistant only. */
  toolCalls?: ToolCall[];
  /** tool only: the id of the call this result answers. */
  toolCallId?: string;
  /** tool only: the function name that produced this result. */
  name?: string;
}

/** A structured-output format as the developer message describes it to the model. */
export interface ResponseFormatPrompt {
  name: string;
  description?: string;
  schema: Record<string, unknown>;
}

export interface PromptOptions {
  effort: Effort;
  /** The JSON schema the answer must follow (harmony's "# Response Formats"). */
  responseFormat?: ResponseFormatPrompt;
  /** Replaces the model-identity line of the system message. */
  system?: string;
  tools?: ToolDef[];
  /** YYYY-MM-DD for "Current date:"; default today. */
  date?: string;
  /**
   * A raw completion (the legacy Completions API): this prompt instead of the rendered conversation, with
   * no chat template and no markup, and the output read as plain text up to a stop id.
   */
  raw?: RawPrompt;
}

/**
 * A raw prompt: text, encoded with no special tokens (text that spells one stays text), or token ids as
 * given (each below the vocabulary size).
 */
export type RawPrompt = { readonly text: string } | { readonly ids: readonly number[] };

/** Today's date as YYYY-MM-DD (UTC). */
export function todayIso(): string {
  return new Date().toISOString().slice(0, 10);
}
