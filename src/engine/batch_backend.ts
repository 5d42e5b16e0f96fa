// The batch view of a backend the scheduler runs on: a batch of sequences, each against its own KV slot at
// its own position, with shouldStop polled between chunks. Backends that still take one sequence against
// one cache are adapted here (one backend instance per slot).

import type { Backend } from "../backends/backend.ts";
import { OssiError } from "../io/errors.ts";

/** One sequence of a batch: its tokens at positions pos, pos+1, ... against KV cache `slot`. */
export interface Sequence {
  /** Which KV cache, in [0, slots); each slot appears at most once per batch. */
  readonly slot: number;
  readonly tokens: ArrayLike<number>;
  /** The slot's cache must hold positions [0, pos); entries at positions >= pos are overwritten. */
  readonly pos: number;
  /** Which rows of logits come back: every token's, only the last token's, or none. */
  readonly logits: "all" | "last" | "none";
}

/** A sequence of a greedy() batch: at least one token; only its last token's choice comes back. */
export type PickSequence = Omit<Sequence, "logits">;

export interface BatchForwardOptions {
  /**
   * Polled between layers and between chunks; when it returns true the call throws ForwardAbortedError.
   * After an abort, each sequence's KV entries at positions >= its pos are undefined.
   */
  readonly shouldStop?: () => boolean;
}

export interface BatchBackend {
  readonly name: string;
  readonly config: { readonly vocabSize: number };
  /** KV-cache capacity of each slot, in tokens. */
  readonly maxContext: number;
  /** Number of KV caches. */
  readonly slots: number;
  /** Tokens the backend computes in one step (longer inputs run in chunks of this many). */
  readonly chunkTokens: number;
  /** One Float32Array per sequence: [rows, vocab] with rows as its `logits` asks. */
  forward(batch: readonly Sequence[], opts?: BatchForwardOptions): Promise<Float32Array[]>;
  /** Each sequence's argmax (ties: lowest id); no logits leave the backend. */
  greedy?(batch: readonly PickSequence[], opts?: BatchForwardOptions): Promise<number[]>;
  dispose(): void;
}

/** A forward pass stopped by shouldStop. */
export class ForwardAbortedError extends OssiError {
  override name = "ForwardAbortedError";
  constructor() {
    super("the forward pass was stopped");
  }
}

/** Tokens per call into a single-sequence backend: the unit shouldStop is polled at. */
const CHUNK_TOKENS = 64;

/**
 * Slot i runs on backends[i] (instances over the same weights); a batch runs its sequences one after the
 * other, in chunks, polling shouldStop before each chunk.
 */
export function batchOf(backends: readonly Backend<{ readonly vocabSize: number }>[]): BatchBackend {
  if (backends.length === 0) throw new OssiError("a batch backend needs at least one slot");
  const first = backends[0], V = first.config.vocabSize;
  const run = async (
    s: PickSequence,
    opts: BatchForwardOptions,
    last: (b: Backend<{ readonly vocabSize: number }>, tokens: number[], pos: number) => Promise<void>,
  ) => {
    const b = backends[s.slot];
    if (!b) throw new RangeError(`slot ${s.slot} out of range (the backend has ${backends.length})`);
    const tokens = Array.from(s.tokens);
    let t0 = 0;
    for (; tokens.length - t0 > CHUNK_TOKENS; t0 += CHUNK_TOKENS) {
      if (opts.shouldStop?.()) throw new ForwardAbortedError();
      await b.forward(tokens.slice(t0, t0 + CHUNK_TOKENS), s.pos + t0, { logits: "none" });
    }
    if (opts.shouldStop?.()) throw new ForwardAbortedError();
    await last(b, tokens.slice(t0), s.pos + t0);
  };
  const batch: BatchBackend = {
    name: first.name,
    config: first.config,
    maxContext: first.maxContext,
    slots: backends.length,
    chunkTokens: CHUNK_TOKENS,
    async forward(seqs, opts = {}) {
      const out: Float32Array[] = [];
      for (const s of seqs) {
        let rows: Float32Array = new Float32Array(0);
        await run(s, opts, async (b, tokens, pos) => {
          if (s.logits === "all") throw new RangeError("batch adapter: logits 'all' is not supported");
          rows = await b.forward(tokens, pos, { logits: s.logits });
        });
        if (s.logits === "last" && rows.length !== V) throw new RangeError("no logits for an empty sequence");
        out.push(rows);
      }
      return out;
    },
    dispose: () => backends.forEach((b) => b.dispose()),
  };
  if (backends.every((b) => b.greedy)) {
    batch.greedy = async (seqs, opts = {}) => {
      const out: number[] = [];
      for (const s of seqs) {
        await run(s, opts, async (b, tokens, pos) => void out.push(await b.greedy!(tokens, pos)));
      }
      return out;
    };
  }
  return batch;
}
