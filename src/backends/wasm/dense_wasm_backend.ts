// The part of the GPT-2 and Qwen3 WASM backends that does not depend on the architecture: input checks,
// prefill in chunks of at most maxTokens tokens, which rows of logits come back, the activations both
// forward passes use, and the steps they share: attention over the KV cache with its output projection
// and residual, and the MLP's residual.

import { OssiError } from "../../errors.ts";
import { checkTokens, type DebugSink } from "../backend.ts";
import type { SequenceOptions, SingleSequenceBackend } from "../single_sequence.ts";
import type { DensePlacer, DenseRuntime, PlacedMat } from "./dense_runtime.ts";

export interface DenseWasmOptions {
  /** KV-cache capacity in tokens. */
  readonly maxContext: number;
  /** Tokens per prefill step (default 64): activations are sized for this many rows. */
  readonly maxTokens?: number;
}

const DEFAULT_MAX_TOKENS = 64;

/** The KV-cache capacity and chunk rows of a backend, once the kernels are known to take its head_dim. */
export function denseSizes(
  modelContext: number,
  headDim: number,
  opts: DenseWasmOptions,
): { ctx: number; T: number } {
  if (headDim % 4 !== 0) {
    throw new OssiError(`wasm backend: needs head_dim % 4 == 0 (got ${headDim}); try --backend ref`);
  }
  return { ctx: Math.min(opts.maxContext, modelContext), T: opts.maxTokens ?? DEFAULT_MAX_TOKENS };
}

/** The attention heads of a model; GPT-2 has as many kv heads as heads. */
export interface HeadShape {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/** Byte offsets of the activations both forward passes use; rows are maxTokens. */
export interface DenseActivations {
  readonly ids: number; // i32 [T]: the chunk's token ids
  readonly x: number; // [T, hidden] residual stream
  readonly xn: number; // [T, hidden] its norm
  readonly q: number; // [T, heads*headDim]
  readonly k: number; // [T, kvHeads*headDim]
  readonly v: number;
  readonly att: number; // [T, heads*headDim]
  readonly proj: number; // [T, hidden]: attention or MLP output, before the residual add
  readonly logits: number; // [T, vocab]
  readonly scores: number; // [heads/kvHeads, maxContext]
  readonly sinks: number; // [heads], all -inf: the sink attention kernel then attends without a sink
}

/** Lays out the shared activations for T rows and a cache of ctx positions. */
export function placeActivations(
  p: DensePlacer,
  T: number,
  ctx: number,
  hidden: number,
  vocab: number,
  s: HeadShape,
): DenseActivations {
  const qw = s.heads * s.headDim, kvw = s.kvHeads * s.headDim;
  return {
    ids: p.floats(T),
    x: p.floats(T * hidden),
    xn: p.floats(T * hidden),
    q: p.floats(T * qw),
    k: p.floats(T * kvw),
    v: p.floats(T * kvw),
    att: p.floats(T * qw),
    proj: p.floats(T * hidden),
    logits: p.floats(T * vocab),
    scores: p.floats((s.heads / s.kvHeads) * ctx),
    sinks: p.vec(new Float32Array(s.heads).fill(-Infinity)),
  };
}

/** A layer's attention output projection and KV cache ([maxContext, kvHeads*headDim] each). */
export interface DenseAttention {
  readonly o: PlacedMat;
  readonly oBias: number;
  readonly kCache: number;
  readonly vCache: number;
}

/** Dumps `rows` rows of `width` floats at byte offset `at` as (name, layer) when debugging. */
export type Emit = (name: string, layer: number, rows: number, at: number, width: number) => void;

export abstract class DenseWasmBackend<C extends { readonly vocabSize: number }, B extends DenseActivations>
  implements SingleSequenceBackend {
  readonly name = "wasm" as const;

  protected constructor(
    readonly config: C,
    readonly maxContext: number,
    readonly maxTokens: number,
    protected readonly rt: DenseRuntime,
    protected readonly b: B,
    protected readonly heads: HeadShape,
  ) {}

  /**
   * Runs the chunk's T tokens (ids already in `b.ids`) at positions pos.. through every layer, appending
   * their keys and values to the cache, and computes the logits of chunk rows [first, T). Returns the byte
   * offset of those [T - first, vocab] logits (meaningless when first == T).
   */
  protected abstract chunk(T: number, pos: number, first: number, dbg: DebugSink | undefined): number;

  forward(tokens: ArrayLike<number>, pos: number, opts: SequenceOptions): Promise<Float32Array> {
    try {
      return Promise.resolve(this.forwardSync(tokens, pos, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  forwardSync(tokens: ArrayLike<number>, pos: number, opts: SequenceOptions): Float32Array {
    const n = tokens.length, V = this.config.vocabSize;
    checkTokens(tokens, pos, this.maxContext, V);
    const rows = opts.logits === "all" ? n : opts.logits === "last" && n > 0 ? 1 : 0;
    const logits = new Float32Array(rows * V);
    for (let t0 = 0; t0 < n; t0 += this.maxTokens) {
      const T = Math.min(this.maxTokens, n - t0);
      for (let t = 0; t < T; t++) this.rt.i32[this.b.ids / 4 + t] = tokens[t0 + t];
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

  /** The chunk's debug dumps; nothing is read back without a sink. */
  protected emitter(dbg: DebugSink | undefined): Emit {
    return (name, layer, rows, at, width) => dbg?.(name, layer, rows, this.rt.read(at, rows * width));
  }

  /**
   * Layer l's attention once b.q, b.k, b.v hold the chunk's rows: appends k, v to the cache at pos
   * (positions >= pos are overwritten), attends causally (window 0: every earlier position), projects
   * with o and adds that to the residual stream.
   */
  protected attend(L: DenseAttention, l: number, T: number, pos: number, window: number, emit: Emit): void {
    const rt = this.rt, b = this.b, s = this.heads, H = L.o.rows, kvw = s.kvHeads * s.headDim;
    rt.copy(L.kCache + pos * kvw * 4, b.k, T * kvw);
    rt.copy(L.vCache + pos * kvw * 4, b.v, T * kvw);
    rt.k.sdpa_sink_window(
      b.att,
      b.q,
      L.kCache,
      L.vCache,
      pos,
      T,
      window,
      b.sinks,
      s.heads,
      s.kvHeads,
      s.headDim,
      b.scores,
    );
    rt.linear(L.o, L.oBias, b.att, T, b.proj);
    emit("attn_out", l, T, b.proj, H);
    rt.k.add_inplace(b.x, b.proj, T * H);
    emit("residual_after_attention", l, T, b.x, H);
  }

  /** Adds layer l's MLP output (b.proj, [T, H]) to the residual stream. */
  protected addMlp(l: number, T: number, H: number, emit: Emit): void {
    emit("mlp_out", l, T, this.b.proj, H);
    this.rt.k.add_inplace(this.b.x, this.b.proj, T * H);
    emit("residual_after_mlp", l, T, this.b.x, H);
  }
}
