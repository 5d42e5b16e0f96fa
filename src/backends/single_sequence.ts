// Adapts the wasm and webgpu forward passes, which still take one sequence against one KV cache, to the
// batch interface of backend.ts: one slot, the input fed in the pass's own chunks (so its outputs are
// bit-identical to one call), shouldStop polled between chunks, logits checked for non-finite values.

import type { ModelConfig } from "../model/config.ts";
import {
  type Backend,
  checkBatch,
  checkFinite,
  checkPickBatch,
  checkTopK,
  ForwardAbortedError,
  type ForwardOptions,
  logitRows,
  type PickSequence,
  type Sequence,
} from "./backend.ts";

/** The options of one sequence's forward(). */
export interface SequenceOptions {
  readonly logits: Sequence["logits"];
  readonly debug?: ForwardOptions["debug"];
}

/** What those passes implement; greedy() and topk() check the values they pick themselves. */
export interface SingleSequenceBackend {
  readonly name: "wasm" | "webgpu";
  readonly maxContext: number;
  /** Tokens per internal chunk. */
  readonly maxTokens: number;
  forward(tokens: ArrayLike<number>, pos: number, opts: SequenceOptions): Promise<Float32Array>;
  greedy?(tokens: ArrayLike<number>, pos: number): Promise<number>;
  topk?(
    tokens: ArrayLike<number>,
    pos: number,
    k: number,
  ): Promise<{ ids: Uint32Array; logits: Float32Array }>;
  dispose(): void;
}

export class SingleSlotBackend implements Backend {
  readonly slots = 1;
  readonly name: "wasm" | "webgpu";
  readonly maxContext: number;
  readonly chunkTokens: number;
  readonly greedy?: Backend["greedy"];
  readonly topk?: Backend["topk"];

  constructor(readonly config: ModelConfig, readonly inner: SingleSequenceBackend) {
    this.name = inner.name;
    this.maxContext = inner.maxContext;
    this.chunkTokens = inner.maxTokens;
    const g = inner.greedy?.bind(inner), k = inner.topk?.bind(inner);
    if (g) this.greedy = (batch, opts) => this.pick(batch, opts, g);
    if (k) {
      this.topk = (batch, n, opts) => {
        checkTopK(n, config.vocabSize);
        return this.pick(batch, opts, (tokens, pos) => k(tokens, pos, n));
      };
    }
  }

  async forward(batch: readonly Sequence[], opts: ForwardOptions = {}): Promise<Float32Array[]> {
    const V = this.config.vocabSize;
    checkBatch(batch, this.slots, this.maxContext, V);
    const out: Float32Array[] = [];
    for (const s of batch) {
      const n = s.tokens.length, logits = new Float32Array(logitRows(s) * V);
      for (let t0 = 0; t0 < n; t0 += this.chunkTokens) {
        if (opts.shouldStop?.()) throw new ForwardAbortedError();
        const T = Math.min(this.chunkTokens, n - t0), last = t0 + T === n;
        const mode = s.logits === "all" ? "all" : s.logits === "last" && last ? "last" : "none";
        const chunk = Array.from(s.tokens).slice(t0, t0 + T);
        const rows = await this.inner.forward(chunk, s.pos + t0, { logits: mode, debug: opts.debug });
        logits.set(rows, s.logits === "all" ? t0 * V : 0);
      }
      checkFinite(logits, V, s.pos + n - logitRows(s));
      out.push(logits);
    }
    return out;
  }

  /** Earlier chunks through forward(), the last through the pass's own greedy/topk. */
  private async pick<R>(
    batch: readonly PickSequence[],
    opts: ForwardOptions = {},
    last: (tokens: number[], pos: number) => Promise<R>,
  ): Promise<R[]> {
    checkPickBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
    const out: R[] = [];
    for (const s of batch) {
      const tokens = Array.from(s.tokens), n = tokens.length;
      let t0 = 0;
      for (; n - t0 > this.chunkTokens; t0 += this.chunkTokens) {
        if (opts.shouldStop?.()) throw new ForwardAbortedError();
        await this.inner.forward(tokens.slice(t0, t0 + this.chunkTokens), s.pos + t0, { logits: "none" });
      }
      if (opts.shouldStop?.()) throw new ForwardAbortedError();
      out.push(await last(tokens.slice(t0), s.pos + t0));
    }
    return out;
  }

  dispose(): void {
    this.inner.dispose();
  }
}
