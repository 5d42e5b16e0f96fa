// What the REPL, `ossi run` and the server hold: a chat engine with one or more KV slots, either in this
// thread (LocalChatService: tests, stub engines, and the engine worker itself) or in a worker
// (WorkerChatService: the CLI), behind one interface. Everything that crosses it is structured-clone safe.

import type { ChatRequest, ChatUsage, EncodedPrompt } from "../chat/chat_engine.ts";
import type { ChatFormatName } from "../chat/chat_formats.ts";
import type { ChatEvent } from "../chat/harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "../chat/messages.ts";
import type { Precision } from "../backends/backend.ts";
import type { StatsSnapshot } from "../engine/engine_stats.ts";

export interface EngineInfo {
  /** The backend running the model: "ref", "wasm", "webgpu" (or a stub's name in tests). */
  readonly backend: string;
  /** The backend's arithmetic: "fast" (the wasm int8 path) or "exact". */
  readonly precision: Precision;
  /** KV-cache capacity of each slot, in tokens. */
  readonly contextSize: number;
  /** The tokenizer's vocabulary size. */
  readonly vocabSize: number;
  /** KV slots: conversations generating at once, each with its own cache. */
  readonly slots: number;
  /** How prompts are written and answers read: harmony, the folder's chat template or plain completion. */
  readonly format: ChatFormatName;
}

export interface ChatService {
  readonly info: EngineInfo;
  /**
   * Renders and encodes a conversation as chat() would (pass the result as ChatRequest.encoded to skip
   * doing it again); first checks that the model's files are unchanged (ModelChangedError).
   */
  encodeConversation(messages: ChatMessage[], prompt: PromptOptions): Promise<EncodedPrompt>;
  /**
   * Streams one assistant turn on a free slot (waiting for one if all are busy); the last event is
   * {type: "done"}. Aborting `req.signal` stops it within a layer of the forward pass, prefill included.
   */
  chat(req: ChatRequest): AsyncGenerator<ChatEvent, ChatUsage, void>;
  /** Live counters, read without waiting for the engine (which may be busy computing). */
  stats(): StatsSnapshot;
  /** Stops every turn and frees the backend. */
  close(): Promise<void>;
}
