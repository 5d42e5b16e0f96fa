// The steps a shard computes on its own slice, and the control block through which the host asks for
// them. A step reads io.x (the residual, or the attention / SwiGLU rows to project) and writes io.y of the
// shard's memory; attention runs on the shard's own heads and KV cache, routing on its own router copy.

import type { Kernels } from "./kernels.ts";
import type { DenseSlice, ShardLayout, ShardParams } from "./shard_layout.ts";

/** One sequence's rows of a step: rows [row, row + n) at positions pos, pos+1, ... of KV slot `slot`. */
export interface Segment {
  readonly slot: number;
  readonly row: number;
  readonly n: number;
  readonly pos: number;
}

export enum Step {
  /**
   * Attention of the residual io.x [tokens, hidden] on the shard's heads: rmsnorm, q/k/v, then per
   * segment (Ctl.Segments) rope, keys and values into its slot's cache, attention with sinks: io.y
   * [tokens, heads*headDim].
   */
  Attn = 1,
  /** Attention output projection of io.x [tokens, heads*headDim]. */
  Out = 2,
  /**
   * The MoE's first half on the residual io.x [tokens, hidden]: rmsnorm, router logits (io.router), top-k
   * softmax (io.sel, io.selW), gate_up + SwiGLU for the chosen experts: io.y [tokens*k, pairs].
   */
  MoeUp = 3,
  /** down projection of io.x [tokens*k, ffn], summed with io.selW: io.y [tokens, rows]. */
  Down = 5,
  /** Unembedding of io.x [tokens, hidden]: logits slice io.y [tokens, rows]. */
  Unembed = 6,
  Exit = 7,
  /** Unembedding of the last row of io.x [tokens, hidden], then its k best logits (k in the layer slot)
   * into io.topkIds / io.topkVals. */
  UnembedTopK = 8,
}

/** Int32 slots of the control SharedArrayBuffer. */
export enum Ctl {
  /** Bumped by the host for each step; workers wait on it. */
  Seq = 0,
  /** Workers that finished the current step; the host waits on it. */
  Done = 1,
  Step = 2,
  Layer = 3,
  Tokens = 4,
  /** Set by a worker whose step threw. */
  Failed = 5,
  /** Segments of the current stack of rows (Attn); their {slot, row, n, pos} follow from Ctl.Slots on. */
  Segments = 6,
  Slots = 8,
}

/** Int32 slots of the control block: the fixed ones, then four per segment (at most one per row). */
export function ctlInts(maxTokens: number): number {
  return Ctl.Slots + 4 * maxTokens;
}

/** The segments the host stored in the control block. */
export function readSegments(ctl: Int32Array): Segment[] {
  const n = Atomics.load(ctl, Ctl.Segments), out: Segment[] = [];
  for (let i = 0, at = Ctl.Slots; i < n; i++, at += 4) {
    out.push({ slot: ctl[at], row: ctl[at + 1], n: ctl[at + 2], pos: ctl[at + 3] });
  }
  return out;
}

/** Puts `tokens` rows of `cols` floats at x into xp in the form the slice's kernel reads. */
function prepare(k: Kernels, p: ShardParams, m: DenseSlice, x: number, xp: number, tokens: number): void {
  if (m.format === "i8") k.quantize_i16_x(x, xp, tokens, m.cols, p.xQMax);
  else k.permute_bf16_x(x, xp, tokens * m.cols);
}

/** y [tokens, m.rows] = the slice's rows times xp (from prepare() for a slice of the same format and width). */
function dense(k: Kernels, m: DenseSlice, xp: number, tokens: number, y: number): void {
  if (m.format === "i8") k.f32_i8w_matmul(m.w, m.bias, m.rows, m.cols, xp, tokens, y, m.rows);
  else k.f32_bf16w_matmul(m.w, m.bias, m.rows, m.cols, xp, tokens, y, m.rows);
}

