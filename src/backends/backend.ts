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
