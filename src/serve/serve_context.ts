// What every route shares: the engine behind its FIFO queue, the served model's name and context size,
// default sampling, and the checks a turn passes before it may queue (model name, prompt length).

import type { ChatRequest, EncodedPrompt } from "../chat/chat_engine.ts";
import type { SamplerParams } from "../chat/sampler.ts";
import { ContextOverflowError } from "../engine/session.ts";
import { ModelChangedError, OssiError } from "../errors.ts";
import { ApiError, badRequest } from "./api_error.ts";
import { EngineQueue } from "./engine_queue.ts";
import type { TurnEngine } from "./run_turn.ts";
import type { TurnSpec } from "./chat_completions_request.ts";

export interface ServeOptions {
  engine: TurnEngine;
  /** The name clients use in `model` (GET /v1/models lists it). */
  modelId: string;
  /** Other names accepted in `model` (the folder path, the Hub id's name part), not listed. */
  aliases?: string[];
  /** Names given with --alias: accepted and listed by GET /v1/models. */
  listedAliases?: string[];
  /** KV-cache capacity in tokens: longer prompts get 400. */
  contextSize: number;
  /** Sampling when a request sets none (the model's generation_config). */
  sampler: SamplerParams;
  /** When set, /v1/* requires `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Web page origins allowed besides the server's own (`--cors-origin`; "*" for any). */
  corsOrigins?: string[];
  /** Requests that may wait for the engine; one more gets 429. Default 32. */
  maxWaiting?: number;
  /** Where the server reports internal errors (default: nowhere). */
  log?: (line: string) => void;
}

export interface PreparedTurn {
  request: ChatRequest;
  promptTokens: number;
}

export class ServeContext {
  readonly queue: EngineQueue;
  readonly engine: TurnEngine;
  readonly created = Math.floor(Date.now() / 1000);

  constructor(readonly opts: ServeOptions) {
    this.engine = opts.engine;
    this.queue = new EngineQueue(opts.maxWaiting ?? 32);
  }

  get modelId(): string {
    return this.opts.modelId;
  }

  /** The names GET /v1/models lists: the model id, then the --alias names. */
  get servedNames(): string[] {
    return [this.opts.modelId, ...(this.opts.listedAliases ?? [])];
  }

  checkModel(model: string): void {
    if (model === this.opts.modelId || this.opts.aliases?.includes(model)) return;
    if (this.opts.listedAliases?.includes(model)) return;
    throw new ApiError(
      404,
      `The model '${model}' does not exist; this server runs ${
        this.servedNames.map((n) => `'${n}'`).join(", ")
      }`,
      "invalid_request_error",
      "model_not_found",
      "model",
    );
  }

  /**
   * Checks the model, encodes the prompt and checks its length; the ChatRequest is ready to run once the
   * engine is ours. The prompt is rendered and encoded off the main thread (the engine's prompt worker).
   */
  async prepare(spec: TurnSpec, signal: AbortSignal): Promise<PreparedTurn> {
    this.checkModel(spec.model);
    let encoded: EncodedPrompt;
    try {
      this.engine.gen.checkModel?.();
      encoded = await this.engine.encodeConversation(spec.messages, spec.prompt);
    } catch (e) {
      throw engineError(e);
    }
    const promptTokens = encoded.ids.length;
    const room = this.opts.contextSize - promptTokens;
    if (room < 1) {
      throw new ApiError(
        400,
        `This model's context holds ${this.opts.contextSize} tokens; the prompt is ${promptTokens} tokens`,
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
      );
    }
    const maxTokens = Math.min(spec.maxTokens ?? room, room);
    const request: ChatRequest = {
      messages: spec.messages,
      prompt: spec.prompt,
      sampler: spec.sampler,
      maxTokens,
      signal,
      encoded,
    };
    if (spec.output) request.output = spec.output;
    if (spec.logprobs !== undefined) request.logprobs = spec.logprobs;
    if (spec.logitBias) request.logitBias = spec.logitBias;
    return { request, promptTokens };
  }

  logError(e: unknown): void {
    if (e instanceof ApiError && e.status < 500) return;
    this.opts.log?.(`ossi serve: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}

/** Waits for the engine; a client that left while queued gets 499 (nobody reads it; nothing is logged). */
export async function awaitSlot(slot: Promise<() => void>, signal: AbortSignal): Promise<() => void> {
  try {
    return await slot;
  } catch (e) {
    if (signal.aborted) {
      throw new ApiError(499, "the client closed the request", "invalid_request_error", "client_closed");
    }
    throw e;
  }
}

/** Engine-side errors as API errors: a too-long prompt or bad conversation is the client's (400). */
export function engineError(e: unknown): unknown {
  if (e instanceof ModelChangedError) return new ApiError(503, e.message, "server_error", "model_changed");
  if (e instanceof ContextOverflowError) {
    return new ApiError(400, e.message, "invalid_request_error", "context_length_exceeded", "messages");
  }
  if (e instanceof OssiError) return badRequest(e.message, "messages");
  return e;
}