/**
 * Runs `step` of `layer` on `tokens` rows (the sequences `segs`) on shard s; f32 views its memory.
 */
export function runStep(
  k: Kernels,
  f32: Float32Array,
  s: ShardLayout,
  p: ShardParams,
  step: Step,
  layer: number,
  tokens: number,
  segs: readonly Segment[],
): void {
  const io = s.io;
  if (step === Step.Unembed) {
    prepare(k, p, s.unembed, io.x, io.xp, tokens);
    dense(k, s.unembed, io.xp, tokens, io.y);
    return;
  }
  if (step === Step.UnembedTopK) {
    const u = s.unembed;
    prepare(k, p, u, io.x + (tokens - 1) * u.cols * 4, io.xp, 1);
    dense(k, u, io.xp, 1, io.y);
    k.row_topk(io.y, u.rows, layer, io.topkIds, io.topkVals);
    return;
  }
  const L = s.layers[layer];
  switch (step) {
    case Step.Attn: {
      k.rmsnorm(io.xn, io.x, L.attnNorm, p.eps, tokens, p.hidden);
      const h = s.heads, hd = p.headDim, qw = h.heads * hd, kvw = h.kvHeads * hd;
      if (h.heads === 0) return;
      prepare(k, p, L.q, io.xn, io.xp, tokens);
      dense(k, L.q, io.xp, tokens, io.q);
      dense(k, L.k, io.xp, tokens, io.k);
      dense(k, L.v, io.xp, tokens, io.v);
      // per sequence: rope, its keys and values into its slot's cache (positions >= pos are overwritten),
      // attention against that cache
      for (const g of segs) {
        const q = io.q + g.row * qw * 4, kr = io.k + g.row * kvw * 4, vr = io.v + g.row * kvw * 4;
        const kc = L.kCache[g.slot], vc = L.vCache[g.slot];
        k.rope(q, g.n, qw, h.heads, hd, s.cos, s.sin, g.pos);
        k.rope(kr, g.n, kvw, h.kvHeads, hd, s.cos, s.sin, g.pos);
        f32.copyWithin(kc / 4 + g.pos * kvw, kr / 4, kr / 4 + g.n * kvw);
        f32.copyWithin(vc / 4 + g.pos * kvw, vr / 4, vr / 4 + g.n * kvw);
        k.sdpa_sink_window(
          io.y + g.row * qw * 4,
          q,
          kc,
          vc,
          g.pos,
          g.n,
          p.windows[layer],
          L.sinks,
          h.heads,
          h.kvHeads,
          hd,
          io.scores,
        );
      }
      return;
    }
    case Step.Out:
      prepare(k, p, L.o, io.x, io.xp, tokens);
      dense(k, L.o, io.xp, tokens, io.y);
      return;
    case Step.MoeUp: {
      k.rmsnorm(io.xn, io.x, L.mlpNorm, p.eps, tokens, p.hidden);
      prepare(k, p, L.router, io.xn, io.xp, tokens);
      dense(k, L.router, io.xp, tokens, io.router);
      k.topk_softmax(io.router, tokens, p.experts, p.k, io.sel, io.selW);
      const g = L.gateUp;
      k.f32_mxfp4w_moe_gate_up_swiglu(
        g.blocks,
        g.scales,
        g.bias,
        p.experts,
        g.rows,
        g.cols,
        io.xn,
        io.xp,
        tokens,
        io.sel,
        p.k,
        io.y,
        p.swigluLimit,
        p.swigluAlpha,
        io.tmp,
        io.lists,
        p.moeInt8,
      );
      return;
    }
    case Step.Down: {
      const d = L.down;
      k.f32_mxfp4w_moe_down_sum(
        d.blocks,
        d.scales,
        d.bias,
        p.experts,
        d.rows,
        d.cols,
        io.x,
        io.xp,
        tokens,
        io.sel,
        io.selW,
        p.k,
        io.y,
        io.tmp,
        io.lists,
        p.moeInt8,
      );
      return;
    }
  }
}
