// The main thread's handle on the engine worker (engine_worker.ts): the ChatService interface over the
// messages of protocol.ts. A stop sets the turn's shared flag, which the forward pass polls between layers,
// so it takes effect while the worker computes; counters are read from the worker's shared EngineStats.
// Nothing here waits on the engine except the calls that ask it for something.

import type { ChatRequest, ChatUsage, EncodedPrompt } from "../chat/chat_engine.ts";
import type { ChatEvent } from "../chat/harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "../chat/messages.ts";
import { EngineStats, type StatsSnapshot } from "../engine/engine_stats.ts";
import { OssiError } from "../errors.ts";
import type { ChatService, EngineInfo } from "./chat_service.ts";
import type { OpenServiceOptions } from "./open_service.ts";
import { fromWireError, type FromWorker, type ToWorker } from "./protocol.ts";

/** Turns (running or waiting for a slot in the worker) that can be in flight at once. */
const LANES = 4096;
/** How long close() waits for the worker to free the backend before terminating it. */
const CLOSE_MS = 5000;
/** How long a terminated worker is given to wind down before the caller goes on (endWorker). */
const TERMINATE_SETTLE_MS = 50;

type TurnMessage = Extract<FromWorker, { type: "event" | "end" | "error" }>;

/** Messages for one consumer, in order; next() waits for the next one. */
class Inbox<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | null = null;

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
    this.wake = null;
  }

  async next(): Promise<T> {
    while (this.items.length === 0) await new Promise<void>((r) => (this.wake = r));
    return this.items.shift()!;
  }
}

interface Pending<T> {
  resolve(value: T): void;
  reject(e: Error): void;
}

export class WorkerChatService implements ChatService {
  info!: EngineInfo;
  private counters!: EngineStats;
  private readonly stopFlags = new Int32Array(new SharedArrayBuffer(LANES * 4));
  private readonly freeLanes = Array.from({ length: LANES }, (_, i) => LANES - 1 - i);
  private readonly turns = new Map<number, { inbox: Inbox<TurnMessage>; lane: number }>();
  private readonly encodes = new Map<number, Pending<EncodedPrompt>>();
  private opening: (Pending<void> & { onProgress?: (done: number, total: number) => void }) | null = null;
  private closed: Pending<void> | null = null;
  private closing: Promise<void> | null = null;
  private failure: Error | null = null;
  private nextId = 1;

