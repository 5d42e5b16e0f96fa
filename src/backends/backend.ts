// The one interface between the engine and a compute backend: run tokens through the model at given
// positions against the backend's own KV cache, and return logits.

import type { ModelConfig } from "../model/config.ts";

/** Receives named intermediates (`attn_norm`, `attn_out`, `router_topk`, `moe_out`, ...) for debugging. */
export type DebugSink = (name: string, layer: number, rows: number, values: Float32Array) => void;

export interface ForwardOptions {
  /** Which rows of logits to return: every token's, only the last token's, or none. */
  readonly logits: "all" | "last" | "none";
  readonly debug?: DebugSink;
}

/** `C` is the architecture's config (gpt-oss by default; gpt2.ts and qwen3.ts define the others). */
export interface Backend<C = ModelConfig> {
  readonly name: "ref" | "wasm" | "webgpu";
  readonly config: C;
  /** KV-cache capacity in tokens. */
  readonly maxContext: number;
  /**
   * Runs `tokens` at positions pos, pos+1, ...; the KV cache must already hold positions [0, pos) and
   * entries at positions >= pos are overwritten (this is how a session rolls back to a shared prefix).
   * Returns [rows, vocab] logits, rows = tokens.length ("all"), 1 ("last") or 0 ("none").
   */
  forward(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Promise<Float32Array>;
  /** Greedy fast path: like forward(), then the argmax of the last token's logits (ties: lowest id); no
   * logits leave the backend. RangeError for zero tokens. */
  greedy?(tokens: ArrayLike<number>, pos: number): Promise<number>;
  /** Sampling fast path: like forward(), then the last token's k largest logits with their ids (value desc,
   * id asc); RangeError for zero tokens or k outside [1, min(vocab, 1024)]. */
  topk?(
    tokens: ArrayLike<number>,
    pos: number,
    k: number,
  ): Promise<{ ids: Uint32Array; logits: Float32Array }>;
  /** Frees device memory and workers. */
  dispose(): void;
}

/** Largest k of a backend's topk() (also capped by the vocabulary size). */
export const TOPK_MAX = 1024;

/**
 * The argument checks of forward(), greedy() and topk(), made before the KV cache is touched: an integer
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

/** topk()'s check on k: an integer in [1, min(TOPK_MAX, vocabSize)]. Throws RangeError. */
export function checkTopK(k: number, vocabSize: number): void {
  if (!Number.isInteger(k) || k < 1 || k > Math.min(TOPK_MAX, vocabSize)) {
    throw new RangeError(`topk: k ${k} out of range`);
  }
}
