// Live counters of an engine in one buffer that another thread can read while the engine's thread is busy
// computing (a SharedArrayBuffer when the engine lives in a worker): tokens prefilled, reused and generated,
// turns running and waiting, and each slot's context use. The engine's thread is the only writer.

/** Header fields, then `slots` context counts, then `slots` busy flags. */
const PREFILLED = 0, CACHED = 1, GENERATED = 2, RUNNING = 3, WAITING = 4, FINISHED = 5, HEADER = 6;

export interface StatsSnapshot {
  /** Prompt tokens computed (prefilled) since the engine started. */
  readonly promptTokens: number;
  /** Prompt tokens found in a slot's KV cache and not computed again. */
  readonly cachedTokens: number;
  /** Tokens sampled. */
  readonly generatedTokens: number;
  /** Turns generating now, and turns waiting for a slot inside the engine. */
  readonly running: number;
  readonly waiting: number;
  /** Turns that ended (finished, stopped or failed). */
  readonly finished: number;
  /** Per slot: tokens in its KV cache, and whether a turn is running on it. */
  readonly slots: readonly { readonly contextUsed: number; readonly busy: boolean }[];
}

export class EngineStats {
  private readonly v: Float64Array;

  /** Over `buffer` (shared with a reader on another thread), or a fresh one. */
  constructor(readonly slots: number, readonly buffer: ArrayBufferLike = EngineStats.sharedBuffer(slots)) {
    this.v = new Float64Array(buffer, 0, HEADER + 2 * slots);
  }

  static sharedBuffer(slots: number): SharedArrayBuffer {
    return new SharedArrayBuffer((HEADER + 2 * slots) * 8);
  }

  /** Prompt tokens reused from a slot's cache. */
  countCached(n: number): void {
    this.v[CACHED] += n;
  }

  /** Prompt tokens computed. */
  countPrefilled(n: number): void {
    this.v[PREFILLED] += n;
  }

  countGenerated(n = 1): void {
    this.v[GENERATED] += n;
  }

  /** Tokens in `slot`'s KV cache. */
  setContext(slot: number, contextUsed: number): void {
    this.v[HEADER + slot] = contextUsed;
  }

  setBusy(slot: number, busy: boolean): void {
    this.v[HEADER + this.slots + slot] = busy ? 1 : 0;
  }

  setTurns(running: number, waiting: number): void {
    this.v[RUNNING] = running;
    this.v[WAITING] = waiting;
  }

  countFinished(): void {
    this.v[FINISHED]++;
  }

  snapshot(): StatsSnapshot {
    const v = this.v, n = this.slots;
    return {
      promptTokens: v[PREFILLED],
      cachedTokens: v[CACHED],
      generatedTokens: v[GENERATED],
      running: v[RUNNING],
      waiting: v[WAITING],
      finished: v[FINISHED],
      slots: Array.from(
        { length: n },
        (_, i) => ({ contextUsed: v[HEADER + i], busy: v[HEADER + n + i] === 1 }),
      ),
    };
  }
}
