// The steps a shard computes on its own slice, and the control block through which the host asks for
// them. A step reads io.x (and io.sel/io.selW) and writes io.y (and io.yk/io.yv) of the shard's memory.

import type { Kernels } from "./kernels.ts";
import type { ShardLayout, ShardParams } from "./shard_layout.ts";

export enum Step {
  /** q, k, v projections of io.x [tokens, hidden] into io.y, io.yk, io.yv. */
  Qkv = 1,
  /** Attention output projection of io.x [tokens, heads*headDim]. */
  Out = 2,
  /** Router logits of io.x [tokens, hidden]. */
  Router = 3,
  /** gate_up + SwiGLU of io.x [tokens, hidden] for the experts in io.sel: io.y [tokens*k, pairs]. */
  GateUp = 4,
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
  Slots = 8,
}

export function runStep(
  k: Kernels,
  s: ShardLayout,
  p: ShardParams,
  step: Step,
  layer: number,
  tokens: number,
): void {
  const io = s.io;
  if (step === Step.Unembed) {
    const u = s.unembed;
    k.permute_bf16_x(io.x, io.xp, tokens * u.cols);
    k.f32_bf16w_matmul(u.w, 0, u.rows, u.cols, io.xp, tokens, io.y, u.rows);
    return;
  }
  if (step === Step.UnembedTopK) {
    const u = s.unembed, last = io.x + (tokens - 1) * u.cols * 4;
    k.permute_bf16_x(last, io.xp, u.cols);
    k.f32_bf16w_matmul(u.w, 0, u.rows, u.cols, io.xp, 1, io.y, u.rows);
    k.row_topk(io.y, u.rows, layer, io.topkIds, io.topkVals);
    return;
  }
  const L = s.layers[layer];
  switch (step) {
    case Step.Qkv:
      k.permute_bf16_x(io.x, io.xp, tokens * p.hidden);
      k.f32_bf16w_matmul(L.q.w, L.q.bias, L.q.rows, L.q.cols, io.xp, tokens, io.y, L.q.rows);
      k.f32_bf16w_matmul(L.k.w, L.k.bias, L.k.rows, L.k.cols, io.xp, tokens, io.yk, L.k.rows);
      k.f32_bf16w_matmul(L.v.w, L.v.bias, L.v.rows, L.v.cols, io.xp, tokens, io.yv, L.v.rows);
      return;
    case Step.Out:
      k.permute_bf16_x(io.x, io.xp, tokens * p.qWidth);
      k.f32_bf16w_matmul(L.o.w, L.o.bias, L.o.rows, L.o.cols, io.xp, tokens, io.y, L.o.rows);
      return;
    case Step.Router:
      k.permute_bf16_x(io.x, io.xp, tokens * p.hidden);
      k.f32_bf16w_matmul(
        L.router.w,
        L.router.bias,
        L.router.rows,
        L.router.cols,
        io.xp,
        tokens,
        io.y,
        L.router.rows,
      );
      return;
    case Step.GateUp: {
      const g = L.gateUp;
      k.f32_mxfp4w_moe_gate_up_swiglu(
        g.blocks,
        g.scales,
        g.bias,
        p.experts,
        g.rows,
        g.cols,
        io.x,
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
