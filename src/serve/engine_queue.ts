// A FIFO admission queue over the engine's KV slots: at most `capacity` requests (one per slot) own a
// place from acquire() until they call release, so the engine never holds more turns than it has slots;
// at most `maxWaiting` requests wait, and one more is refused at once with 429.

import { ApiError } from "./api_error.ts";

export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
}

export class EngineQueue {
  private owners = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly maxWaiting: number, readonly capacity = 1) {}

  /** Requests waiting for a place (the owners excluded). */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Requests that own a place (generating on a slot). */
  get running(): number {
    return this.owners;
  }

  get busy(): boolean {
    return this.owners > 0;
  }

  /**
   * Resolves with a release function once this request owns a place; rejects with the signal's reason
   * if it aborts while waiting (its place in line is freed). Throws ApiError 429 synchronously when the
   * queue is full, so a streaming route can refuse before it sends its headers.
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.owners < this.capacity && this.waiters.length === 0) return Promise.resolve(this.grantNext());
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
    this.owners++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.owners--;
      const next = this.waiters.shift();
      if (next) next.grant(this.grantNext());
    };
  }
}
