// ChatEngine: one assistant turn end to end (render, encode, generate on the KV-reusing Session, parse
// harmony). What the REPL, `ossi run` and the server all stand on.

import type { TokenGenerator } from "../engine/session.ts";
import type { ChatEvent } from "./harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "./messages.ts";
import type { PromptRenderer } from "./prompt.ts";
import type { SamplerParams } from "./sampler.ts";
import type { Tokenizer } from "./tokenizer.ts";

export interface ChatRequest {
  messages: ChatMessage[];
  prompt: PromptOptions;
  sampler: SamplerParams;
  maxTokens: number;
  signal?: AbortSignal;
}

export interface ChatUsage {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  prefillMs: number;
  decodeMs: number;
  contextUsed: number;
  contextSize: number;
}

export class ChatEngine {
  constructor(
    readonly gen: TokenGenerator,
    readonly tokenizer: Tokenizer,
    readonly renderer: PromptRenderer,
    readonly stopTokens: number[],
  ) {}

  // deno-lint-ignore require-yield
  async *chat(_req: ChatRequest): AsyncGenerator<ChatEvent, ChatUsage, void> {
    throw new Error("ChatEngine.chat: not implemented yet");
  }

  countPromptTokens(messages: ChatMessage[], prompt: PromptOptions): number {
    return this.tokenizer.encode(this.renderer.render(messages, prompt)).length;
  }
}

export interface OpenChatOptions {
  backend?: string;
  threads?: number;
  maxContext?: number;
  onProgress?: (done: number, total: number) => void;
}

export function openChatEngine(_modelDir: string, _opts: OpenChatOptions = {}): Promise<ChatEngine> {
  return Promise.reject(new Error("openChatEngine: not implemented yet"));
}
