// The steps a shard computes on its own slice, and the control block through which the host asks for
// them. A step reads io.x (the residual, or the attention / activation rows to project) and writes io.y of
// the shard's memory; attention runs on the shard's own heads and KV caches, routing on its own router copy.
// What a step computes comes from the layer's plan, never from the architecture's name.

import type { Kernels } from "./kernels.ts";
import { ffnDown, ffnUp } from "./shard_ffn.ts";
import type { ShardLayout, ShardParams } from "./shard_layout.ts";
import { DenseInput, norm } from "./shard_ops.ts";

/** One sequence's rows of a step: rows [row, row + n) at positions pos, pos+1, ... of KV slot `slot`. */
export interface Segment {
  readonly slot: number;
  readonly row: number;
  readonly n: number;
  readonly pos: number;
}

export enum Step {
  /**
   * Attention of the residual io.x [tokens, hidden] on the shard's heads: norm, q/k/v, QK-norm, then per
   * segment (Ctl.Segments) rope, keys and values into its slot's cache, attention (with sinks, in the
   * layer's window): io.y [tokens, heads*headDim].
   */
  Attn = 1,
  /** Attention output projection of io.x [tokens, heads*headDim]. */
  Out = 2,
  /**
   * The feed-forward's first half on the residual io.x [tokens, hidden]: norm, then a dense MLP's gate/up
   * and activation, or the router, routing (io.sel, io.selW) and each chosen expert's gate/up and SwiGLU:
   * io.y [tokens*k, activation columns].
   */
  FfnUp = 3,
  /** down projection of io.x [tokens*k, width] (experts: summed with io.selW): io.y [tokens, rows]. */
  Down = 5,
  /** Unembedding of io.x [tokens, hidden]: logits slice io.y [tokens, rows]. */
  Unembed = 6,
  Exit = 7,
  /** Unembedding of the last row of io.x [tokens, hidden], then its k best logits (k in the layer slot)
   * into io.topkIds / io.topkVals. */
  UnembedTopK = 8,
}

/** Views of a shard's memory. */
export interface ShardMemory {
  readonly f32: Float32Array;
  readonly i32: Int32Array;
}

export function shardMemory(memory: WebAssembly.Memory): ShardMemory {
  return { f32: new Float32Array(memory.buffer), i32: new Int32Array(memory.buffer) };
}

/**
 * Int32 slots of the control SharedArrayBuffer. The handshake is tagged with the step's sequence number, so
 * a wake-up that finds no new step (the platform may return from Atomics.wait early) cannot run a step
 * twice or report the wrong one finished: a worker runs a step only once Seq differs from the last one it
 * ran, and the host waits until every worker's ack slot holds the Seq it published.
 */
export enum Ctl {
  /** Bumped by the host for each step, after the step's fields are stored; workers wait on it. */
  Seq = 0,
  Step = 2,
  Layer = 3,
  Tokens = 4,
  /** Set by a worker whose step threw. */
  Failed = 5,
  /** Segments of the current stack of rows (Attn); their {slot, row, n, pos} follow from Ctl.Slots on. */
  Segments = 6,
  /**
   * Set by the host when its stop poll turns true during a step: every thread leaves the step at its next
   * check (between expert ranges, attention rows, dense row blocks), and the host throws ForwardAbortedError once all are
   * done. Cleared by the host before each step.
   */
  Abandon = 7,
  Slots = 8,
}

/** Int32 slots of the control block: the fixed ones, four per segment (at most one per row), one ack per
 * worker. */
export function ctlInts(maxTokens: number, workers: number): number {
  return ackSlot(maxTokens, workers);
}

/** Where worker `w` stores the Seq of the last step it finished. */
export function ackSlot(maxTokens: number, w: number): number {
  return Ctl.Slots + 4 * maxTokens + w;
}

/** The segments the host stored in the control block. */
export function readSegments(ctl: Int32Array): Segment[] {
  const n = Atomics.load(ctl, Ctl.Segments), out: Segment[] = [];
  for (let i = 0, at = Ctl.Slots; i < n; i++, at += 4) {
    out.push({ slot: ctl[at], row: ctl[at + 1], n: ctl[at + 2], pos: ctl[at + 3] });
  }
  return out;
}

/** True once the step running is to be abandoned (Ctl.Abandon): a long step checks it between its parts. */
export type Abandoned = () => boolean;

/**
 * Runs `step` of `layer` on `tokens` rows (the sequences `segs`) on shard s; f32 and i32 view its memory.
 * The long steps (attention over a long context, MoE experts, dense matmuls by row blocks) return early,
 * their output unfinished, once `abandoned()` says so.
 */
