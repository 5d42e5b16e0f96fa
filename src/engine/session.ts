// Session: one conversation's KV cache (one slot of a backend). Generation reuses the longest prefix of the
// new prompt that is already in the cache, so a chat turn only prefills its new tokens. Its steps run
// through the backend's BatchScheduler, batched with the other slots' steps; the prefill runs in chunks,
// so an abort keeps every chunk completed before it.
// The narrow interface the REPL, pipe mode and server share is `TokenGenerator`.

import { type Backend, ForwardAbortedError } from "../backends/backend.ts";
import { OssiError } from "../errors.ts";
import { type BatchBackend, BatchScheduler, type Picker } from "./batch_scheduler.ts";
import type { EngineStats } from "./engine_stats.ts";
import { scoreToken, type TokenScore } from "./token_scores.ts";

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
  /**
   * Polled between layers with `signal`: true stops the generation as an abort does. For a flag another
   * thread sets while this one is busy computing (a worker cannot run its abort listeners then).
   */
  readonly shouldStop?: () => boolean;
  /** Scores the prompt's tokens as the prefill computes them (echo with logprobs, prompt_logprobs). */
  readonly scorePrompt?: PromptScoring;
}

/**
 * Prompt token i (i >= 1) is scored against the logits after token i - 1, with `top` alternatives; the
 * first token has no score. A cached prefix has no logits, so a scored prompt is computed from position 0
 * (what it leaves in the cache is reused by later turns as usual). The scores come chunk by chunk, in
 * order, before the first generated token; all prompt.length - 1 of them unless the prefill stopped.
 */
export interface PromptScoring {
  readonly top: number;
  readonly onScores: (scores: TokenScore[]) => void;
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
  /** How many leading tokens of `prompt` the KV cache holds (picks the slot that saves the most work). */
  cachedPrefix?(prompt: readonly number[]): number;
  /** Throws (ModelChangedError) when the model's files changed on disk since they were loaded. */
  checkModel?(): void;
}

export class ContextOverflowError extends OssiError {
  override name = "ContextOverflowError";
}

export interface SessionOptions {
  /** Which KV slot of the scheduler's backend (default 0). */
  readonly slot?: number;
  /** Counters this session adds to (tokens prefilled, reused and generated; its slot's context use). */
  readonly stats?: EngineStats;
  /**
   * Throws when the weight files changed on disk (TensorStore.checkUnchanged): it runs before every
   * generation, since a backend reading a mapping in place dies (SIGBUS) on a shrunk file.
   */
  readonly checkFiles?: () => void;
}

export class Session implements TokenGenerator {
  /** Tokens whose keys/values are in the slot's cache, in position order. */
  private cached: number[] = [];
  private busy = false;
  lastStats: GenerationStats | null = null;
  readonly scheduler: BatchScheduler;
  readonly slot: number;
  private readonly stats: EngineStats | undefined;
  private readonly checkFiles: () => void;

  /** Over a backend of its own (slot 0), or over one slot of a scheduler that several sessions share. */
  constructor(over: Backend | BatchScheduler, opts: SessionOptions = {}) {
    this.scheduler = over instanceof BatchScheduler ? over : new BatchScheduler(over);
    this.slot = opts.slot ?? 0;
    this.stats = opts.stats;
    this.checkFiles = opts.checkFiles ?? (() => {});
    if (this.slot >= this.scheduler.slots) {
      throw new RangeError(`slot ${this.slot} out of range (the backend has ${this.scheduler.slots})`);
    }
  }

  get backend(): BatchBackend {
    return this.scheduler.backend;
  }

  checkModel(): void {
    this.checkFiles();
  }

  get vocabSize(): number {
    return this.scheduler.backend.config.vocabSize;
  }

  get contextSize(): number {
    return this.scheduler.backend.maxContext;
  }

  reset(): void {
    this.cached = [];
    this.stats?.setContext(this.slot, 0);
  }

