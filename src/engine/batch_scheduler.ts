// Continuous batching over the KV slots of one backend. Each running turn asks for its next step (a prompt
// to prefill, or the token it just sampled); the scheduler runs the steps waiting at that moment as one
// batched forward: every decode step, plus prefill chunks up to a token budget shared among the prompts
// being prefilled (shortest first), so a long prompt delays the others' decoding by at most one chunk per
// step. An abort stops the forward between layers: the stopped turns' steps fail with ForwardAbortedError,
// the others run again in the next batch (each sequence's cache above its pos is simply rewritten).

import { type Backend, ForwardAbortedError, type PickSequence } from "../backends/backend.ts";

/** What the scheduler needs of a backend (tests give it a fake one). */
export type BatchBackend =
  & Pick<Backend, "forward" | "greedy" | "slots" | "chunkTokens" | "maxContext" | "dispose">
  & { readonly name: string; readonly config: { readonly vocabSize: number } };

/** How a step's next token is chosen: the backend's argmax, or a sampler over the last token's logits. */
export type Picker = "greedy" | ((logits: Float32Array) => number);

export interface Step {
  readonly slot: number;
  /** Tokens to run at positions pos, pos+1, ...: a prompt (or its uncached part), or one sampled token. */
  readonly tokens: readonly number[];
  readonly pos: number;
  readonly pick: Picker;
  /** Polled between layers; true fails the step with ForwardAbortedError (completed chunks stay cached). */
  readonly shouldStop: () => boolean;
  /** After each completed chunk: how many of `tokens` the slot's cache now holds. */
  readonly onProgress?: (done: number) => void;
  /**
   * Every token's logits, chunk by chunk: `rows` ([n, vocab]) are those of tokens [from, from + n), handed
   * over before onProgress and not kept (the caller reduces each row at once). Such a step never takes
   * the argmax fast path. A throw fails the step.
   */
  readonly onRows?: (from: number, rows: Float32Array, n: number) => void;
}

interface Job {
  readonly step: Step;
  /** Tokens of the step already computed. */
  done: number;
  resolve(id: number): void;
  reject(e: unknown): void;
}

/** One job's share of a batch: its next `n` tokens; `last` when they end the step. */
interface Part {
  readonly job: Job;
  readonly n: number;
  readonly last: boolean;
}

/**
 * Tokens of one batched forward by default (or the backend's chunk, if smaller): a prefill takes at most
 * this many per step, so the other slots' decode steps wait at most one such step, and a stop polled
 * between layers lands within a layer of it. On the wasm backend 32-token steps prefill as fast as 64.
 */
const DEFAULT_TOKEN_BUDGET = 32;

export interface SchedulerOptions {
  /** Tokens per batched forward. Decode steps always run; prefill chunks fill the rest. */
  readonly tokenBudget?: number;
}

export class BatchScheduler {
  private readonly jobs: Job[] = [];
  private looping = false;
  readonly tokenBudget: number;
  /** Batched forwards run so far (for tests and the bench). */
  batches = 0;

  constructor(readonly backend: BatchBackend, opts: SchedulerOptions = {}) {
    this.tokenBudget = Math.max(1, opts.tokenBudget ?? Math.min(DEFAULT_TOKEN_BUDGET, backend.chunkTokens));
  }

  get slots(): number {
    return this.backend.slots;
  }

  /** Runs a step with the other waiting steps; resolves with the token picked after its last token. */
  run(step: Step): Promise<number> {
    if (step.tokens.length === 0) return Promise.reject(new RangeError("a step needs at least one token"));
    if (!Number.isInteger(step.slot) || step.slot < 0 || step.slot >= this.slots) {
      return Promise.reject(new RangeError(`slot ${step.slot} out of range (the backend has ${this.slots})`));
    }
    if (this.jobs.some((j) => j.step.slot === step.slot)) {
      return Promise.reject(new RangeError(`slot ${step.slot} already has a step running`));
    }
    return new Promise((resolve, reject) => {
      this.jobs.push({ step, done: 0, resolve, reject });
      if (!this.looping) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (this.jobs.length > 0) {
        // the turns that just got their token queue their next step meanwhile (microtasks, then this task)
        await nextTask();
        this.dropStopped();
        if (this.jobs.length > 0) await this.runBatch(this.compose());
      }
    } finally {
      this.looping = false;
    }
  }

  /** Fails the waiting steps whose turn was stopped. Returns how many. */
  private dropStopped(): number {
    let dropped = 0;
    for (const j of [...this.jobs]) {
      if (!j.step.shouldStop()) continue;
      this.remove(j);
      j.reject(new ForwardAbortedError());
      dropped++;
    }
    return dropped;
  }

  /** Every decode step, then prefill chunks: the budget left is shared evenly, shortest prompt first. */
  private compose(): Part[] {
    const left = (j: Job) => j.step.tokens.length - j.done;
    const decodes = this.jobs.filter((j) => left(j) === 1);
    const prefills = this.jobs.filter((j) => left(j) > 1).sort((a, b) => left(a) - left(b));
    const parts: Part[] = decodes.map((job) => ({ job, n: 1, last: true }));
    let budget = Math.max(this.tokenBudget - decodes.length, Math.ceil(this.tokenBudget / 4));
    prefills.forEach((job, i) => {
      const n = Math.min(left(job), Math.ceil(budget / (prefills.length - i)));
      if (n <= 0) return;
      parts.push({ job, n, last: n === left(job) });
      budget -= n;
    });
    return parts;
  }

  private async runBatch(parts: Part[]): Promise<void> {
    const b = this.backend;
    const seqs = parts.map(({ job, n }): PickSequence => ({
      slot: job.step.slot,
      tokens: job.step.tokens.slice(job.done, job.done + n),
      pos: job.step.pos + job.done,
    }));
    // the argmax fast path when every sequence ends its step and wants the argmax, and none wants rows
    const greedy = b.greedy !== undefined &&
      parts.every((p) => p.last && p.job.step.pick === "greedy" && !p.job.step.onRows);
    const rowsOf = (p: Part) => p.job.step.onRows ? "all" : p.last ? "last" : "none";
    const shouldStop = () => parts.some((p) => p.job.step.shouldStop());
    let out: (number | Float32Array)[];
    this.batches++;
    try {
      out = greedy
        ? await b.greedy!(seqs, { shouldStop })
        : await b.forward(seqs.map((s, i) => ({ ...s, logits: rowsOf(parts[i]) })), { shouldStop });
    } catch (e) {
      // the stopped turns leave; the others run again from where they were
      if (e instanceof ForwardAbortedError && this.dropStopped() > 0) return;
      for (const p of parts) this.remove(p.job), p.job.reject(e);
      return;
    }
    const vocab = b.config.vocabSize;
    parts.forEach((p, i) => {
      const { job } = p;
      let o = out[i];
      if (job.step.onRows && typeof o !== "number") {
        try {
          job.step.onRows(job.done, o, p.n);
        } catch (e) {
          this.remove(job);
          job.reject(e);
          return;
        }
        o = o.subarray((p.n - 1) * vocab);
      }
      job.done += p.n;
      job.step.onProgress?.(job.done);
      if (!p.last) return;
      this.remove(job);
      try {
        const pick = job.step.pick;
        job.resolve(typeof o === "number" ? o : pick === "greedy" ? argmax(o) : pick(o));
      } catch (e) {
        job.reject(e);
      }
    });
  }

  private remove(job: Job): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
  }
}

/** The first largest value's index (as the backends' greedy(): ties go to the lowest id). */
function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Resolves in a new task of the event loop (after every pending microtask; no timer clamping). */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}