export function runStep(
  k: Kernels,
  mem: ShardMemory,
  s: ShardLayout,
  p: ShardParams,
  step: Step,
  layer: number,
  tokens: number,
  segs: readonly Segment[],
  abandoned: Abandoned,
): void {
  const io = s.io;
  if (step === Step.Unembed) {
    new DenseInput(k, io.x, io.xp, tokens, p.xQMax, abandoned).matmul(s.unembed, io.y);
    return;
  }
  if (step === Step.UnembedTopK) {
    const u = s.unembed;
    new DenseInput(k, io.x + (tokens - 1) * u.cols * 4, io.xp, 1, p.xQMax, abandoned).matmul(u, io.y);
    if (abandoned()) return;
    k.row_topk(io.y, u.rows, layer, io.topkIds, io.topkVals);
    return;
  }
  const L = s.layers[layer];
  switch (step) {
    case Step.Attn:
      attention(k, mem.f32, s, p, layer, tokens, segs, abandoned);
      return;
    case Step.Out:
      new DenseInput(k, io.x, io.xp, tokens, p.xQMax, abandoned).matmul(L.o, io.y);
      return;
    case Step.FfnUp:
      norm(k, L.mlpNorm, io.xn, io.x, p.eps, tokens, p.hidden);
      ffnUp(k, mem, s, p, layer, tokens, abandoned);
      return;
    case Step.Down:
      ffnDown(k, mem, s, p, layer, tokens, abandoned);
      return;
  }
}

/**
 * Query rows times attended keys per sdpa call: a segment's rows go in runs of about this many, so a stop is
 * seen within one run however long the context (4096: some 10 ms on two threads).
 */
const ATTN_KEYS_PER_CALL = 4096;

/** The Attn step: see Step.Attn. */
function attention(
  k: Kernels,
  f32: Float32Array,
  s: ShardLayout,
  p: ShardParams,
  layer: number,
  tokens: number,
  segs: readonly Segment[],
  abandoned: Abandoned,
): void {
  const io = s.io, L = s.layers[layer], a = p.layers[layer].attention;
  const h = s.heads, hd = p.headDim, qw = h.heads * hd, kvw = h.kvHeads * hd;
  norm(k, L.attnNorm, io.xn, io.x, p.eps, tokens, p.hidden);
  if (h.heads === 0) return;
  // q, k, v projections of the shard's heads
  const x = new DenseInput(k, io.xn, io.xp, tokens, p.xQMax, abandoned);
  x.matmul(L.q, io.q);
  x.matmul(L.k, io.k);
  x.matmul(L.v, io.v);
  if (abandoned()) return;
  // per-head RMSNorm of q and k
  if (a.qkNorm) {
    k.qk_rmsnorm(io.q, L.qNorm, p.eps, tokens, h.heads, hd);
    k.qk_rmsnorm(io.k, L.kNorm, p.eps, tokens, h.kvHeads, hd);
  }
  // per sequence: rope, its keys and values into its slot's cache (positions >= pos are overwritten),
  // attention against that cache
  for (const g of segs) {
    const q = io.q + g.row * qw * 4, kr = io.k + g.row * kvw * 4, vr = io.v + g.row * kvw * 4;
    const kc = L.kCache[g.slot], vc = L.vCache[g.slot];
    if (a.rope) {
      k.rope(q, g.n, qw, h.heads, hd, s.cos, s.sin, g.pos);
      k.rope(kr, g.n, kvw, h.kvHeads, hd, s.cos, s.sin, g.pos);
    }
    f32.copyWithin(kc / 4 + g.pos * kvw, kr / 4, kr / 4 + g.n * kvw);
    f32.copyWithin(vc / 4 + g.pos * kvw, vr / 4, vr / 4 + g.n * kvw);
    // each row attends on its own (the keys of all the segment's rows are in the cache): runs of rows give
    // the bits of one call
    const keys = a.window > 0 ? Math.min(a.window, g.pos + g.n) : g.pos + g.n;
    const run = Math.max(1, Math.floor(ATTN_KEYS_PER_CALL / keys));
    for (let t = 0; t < g.n; t += run) {
      if (abandoned()) return;
      k.sdpa_sink_window(
        io.y + (g.row + t) * qw * 4,
        q + t * qw * 4,
        kc,
        vc,
        g.pos + t,
        Math.min(run, g.n - t),
        a.window,
        L.sinks,
        h.heads,
        h.kvHeads,
        hd,
        io.scores,
      );
    }
  }
}
