// Session: one conversation's KV cache (slot 0 of a backend). Generation reuses the longest prefix of the
// new prompt that is already in the cache, so a chat turn only prefills its new tokens; the prefill runs
// in the backend's chunks, so an abort keeps every chunk completed before it.
// The narrow interface the REPL, pipe mode and server share is `TokenGenerator`.

import { type Backend, ForwardAbortedError, type ForwardOptions } from "../backends/backend.ts";
import { OssiError } from "../errors.ts";

export interface GenerateRequest {
  /** Full prompt token ids (the whole conversation so far). */
  readonly prompt: readonly number[];
  /** Picks the next token from [vocab] logits. */
  readonly sample: (logits: Float32Array) => number;
  /** `sample` is the plain argmax of the logits: the session may ask a backend with greedy() for the token. */
  readonly greedy?: boolean;
  /** Generation ends after emitting one of these (the stop token is yielded). */
  readonly stopTokens: ReadonlySet<number>;
  readonly maxTokens: number;
  /** Aborting ends the generator within a layer or a prefill chunk; the cache stays consistent. */
  readonly signal?: AbortSignal;
}

export interface GenerationStats {
  promptTokens: number;
  /** Prompt tokens found in the KV cache and not computed again. */
  cachedTokens: number;
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
  /** Tokens in the context after this generation. */
  contextUsed: number;
  contextSize: number;
}

/** What REPL, pipe and server need of an engine: stream tokens for a prompt. */
export interface TokenGenerator {
  readonly vocabSize: number;
  readonly contextSize: number;
  readonly lastStats: GenerationStats | null;
  generate(req: GenerateRequest): AsyncGenerator<number, void, void>;
  /** Forgets the cached context (next prompt is computed from scratch). */
  reset(): void;
  /** Throws (ModelChangedError) when the model's files changed on disk since they were loaded. */
  checkModel?(): void;
}

export class ContextOverflowError extends OssiError {
  override name = "ContextOverflowError";
}

export class Session implements TokenGenerator {
  /** Tokens whose keys/values are in the backend's cache, in position order. */
  private cached: number[] = [];
  lastStats: GenerationStats | null = null;

  /**
   * Any backend; the session uses its slot 0. `checkFiles` throws when the weight files changed on disk
   * (TensorStore.checkUnchanged): it runs before every generation, since a backend reading a mapping in
   * place dies (SIGBUS) on a shrunk file.
   */
  constructor(
    readonly backend: Backend,
    private readonly checkFiles: () => void = () => {},
  ) {}

  checkModel(): void {
    this.checkFiles();
  }

  get vocabSize(): number {
    return this.backend.config.vocabSize;
  }

  get contextSize(): number {
    return this.backend.maxContext;
  }

  reset(): void {
    this.cached = [];
  }

  async *generate(req: GenerateRequest): AsyncGenerator<number, void, void> {
    const { prompt } = req;
    this.checkFiles();
    if (prompt.length === 0) throw new OssiError("empty prompt");
    if (prompt.length >= this.contextSize) {
      throw new ContextOverflowError(
        `prompt is ${prompt.length} tokens; the context holds ${this.contextSize}`,
      );
    }
    // Longest shared prefix, leaving at least one prompt token to compute the next-token logits from.
    let p = 0;
    const limit = Math.min(this.cached.length, prompt.length - 1);
    while (p < limit && this.cached[p] === prompt[p]) p++;
    const stats: GenerationStats = {
      promptTokens: prompt.length,
      cachedTokens: p,
      prefillTokens: prompt.length - p,
      prefillMs: 0,
      decodeTokens: 0,
      decodeMs: 0,
      contextUsed: p,
      contextSize: this.contextSize,
    };
    this.lastStats = stats;
    this.cached.length = p;
    const next = this.nextToken(req);
    const opts = { shouldStop: () => req.signal?.aborted === true };
    const t0 = performance.now();
    // prefill all but the last chunk without logits; each completed chunk stays cached
    const chunk = this.backend.chunkTokens;
    let token: number;
    try {
      while (prompt.length - this.cached.length > chunk) {
        const tokens = prompt.slice(this.cached.length, this.cached.length + chunk);
        await this.backend.forward([{ slot: 0, tokens, pos: this.cached.length, logits: "none" }], opts);
        this.cached.push(...tokens);
      }
      token = await next(prompt.slice(this.cached.length), this.cached.length, opts);
    } catch (e) {
      stats.contextUsed = this.cached.length;
      if (e instanceof ForwardAbortedError) return;
      throw e;
    }
    this.cached.push(...prompt.slice(this.cached.length));
    stats.prefillMs = performance.now() - t0;
    stats.contextUsed = this.cached.length;

    const t1 = performance.now();
    for (let i = 0; i < req.maxTokens; i++) {
      if (req.signal?.aborted) break;
      stats.decodeTokens++;
      yield token;
      if (req.stopTokens.has(token) || i + 1 === req.maxTokens) break;
      if (this.cached.length + 1 >= this.contextSize) break;
      if (req.signal?.aborted) break;
      const fed = token;
      try {
        token = await next([fed], this.cached.length, opts);
      } catch (e) {
        if (e instanceof ForwardAbortedError) break;
        throw e;
      }
      this.cached.push(fed);
      stats.contextUsed = this.cached.length;
      stats.decodeMs = performance.now() - t1;
    }
    stats.decodeMs = performance.now() - t1;
  }

  /** How the next token is chosen after running tokens at pos: the backend's argmax, or sample(logits). */
  private nextToken(
    req: GenerateRequest,
  ): (tokens: number[], pos: number, opts: ForwardOptions) => Promise<number> {
    const b = this.backend;
    if (req.greedy && b.greedy) {
      return async (tokens, pos, opts) => (await b.greedy!([{ slot: 0, tokens, pos }], opts))[0];
    }
    return async (tokens, pos, opts) =>
      req.sample((await b.forward([{ slot: 0, tokens, pos, logits: "last" }], opts))[0]);
  }
}