  private constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.dispatch(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this.fail(new OssiError(`the engine stopped: ${e.message}`));
    };
  }

  /**
   * Starts the worker and opens the model in it; rejects with the worker's error (its class kept), or with
   * `signal`'s reason when it aborts first (the worker is then ended, loading or not).
   */
  static async open(
    modelDir: string,
    options: OpenServiceOptions = {},
    onProgress?: (done: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<WorkerChatService> {
    signal?.throwIfAborted();
    const worker = new Worker(new URL("./engine_worker.ts", import.meta.url), { type: "module" });
    const service = new WorkerChatService(worker);
    const onAbort = () => {
      service.opening?.reject(signal!.reason);
      service.opening = null;
    };
    try {
      await new Promise<void>((resolve, reject) => {
        service.opening = { resolve, reject, onProgress };
        signal?.addEventListener("abort", onAbort, { once: true });
        service.post({
          type: "open",
          modelDir,
          options,
          stopFlags: service.stopFlags.buffer as SharedArrayBuffer,
        });
      });
    } catch (e) {
      await endWorker(worker);
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    return service;
  }

  encodeConversation(messages: ChatMessage[], prompt: PromptOptions): Promise<EncodedPrompt> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.encodes.set(id, { resolve, reject });
      this.post({ type: "encode", id, messages, prompt });
    });
  }

  async *chat(req: ChatRequest): AsyncGenerator<ChatEvent, ChatUsage, void> {
    if (this.failure) throw this.failure;
    const lane = this.freeLanes.pop();
    if (lane === undefined) throw new OssiError(`the engine already has ${LANES} turns in flight`);
    const id = this.nextId++, inbox = new Inbox<TurnMessage>();
    Atomics.store(this.stopFlags, lane, 0);
    this.turns.set(id, { inbox, lane });
    const { signal, shouldStop: _local, onToken, ...request } = req;
    const raiseFlag = () => Atomics.store(this.stopFlags, lane, 1);
    const stop = () => {
      raiseFlag();
      this.post({ type: "cancel", id });
    };
    signal?.addEventListener("abort", stop, { once: true });
    let ended = false;
    try {
      // a turn stopped before it is posted has its flag up before the worker can read the chat message
      const stoppedAlready = signal?.aborted === true;
      if (stoppedAlready) raiseFlag();
      this.post({ type: "chat", id, lane, request });
      if (stoppedAlready) this.post({ type: "cancel", id });
      for (;;) {
        const m = await inbox.next();
        // once stopped, what the worker made meanwhile is dropped: the turn ends as an abort
        if (m.type !== "error" && !signal?.aborted) m.tokens.forEach((id) => onToken?.(id));
        if (m.type === "event") {
          if (!signal?.aborted) yield m.event;
          continue;
        }
        ended = true;
        if (m.type === "error") throw fromWireError(m.error);
        if (signal?.aborted) yield { type: "done", reason: "aborted" };
        return m.usage;
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      // a consumer that leaves early stops the turn (its lane is freed when the worker ends it)
      if (!ended && !this.failure) stop();
    }
  }

  stats(): StatsSnapshot {
    return this.counters.snapshot();
  }

  /** Stops every turn, frees the backend and ends the worker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.turns.values()) Atomics.store(this.stopFlags, t.lane, 1);
      if (!this.failure) {
        const done = new Promise<void>((resolve, reject) => (this.closed = { resolve, reject }));
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<void>((r) => (timer = setTimeout(r, CLOSE_MS)));
        this.post({ type: "close" });
        await Promise.race([done.catch(() => {}), late]);
        clearTimeout(timer);
      }
      await endWorker(this.worker);
      this.fail(new OssiError("the engine is closed"));
    })();
    return this.closing;
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private dispatch(m: FromWorker): void {
    switch (m.type) {
      case "progress":
        this.opening?.onProgress?.(m.done, m.total);
        return;
      case "ready":
        this.info = m.info;
        this.counters = new EngineStats(m.info.slots, m.stats);
        this.opening?.resolve();
        this.opening = null;
        return;
      case "failed":
        this.opening?.reject(fromWireError(m.error));
        this.opening = null;
        return;
      case "encoded":
      case "error": {
        const pending = this.encodes.get(m.id);
        if (pending) {
          this.encodes.delete(m.id);
          if (m.type === "encoded") pending.resolve(m.encoded);
          else pending.reject(fromWireError(m.error));
          return;
        }
        if (m.type === "error") this.endTurn(m);
        return;
      }
      case "event":
        this.turns.get(m.id)?.inbox.push(m);
        return;
      case "end":
        this.endTurn(m);
        return;
      case "closed":
        this.closed?.resolve();
        return;
    }
  }

  /** The worker is done with the turn: its last message goes to the consumer, its lane is free again. */
  private endTurn(m: TurnMessage): void {
    const t = this.turns.get(m.id);
    if (!t) return;
    this.turns.delete(m.id);
    this.freeLanes.push(t.lane);
    t.inbox.push(m);
  }

  /** The worker is gone: everything waiting on it fails with `e`. */
  private fail(e: Error): void {
    this.failure ??= e;
    this.opening?.reject(e);
    this.opening = null;
    for (const p of this.encodes.values()) p.reject(e);
    this.encodes.clear();
    const wire = { name: e.name, message: e.message, exitCode: (e as OssiError).exitCode };
    for (const [id, t] of this.turns) t.inbox.push({ type: "error", id, error: wire });
    this.turns.clear();
    this.closed?.resolve();
  }
}

/**
 * Terminates a worker, then lets the event loop turn before anything else runs: Deno winds a terminated
 * worker's thread down from this thread's event loop, and a process that exits before it has (Ctrl-C while
 * the model loads, then exit 130 in the same task) crashed in that teardown, 3 times in 60 (SIGSEGV, or
 * "corrupted double-linked list"); with the turn, never in 240 (run, chat and serve).
 */
async function endWorker(worker: Worker): Promise<void> {
  worker.terminate();
  await new Promise((resolve) => setTimeout(resolve, TERMINATE_SETTLE_MS));
}
