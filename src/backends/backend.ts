// The one interface between the engine and a compute backend: run a batch of sequences, each against its
// own KV cache (slot) at its own position, and return each one's logits (or, on the fast paths, its best
// token or top k). One sequence is the batch of one.

import { OssiError } from "../errors.ts";
import type { ModelConfig } from "../model/config.ts";

/**
 * How a backend computes: "exact", the reference's f32 arithmetic on the checkpoint's weights; "fast", the
 * WASM backend's int8 weights (attention, unembedding) and int8 expert activations, within the loss the
 * quality gate measured. Backends and passes without a fast path run exact either way.
 */
export type Precision = "exact" | "fast";
export const PRECISIONS: readonly Precision[] = ["fast", "exact"];

/** Receives named intermediates (`attn_norm`, `attn_out`, `router_topk`, `moe_out`, ...) for debugging. */
export type DebugSink = (name: string, layer: number, rows: number, values: Float32Array) => void;

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

/** A sequence of a greedy()/topk() batch: at least one token; only its last token's choice comes back. */
export type PickSequence = Omit<Sequence, "logits">;

export interface ForwardOptions {
  readonly debug?: DebugSink;
  /**
   * Polled between layers and between chunks; when it returns true the call throws ForwardAbortedError.
   * After an abort, each sequence's KV entries at positions >= its pos are undefined (what earlier calls
   * put below pos is kept).
   */
  readonly shouldStop?: () => boolean;
}

/**
 * A compute backend. forward() returns one Float32Array per sequence, [rows, vocab] with rows =
 * tokens.length ("all"), 1 ("last", 0 for no tokens) or 0 ("none"). Logits are always finite: a NaN or
 * infinite logit throws NonFiniteError (the fast paths check the values they pick). Argument errors are
 * RangeErrors, thrown before any cache is touched.
 */
export interface Backend<C extends ModelConfig = ModelConfig> {
  readonly name: "ref" | "wasm" | "webgpu";
  /** "fast" where the backend runs the int8 path; exact when absent. */
  readonly precision?: Precision;
  readonly config: C;
  /** KV-cache capacity of each slot, in tokens. */
  readonly maxContext: number;
  /** Number of KV caches (chosen at creation). */
  readonly slots: number;
  /** Tokens the backend computes in one step; longer inputs run in chunks of this many (prefill in these). */
  readonly chunkTokens: number;
  forward(batch: readonly Sequence[], opts?: ForwardOptions): Promise<Float32Array[]>;
  /** Greedy fast path: like forward(), then each sequence's argmax (ties: lowest id); no logits leave. */
  greedy?(batch: readonly PickSequence[], opts?: ForwardOptions): Promise<number[]>;
  /** Sampling fast path: each sequence's k largest logits with their ids (value desc, id asc); k in [1, min(vocab, TOPK_MAX)]. */
  topk?(
    batch: readonly PickSequence[],
    k: number,
    opts?: ForwardOptions,
  ): Promise<{ ids: Uint32Array; logits: Float32Array }[]>;
  /** Frees device memory and workers. */
  dispose(): void;
}

/** Largest k of a backend's topk() (also capped by the vocabulary size). */
export const TOPK_MAX = 1024;

/** A forward pass stopped by ForwardOptions.shouldStop. */
export class ForwardAbortedError extends OssiError {
  override name = "ForwardAbortedError";
  constructor() {
    super("the forward pass was stopped");
  }
}

/** The model computed a NaN or infinite logit: its weights or its config hold values it cannot compute with. */
export class NonFiniteError extends OssiError {
  override name = "NonFiniteError";
  constructor(readonly value: number, readonly position: number | null) {
    super(
      `the model computed a non-finite logit (${value})${
        position === null ? "" : ` at position ${position}`
      }: its weights or config hold values it cannot compute with`,
    );
  }
}

/**
 * Throws NonFiniteError at the first NaN or infinite value of `logits` ([rows, vocab]), whose first row
 * is at position `firstPos`. One multiply-add per value: x * 0 is NaN exactly when x is not finite.
 */
export function checkFinite(logits: Float32Array, vocab: number, firstPos: number): void {
  let acc = 0;
  for (let i = 0; i < logits.length; i++) acc += logits[i] * 0;
  if (acc === 0) return;
  const i = logits.findIndex((v) => !Number.isFinite(v));
  throw new NonFiniteError(logits[i], firstPos + Math.floor(i / vocab));
}

/**
 * The argument checks of forward(), greedy() and topk(), made before any cache is touched: an integer
 * pos >= 0, pos + tokens.length <= maxContext, integer token ids in [0, vocabSize). Throws RangeError.
 */
export function checkTokens(
  tokens: ArrayLike<number>,
  pos: number,
  maxContext: number,
  vocabSize: number,
): void {
  if (!Number.isInteger(pos) || pos < 0) throw new RangeError(`bad position ${pos}`);
  if (pos + tokens.length > maxContext) {
    throw new RangeError(`context overflow: ${pos + tokens.length} > ${maxContext}`);
  }
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`token id ${id} out of range`);
    }
  }
}

/** checkTokens() for every sequence, plus: slots are integers in [0, slots), each used once. */
export function checkBatch(
  batch: readonly PickSequence[],
  slots: number,
  maxContext: number,
  vocabSize: number,
): void {
  const seen = new Set<number>();
  for (const s of batch) {
    if (!Number.isInteger(s.slot) || s.slot < 0 || s.slot >= slots) {
      throw new RangeError(`slot ${s.slot} out of range (the backend has ${slots})`);
    }
    if (seen.has(s.slot)) throw new RangeError(`slot ${s.slot} appears twice in one batch`);
    seen.add(s.slot);
    checkTokens(s.tokens, s.pos, maxContext, vocabSize);
  }
}

/** greedy()/topk()'s checks: checkBatch(), and every sequence has a token. */
export function checkPickBatch(
  batch: readonly PickSequence[],
  slots: number,
  maxContext: number,
  vocabSize: number,
): void {
  checkBatch(batch, slots, maxContext, vocabSize);
  if (batch.some((s) => s.tokens.length === 0)) {
    throw new RangeError("greedy()/topk() need at least one token");
  }
}

/** topk()'s check on k: an integer in [1, min(TOPK_MAX, vocabSize)]. Throws RangeError. */
export function checkTopK(k: number, vocabSize: number): void {
  if (!Number.isInteger(k) || k < 1 || k > Math.min(TOPK_MAX, vocabSize)) {
    throw new RangeError(`topk: k ${k} out of range`);
  }
}

/** Rows of logits a sequence gets back. */
export function logitRows(s: Sequence): number {
  return s.logits === "all" ? s.tokens.length : s.logits === "last" ? Math.min(1, s.tokens.length) : 0;
}