  cachedPrefix(prompt: readonly number[]): number {
    let p = 0;
    const limit = Math.min(this.cached.length, prompt.length);
    while (p < limit && this.cached[p] === prompt[p]) p++;
    return p;
  }

  async *generate(req: GenerateRequest): AsyncGenerator<number, void, void> {
    if (this.busy) throw new Error(`session on slot ${this.slot}: two generations at once`);
    this.busy = true;
    try {
      yield* this.run(req);
    } finally {
      this.busy = false;
    }
  }

  private async *run(req: GenerateRequest): AsyncGenerator<number, void, void> {
    const { prompt } = req;
    this.checkFiles();
    if (prompt.length === 0) throw new OssiError("empty prompt");
    if (prompt.length >= this.contextSize) {
      throw new ContextOverflowError(
        `prompt is ${prompt.length} tokens; the context holds ${this.contextSize}`,
      );
    }
    // Longest shared prefix, leaving at least one prompt token to compute the next-token logits from; none
    // when the prompt is scored (every token's logits are needed).
    const p = req.scorePrompt ? 0 : Math.min(this.cachedPrefix(prompt), prompt.length - 1);
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
    this.stats?.countCached(p);
    this.stats?.setContext(this.slot, p);
    const stopped = () => req.signal?.aborted === true || req.shouldStop?.() === true;
    const pick: Picker = req.greedy && this.scheduler.backend.greedy ? "greedy" : req.sample;
    // each completed chunk of `tokens` (run at the end of the cache) is cached at once
    const scorer = req.scorePrompt ? promptScorer(prompt, req.scorePrompt, this.vocabSize) : null;
    const step = (tokens: number[], prompt: boolean) => {
      const pos = this.cached.length;
      return this.scheduler.run({
        slot: this.slot,
        tokens,
        pos,
        pick,
        shouldStop: stopped,
        ...(prompt && scorer ? { onRows: scorer } : {}),
        onProgress: (done) => {
          const added = pos + done - this.cached.length;
          for (let i = this.cached.length - pos; i < done; i++) this.cached.push(tokens[i]);
          if (prompt) this.stats?.countPrefilled(added);
          this.stats?.setContext(this.slot, this.cached.length);
        },
      });
    };
    const t0 = performance.now();
    let token: number;
    try {
      token = await step(prompt.slice(p), true);
    } catch (e) {
      stats.contextUsed = this.cached.length;
      if (e instanceof ForwardAbortedError) return;
      throw e;
    }
    stats.prefillMs = performance.now() - t0;
    stats.contextUsed = this.cached.length;

    const t1 = performance.now();
    for (let i = 0; i < req.maxTokens; i++) {
      if (stopped()) break;
      stats.decodeTokens++;
      this.stats?.countGenerated();
      yield token;
      if (req.stopTokens.has(token) || i + 1 === req.maxTokens) break;
      if (this.cached.length + 1 >= this.contextSize) break;
      if (stopped()) break;
      try {
        token = await step([token], false);
      } catch (e) {
        if (e instanceof ForwardAbortedError) break;
        throw e;
      }
      stats.contextUsed = this.cached.length;
      stats.decodeMs = performance.now() - t1;
    }
    stats.decodeMs = performance.now() - t1;
  }
}

/** Reduces each prefill row of a prompt computed from position 0 to the score of the token after it. */
function promptScorer(prompt: readonly number[], scoring: PromptScoring, vocab: number) {
  return (from: number, rows: Float32Array, n: number) => {
    const scores: TokenScore[] = [];
    // row i holds the logits after prompt[i]; the last prompt token's row predicts the first generated one
    for (let r = 0; r < n && from + r + 1 < prompt.length; r++) {
      scores.push(scoreToken(rows.subarray(r * vocab, (r + 1) * vocab), prompt[from + r + 1], scoring.top));
    }
    if (scores.length > 0) scoring.onScores(scores);
  };
}
