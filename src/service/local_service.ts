// A ChatService in this thread: one ChatEngine per KV slot (all sharing the tokenizer, renderer and the
// backend's BatchScheduler). A turn goes to the free slot that already holds most of its prompt, else to
// the least recently used one; when every slot is busy it waits, first come first served.

import type { ChatEngine, ChatRequest, ChatUsage, EncodedPrompt } from "../chat/chat_engine.ts";
import type { ChatEvent } from "../chat/harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "../chat/messages.ts";
import { EngineStats, type StatsSnapshot } from "../engine/engine_stats.ts";
import type { Precision } from "../backends/backend.ts";
import type { ChatService, EngineInfo } from "./chat_service.ts";

export interface LocalServiceOptions {
  /** The backend's name for EngineInfo (default: the first engine's generator's backend, else "stub"). */
  readonly backend?: string;
  /** The backend's precision for EngineInfo (default: the generator's backend's, else "exact"). */
  readonly precision?: Precision;
  /** The counters the engines' sessions write (default: fresh ones). */
  readonly stats?: EngineStats;
  /** Frees what the engines run on (the backend), once. */
  readonly onClose?: () => void | Promise<void>;
}

interface Waiter {
  readonly prompt: readonly number[];
  readonly grant: (slot: number) => void;
}

export class LocalChatService implements ChatService {
  readonly info: EngineInfo;
  private readonly counters: EngineStats;
  private readonly busy: boolean[];
  /** When each slot was last released (0: never used). */
  private readonly lastUsed: number[];
  private clock = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;

  /** Slot i runs on engines[i]; the engines share one tokenizer and chat format. */
  constructor(readonly engines: readonly ChatEngine[], private readonly opts: LocalServiceOptions = {}) {
    if (engines.length === 0) throw new RangeError("a chat service needs at least one engine");
    const first = engines[0];
    const gen = first.gen as { backend?: { name?: string; precision?: Precision } };
    this.info = {
      backend: opts.backend ?? gen.backend?.name ?? "stub",
      precision: opts.precision ?? gen.backend?.precision ?? "exact",
      contextSize: first.gen.contextSize,
      vocabSize: first.tokenizer.vocabSize,
      slots: engines.length,
      format: first.format.name,
    };
    this.counters = opts.stats ?? new EngineStats(engines.length);
    this.busy = engines.map(() => false);
    this.lastUsed = engines.map(() => 0);
  }

  async encodeConversation(messages: ChatMessage[], prompt: PromptOptions): Promise<EncodedPrompt> {
    this.engines[0].gen.checkModel?.();
    return await this.engines[0].encodeConversation(messages, prompt);
  }

  stats(): StatsSnapshot {
    return this.counters.snapshot();
  }

  /** The counters' buffer (shared with a reader on another thread when it is a SharedArrayBuffer). */
  get statsBuffer(): ArrayBufferLike {
    return this.counters.buffer;
  }

  async *chat(req: ChatRequest): AsyncGenerator<ChatEvent, ChatUsage, void> {
    req = { ...req, encoded: req.encoded ?? await this.encodeConversation(req.messages, req.prompt) };
    const prompt = req.encoded!.ids;
    const slot = await this.acquire(prompt, req.signal);
    if (slot === null) {
      // stopped while waiting for a slot: nothing ran
      yield { type: "done", reason: "aborted" };
      return emptyUsage(prompt.length, this.info.contextSize);
    }
    try {
      return yield* this.engines[slot].chat(req);
    } finally {
      this.release(slot);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // the engines share their prompt encoder
    this.engines[0].dispose();
    await this.opts.onClose?.();
  }

  /** A free slot for `prompt`, now or when one is released; null when `signal` aborts first. */
  private acquire(prompt: readonly number[], signal?: AbortSignal): Promise<number | null> {
    if (signal?.aborted) return Promise.resolve(null);
    const free = this.pickSlot(prompt);
    if (free !== null) {
      this.take(free);
      return Promise.resolve(free);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        prompt,
        grant: (slot) => {
          signal?.removeEventListener("abort", onAbort);
          this.take(slot);
          resolve(slot);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        this.publishTurns();
        resolve(null);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.publishTurns();
    });
  }

  /**
   * The free slot for a prompt: one whose last turn's whole prompt, or whole cache, the new prompt repeats
   * (the same conversation, continued or sent again; the longest such); else a slot that holds nothing; else the
   * one holding the longest prefix of the prompt (often just a shared system prompt), the least recently
   * used among equals. So a new conversation never evicts another's history while an empty slot is
   * left. null: every slot is busy.
   */
  pickSlot(prompt: readonly number[]): number | null {
    const free = this.engines.map((e, slot) => ({
      slot,
      prefix: e.gen.cachedPrefix?.(prompt) ?? 0,
      lastPrompt: e.gen.lastStats?.promptTokens ?? 0,
      cached: e.gen.lastStats?.contextUsed ?? 0,
    })).filter((x) => !this.busy[x.slot]);
    const best = (xs: typeof free) =>
      xs.reduce<typeof free[number] | null>(
        (b, x) =>
          !b || x.prefix > b.prefix ||
            (x.prefix === b.prefix && this.lastUsed[x.slot] < this.lastUsed[b.slot])
            ? x
            : b,
        null,
      );
    const continued = free.filter((x) => x.prefix > 0 && (x.prefix >= x.lastPrompt || x.prefix >= x.cached));
    const empty = free.filter((x) => x.cached === 0);
    return (best(continued) ?? best(empty) ?? best(free))?.slot ?? null;
  }

  private take(slot: number): void {
    this.busy[slot] = true;
    this.counters.setBusy(slot, true);
    this.publishTurns();
  }

  private release(slot: number): void {
    this.busy[slot] = false;
    this.lastUsed[slot] = ++this.clock;
    this.counters.setBusy(slot, false);
    this.counters.countFinished();
    const next = this.waiters.shift();
    if (next) next.grant(this.pickSlot(next.prompt)!);
    else this.publishTurns();
  }

  private publishTurns(): void {
    this.counters.setTurns(this.busy.filter((b) => b).length, this.waiters.length);
  }
}

function emptyUsage(promptTokens: number, contextSize: number): ChatUsage {
  return {
    promptTokens,
    cachedTokens: 0,
    completionTokens: 0,
    reasoningTokens: 0,
    prefillMs: 0,
    decodeMs: 0,
    contextUsed: 0,
    contextSize,
  };
}
