// A FIFO lock over the one engine: a request owns the engine from acquire() until it calls release, so two
// generations never interleave (they would otherwise share one KV cache). At most `maxWaiting` requests wait;
// one more is refused at once with 429.

import { ApiError } from "./api_error.ts";

export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
}

export class EngineQueue {
  private owner: symbol | null = null;
  private readonly waiters: Waiter[] = [];

  constructor(readonly maxWaiting: number) {}

  /** Requests waiting for the engine (the owner excluded). */
  get waiting(): number {
    return this.waiters.length;
  }

  get busy(): boolean {
    return this.owner !== null;
  }

  /**
   * Resolves with a release function once this request owns the engine; rejects with the signal's reason
   * if it aborts while waiting (its place is freed). Throws ApiError 429 synchronously when the queue is
   * full, so a streaming route can refuse before it sends its headers.
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.owner === null) return Promise.resolve(this.grantNext());
    if (this.waiters.length >= this.maxWaiting) {
      throw new ApiError(
        429,
        `server busy: ${this.waiters.length} requests already waiting`,
        "rate_limit_error",
        "queue_full",
      );
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Makes a new owner and returns its release; releasing twice is harmless. */
  private grantNext(): Release {
    const token = Symbol("owner");
    this.owner = token;
    return () => {
      if (this.owner !== token) return;
      this.owner = null;
      const next = this.waiters.shift();
      if (next) next.grant(this.grantNext());
    };
  }
}
