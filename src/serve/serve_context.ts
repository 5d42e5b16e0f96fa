// What every route shares: the engine behind its FIFO queue (one place per KV slot), the served model's
// name and context size, default sampling, the checks a turn passes before it may queue (model name,
// prompt length), and the requests in flight (stopped by their client leaving, POST /stop or shutdown).

import type { ChatRequest, EncodedPrompt } from "../chat/chat_engine.ts";
import type { SamplerParams } from "../chat/sampler.ts";
import { ContextOverflowError } from "../engine/session.ts";
import { ModelChangedError, OssiError } from "../errors.ts";
import { ApiError, badRequest, toApiError } from "./api_error.ts";
import { EngineQueue } from "./engine_queue.ts";
import type { ChatService } from "../service/chat_service.ts";
import type { TurnSpec } from "./chat_completions_request.ts";
import { TokenIds, wantsTokenIds } from "./token_ids.ts";

export interface ServeOptions {
  engine: ChatService;
  /** The name clients use in `model` (GET /v1/models lists it). */
  modelId: string;
  /** Other names accepted in `model` (the folder path, the Hub id's name part), not listed. */
  aliases?: string[];
  /** Names given with --alias: accepted and listed by GET /v1/models. */
  listedAliases?: string[];
  /** KV-cache capacity in tokens: longer prompts get 400 (default: the engine's). */
  contextSize?: number;
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

/** A turn admitted to the queue: validated and encoded, with its generated ids (return_token_ids). */
export interface AdmittedTurn {
  readonly req: TrackedRequest;
  readonly prepared: PreparedTurn;
  readonly ids: TokenIds;
  /** Resolves with the release of a place in the queue (the request must give it back). */
  readonly place: Promise<() => void>;
}

/** A request in flight: `abort` stops it (client gone, POST /stop, shutdown); `done` unregisters it. */
export interface TrackedRequest {
  readonly id: string;
  readonly abort: AbortController;
  done(): void;
}

export class ServeContext {
  readonly queue: EngineQueue;
  readonly engine: ChatService;
  readonly contextSize: number;
  readonly created = Math.floor(Date.now() / 1000);
  /** Requests between their validation and their last byte, by response id. */
  private readonly inFlight = new Map<string, AbortController>();
  private stopping = false;

  constructor(readonly opts: ServeOptions) {
    this.engine = opts.engine;
    this.contextSize = opts.contextSize ?? opts.engine.info.contextSize;
    this.queue = new EngineQueue(opts.maxWaiting ?? 32, opts.engine.info.slots);
  }

  /** True once shutDown() ran: new requests get 503. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** Stops every request in flight and refuses new ones. */
  shutDown(): void {
    this.stopping = true;
    for (const abort of this.inFlight.values()) abort.abort();
  }

  /** Stops the request with this response id; false when none such is in flight. */
  stop(id: string): boolean {
    const abort = this.inFlight.get(id);
    abort?.abort();
    return abort !== undefined;
  }

  /**
   * Registers a request as `id`, checks and encodes its turn and asks for a place in the queue (429 at once
   * when full). On a throw the request is unregistered; otherwise its owner calls req.done() at its end.
   */
  async admit(spec: TurnSpec, id: string, body: unknown, client: AbortSignal): Promise<AdmittedTurn> {
    const req = this.track(id, client);
    try {
      const prepared = await this.prepare(spec, req.abort.signal);
      const ids = new TokenIds(wantsTokenIds(body), prepared.request.encoded!.ids);
      prepared.request.onToken = ids.onToken;
      return { req, prepared, ids, place: this.queue.acquire(req.abort.signal) };
    } catch (e) {
      req.done();
      throw e;
    }
  }

  /** Registers a request: it stops when `client` aborts (the connection closed), on stop(id) or shutdown. */
  track(id: string, client: AbortSignal): TrackedRequest {
    this.refuseWhenStopping();
    const abort = new AbortController();
    const onGone = () => abort.abort();
    client.addEventListener("abort", onGone, { once: true });
    if (client.aborted) abort.abort();
    this.inFlight.set(id, abort);
    return {
      id,
      abort,
      done: () => {
        client.removeEventListener("abort", onGone);
        this.inFlight.delete(id);
      },
    };
  }

  /** 503 while the server shuts down. */
  refuseWhenStopping(): void {
    if (this.stopping) throw shutdownError();
  }

  /**
   * Waits for a place in the queue. A request stopped meanwhile gets 503 if the server is shutting down,
   * else 499 (its client left, nobody reads it, nothing is logged).
   */
  async awaitPlace(place: Promise<() => void>, signal: AbortSignal): Promise<() => void> {
    try {
      return await place;
    } catch (e) {
      if (!signal.aborted) throw e;
      this.refuseWhenStopping();
      throw new ApiError(499, "the client closed the request", "invalid_request_error", "client_closed");
    }
  }

  /**
   * The error a stream reports when it stopped: only shutdown is worth telling (503). `param` names the
   * request field that holds the prompt.
   */
  streamError(e: unknown, stopped: boolean, param?: string): ApiError | null {
    if (stopped) return this.stopping ? shutdownError() : null;
    return toApiError(engineError(e, param));
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
   * Checks the model, renders and encodes the prompt (in the engine's worker, off this thread) and checks
   * its length; the ChatRequest is ready to run once the request has a place in the queue.
   */
  async prepare(spec: TurnSpec, signal: AbortSignal): Promise<PreparedTurn> {
    this.checkModel(spec.model);
    const param = spec.promptParam ?? "messages";
    let encoded: EncodedPrompt;
    try {
      encoded = await this.engine.encodeConversation(spec.messages, spec.prompt);
    } catch (e) {
      throw engineError(e, param);
    }
    const promptTokens = encoded.ids.length;
    const room = this.contextSize - promptTokens;
    if (room < 1) {
      throw new ApiError(
        400,
        `This model's context holds ${this.contextSize} tokens; the prompt is ${promptTokens} tokens`,
        "invalid_request_error",
        "context_length_exceeded",
        param,
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
    if (spec.promptLogprobs !== undefined) request.promptLogprobs = spec.promptLogprobs;
    if (spec.logitBias) request.logitBias = spec.logitBias;
    return { request, promptTokens };
  }

  logError(e: unknown): void {
    if (e instanceof ApiError && e.status < 500) return;
    this.opts.log?.(`ossi serve: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}

function shutdownError(): ApiError {
  return new ApiError(503, "the server is shutting down", "server_error", "shutting_down");
}

/**
 * Engine-side errors as API errors: a too-long prompt or bad conversation is the client's (400), named
 * by `param`, the request field that holds the prompt.
 */
export function engineError(e: unknown, param = "messages"): unknown {
  if (e instanceof ModelChangedError) return new ApiError(503, e.message, "server_error", "model_changed");
  if (e instanceof ContextOverflowError) {
    return new ApiError(400, e.message, "invalid_request_error", "context_length_exceeded", param);
  }
  if (e instanceof OssiError) return badRequest(e.message, param);
  return e;
}
