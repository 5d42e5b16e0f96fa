// The part of the GPT-2 and Qwen3 WASM backends that does not depend on the architecture: input checks,
// prefill in chunks of at most maxTokens tokens, and which rows of logits come back.

import type { Backend, DebugSink, ForwardOptions } from "../backend.ts";
import type { DenseRuntime } from "./dense_runtime.ts";

export interface DenseWasmOptions {
  /** KV-cache capacity in tokens. */
  readonly maxContext: number;
  /** Tokens per prefill step (default 64): activations are sized for this many rows. */
  readonly maxTokens?: number;
}

export const DEFAULT_MAX_TOKENS = 64;

export abstract class DenseWasmBackend<C extends { readonly vocabSize: number }> implements Backend<C> {
  readonly name = "wasm" as const;

  protected constructor(
    readonly config: C,
    readonly maxContext: number,
    protected readonly maxTokens: number,
    protected readonly rt: DenseRuntime,
    /** i32 [maxTokens]: the chunk's token ids. */
    protected readonly ids: number,
  ) {}

  /**
   * Runs the chunk's T tokens (ids already in `ids`) at positions pos.. through every layer, appending
   * their keys and values to the cache, and computes the logits of chunk rows [first, T). Returns the byte
   * offset of those [T - first, vocab] logits (meaningless when first == T).
   */
  protected abstract chunk(T: number, pos: number, first: number, dbg: DebugSink | undefined): number;

  forward(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Promise<Float32Array> {
    try {
      return Promise.resolve(this.forwardSync(tokens, pos, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  forwardSync(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Float32Array {
    const n = tokens.length, V = this.config.vocabSize;
    if (!Number.isInteger(pos) || pos < 0 || pos + n > this.maxContext) {
      throw new RangeError(`context overflow: ${pos + n} > ${this.maxContext}`);
    }
    for (let i = 0; i < n; i++) {
      const id = tokens[i];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} out of range`);
    }
    const rows = opts.logits === "all" ? n : opts.logits === "last" && n > 0 ? 1 : 0;
    const logits = new Float32Array(rows * V);
    for (let t0 = 0; t0 < n; t0 += this.maxTokens) {
      const T = Math.min(this.maxTokens, n - t0);
      for (let t = 0; t < T; t++) this.rt.i32[this.ids / 4 + t] = tokens[t0 + t];
      // rows of this chunk whose logits are wanted: all, or the very last token's
      const first = opts.logits === "all" ? 0 : opts.logits === "last" && t0 + T === n ? T - 1 : T;
      const at = this.chunk(T, pos + t0, first, opts.debug);
      if (first < T) {
        logits.set(
          this.rt.f32.subarray(at / 4, at / 4 + (T - first) * V),
          (opts.logits === "all" ? t0 : 0) * V,
        );
      }
    }
    return logits;
  }

  dispose(): void {}
}
