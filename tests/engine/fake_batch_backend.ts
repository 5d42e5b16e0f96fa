// A batch backend whose "model" is a hash of each slot's whole KV cache: the next token after position p is
// a function of every token at [0, p], so a cache entry that is missing, stale or from another slot changes
// the answer. It records every batch, checks that each sequence's cache holds [0, pos), polls shouldStop
// between its two "layers" (after an abort the entries at >= pos are garbage, as a real backend leaves
// them), and can run a hook between the layers (to stop a turn mid-forward).

import {
  ForwardAbortedError,
  type ForwardOptions as BatchForwardOptions,
  type PickSequence,
  type Sequence,
} from "../../src/backends/backend.ts";
import type { BatchBackend } from "../../src/engine/batch_scheduler.ts";

export interface RecordedSequence {
  slot: number;
  pos: number;
  n: number;
}

export class FakeBatchBackend implements BatchBackend {
  readonly name = "fake";
  readonly config: { vocabSize: number };
  readonly batches: RecordedSequence[][] = [];
  /** Runs between the two layers of every forward (after the first poll of shouldStop). */
  betweenLayers: ((batch: readonly PickSequence[]) => void | Promise<void>) | null = null;
  private readonly caches: number[][];
  /** Per slot: entries [0, valid) hold what was written there. */
  private readonly valid: number[];

  constructor(
    readonly slots: number,
    readonly chunkTokens = 8,
    vocabSize = 97,
    readonly maxContext = 4096,
  ) {
    this.config = { vocabSize };
    this.caches = Array.from({ length: slots }, () => []);
    this.valid = Array.from({ length: slots }, () => 0);
  }

  /** The token the model gives after `prefix`: what a slot holding exactly `prefix` answers. */
  static next(prefix: readonly number[], vocab = 97): number {
    let h = 7;
    for (let i = 0; i < prefix.length; i++) h = (h * 31 + prefix[i] * (i + 1)) % 1_000_003;
    return h % vocab;
  }

  async forward(batch: readonly Sequence[], opts: BatchForwardOptions = {}): Promise<Float32Array[]> {
    const picks = await this.run(batch, opts);
    return batch.map((s, i) => {
      if (s.logits === "none") return new Float32Array(0);
      const row = new Float32Array(this.config.vocabSize);
      row[picks[i]] = 1;
      return row;
    });
  }

  greedy(batch: readonly PickSequence[], opts: BatchForwardOptions = {}): Promise<number[]> {
    return this.run(batch, opts);
  }

  dispose(): void {}

  private async run(batch: readonly PickSequence[], opts: BatchForwardOptions): Promise<number[]> {
    const seen = new Set<number>();
    for (const s of batch) {
      if (seen.has(s.slot)) throw new RangeError(`slot ${s.slot} twice in one batch`);
      seen.add(s.slot);
      if (s.pos > this.valid[s.slot]) {
        throw new Error(`slot ${s.slot}: pos ${s.pos} but the cache holds only ${this.valid[s.slot]} tokens`);
      }
      if (s.pos + s.tokens.length > this.maxContext) throw new RangeError("context overflow");
    }
    this.batches.push(batch.map((s) => ({ slot: s.slot, pos: s.pos, n: s.tokens.length })));
    // layer 1 writes the cache
    for (const s of batch) {
      const c = this.caches[s.slot];
      c.length = s.pos;
      c.push(...Array.from(s.tokens));
      this.valid[s.slot] = s.pos + s.tokens.length;
    }
    await this.betweenLayers?.(batch);
    if (opts.shouldStop?.()) {
      // an abort leaves every sequence's entries at >= pos undefined
      for (const s of batch) {
        this.caches[s.slot].fill(-1, s.pos);
        this.valid[s.slot] = s.pos;
      }
      throw new ForwardAbortedError();
    }
    // layer 2 reads it
    return batch.map((s) => FakeBatchBackend.next(this.caches[s.slot], this.config.vocabSize));
  }
}

/** The tokens a slot-less run of `prompt` gives: each next token from the prompt plus what came before. */
export function expectedTokens(prompt: readonly number[], n: number, vocab = 97): number[] {
  const seq = [...prompt], out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = FakeBatchBackend.next(seq, vocab);
    out.push(t);
    seq.push(t);
  }
  return out;
}
