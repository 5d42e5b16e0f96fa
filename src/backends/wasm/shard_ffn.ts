// A shard's half of the plan's feed-forward, in two steps: FfnUp (router, routing, the activation columns
// this shard owns) and Down (its rows of the down projection, summed over the chosen experts). Dense MLPs,
// MXFP4 experts and float experts differ only in which kernels run; the plan and the slices decide.

import type { Activation, MoePlan } from "../../model/plan.ts";
import type { Kernels } from "./kernels.ts";
import type { ShardLayout, ShardParams } from "./shard_layout.ts";
import { DenseInput } from "./shard_ops.ts";
import type { Abandoned, ShardMemory } from "./shard_step.ts";

/**
 * What both steps take: the kernels, views and layout of the shard, its params, the layer, the rows, and
 * whether the step is to be abandoned (checked between expert ranges).
 */
type FfnStepArgs = [
  k: Kernels,
  mem: ShardMemory,
  s: ShardLayout,
  p: ShardParams,
  layer: number,
  tokens: number,
  abandoned: Abandoned,
];

/**
 * Experts per call of the MXFP4 MoE kernels: a step polls its stop between calls. A 32-token chunk of
 * gpt-oss-20b runs each expert's rows in some 6 ms here (two threads), 4 of them in some 25.
 */
const EXPERTS_PER_CALL = 4;

/**
 * FfnUp once io.xn holds the normed residual [tokens, hidden]: io.y [tokens*k, act.cols] (k = 1 for a
 * dense MLP), row t*k + j the activation columns of token t's j-th choice; routing into io.sel/io.selW.
 */
export function ffnUp(...[k, mem, s, p, layer, tokens, abandoned]: FfnStepArgs): void {
  const io = s.io, L = s.layers[layer], f = L.ffn, mlp = p.layers[layer].mlp, cols = L.act.cols;
  if (f.kind === "dense") {
    if (cols === 0) return;
    const x = new DenseInput(k, io.xn, io.xp, tokens, p.xQMax, abandoned);
    if (f.gate) x.matmul(f.gate, io.tmp);
    x.matmul(f.up, io.y);
    if (abandoned()) return;
    activate(k, mlp.act, io.tmp, io.y, tokens * cols);
    return;
  }
  const m = mlp as MoePlan, K = m.topK;
  new DenseInput(k, io.xn, io.xp, tokens, p.xQMax).matmul(f.router, io.router);
  if (m.routing === "topk_softmax") {
    k.moe_router_topk_softmax(io.router, tokens, m.experts, K, io.sel, io.selW);
  } else k.moe_router_softmax_topk(io.router, tokens, m.experts, K, m.normalize ? 1 : 0, io.sel, io.selW);
  if (f.kind === "mxfp4") {
    const g = f.gateUp, act = m.act as Extract<Activation, { kind: "swiglu_clamped" }>;
    forExpertRanges(m.experts, abandoned, (e0, e1) =>
      k.f32_mxfp4w_moe_gate_up_swiglu(
        g.blocks,
        g.scales,
        g.bias,
        m.experts,
        g.rows,
        g.cols,
        io.xn,
        io.xp,
        tokens,
        io.sel,
        K,
        io.y,
        act.limit,
        act.alpha,
        io.tmp,
        io.lists,
        p.moeInt8,
        e0,
        e1,
        io.moeScratch,
      ));
    return;
  }
  if (cols === 0) return;
  // float experts, expert by expert over the (token, choice) rows routed to it
  const H = p.hidden;
  forEachExpert(mem.i32, io.sel, tokens * K, m.experts, abandoned, (e, rows) => {
    rows.forEach((r, i) => copy(mem.f32, io.xg + i * H * 4, io.xn + Math.floor(r / K) * H * 4, H));
    const x = new DenseInput(k, io.xg, io.xp, rows.length, p.expertQMax, abandoned),
      up = io.tmp + rows.length * cols * 4;
    x.matmul(f.gate[e], io.tmp);
    x.matmul(f.up[e], up);
    activate(k, m.act, io.tmp, up, rows.length * cols);
    rows.forEach((r, i) => copy(mem.f32, io.y + r * cols * 4, up + i * cols * 4, cols));
  });
}

/**
 * Down once io.x holds the whole activation [tokens*k, width]: io.y [tokens, rows] of this shard's rows of
 * the down projection, summed over each token's choices with io.selW (in choice order).
 */
export function ffnDown(...[k, mem, s, p, layer, tokens, abandoned]: FfnStepArgs): void {
  const io = s.io, f = s.layers[layer].ffn;
  if (f.kind === "dense") {
    new DenseInput(k, io.x, io.xp, tokens, p.xQMax, abandoned).matmul(f.down, io.y);
    return;
  }
  const m = p.layers[layer].mlp as MoePlan, K = m.topK;
  if (f.kind === "mxfp4") {
    const d = f.down;
    forExpertRanges(m.experts, abandoned, (e0, e1) =>
      k.f32_mxfp4w_moe_down_sum(
        d.blocks,
        d.scales,
        d.bias,
        m.experts,
        d.rows,
        d.cols,
        io.x,
        io.xp,
        tokens,
        io.sel,
        io.selW,
        K,
        io.y,
        io.tmp,
        io.lists,
        p.moeInt8,
        e0,
        e1,
        io.moeScratch,
      ));
    return;
  }
  const rows = f.down[0].rows, width = f.down[0].cols;
  if (rows === 0) return;
  forEachExpert(mem.i32, io.sel, tokens * K, m.experts, abandoned, (e, list) => {
    list.forEach((r, i) => copy(mem.f32, io.xg + i * width * 4, io.x + r * width * 4, width));
    new DenseInput(k, io.xg, io.xp, list.length, p.expertQMax, abandoned).matmul(f.down[e], io.tmp);
    list.forEach((r, i) => copy(mem.f32, io.slotOut + r * rows * 4, io.tmp + i * rows * 4, rows));
  });
  k.weighted_row_sum(io.y, io.slotOut, io.selW, tokens, K, rows);
}

/** up = act(gate, up) over n floats: SwiGLU silu(gate) * up, or GELU (tanh) of up (no gate). */
function activate(k: Kernels, act: Activation, gate: number, up: number, n: number): void {
  if (act.kind === "gelu_tanh") k.gelu_tanh(up, n);
  else k.swiglu(up, gate, up, n);
}

/**
 * Calls `run(e0, e1)` for the consecutive expert ranges of EXPERTS_PER_CALL that cover [0, experts), in
 * order, until `abandoned()`: the MXFP4 MoE kernels take a range, so a stop is seen between two.
 */
function forExpertRanges(experts: number, abandoned: Abandoned, run: (e0: number, e1: number) => void): void {
  for (let e0 = 0; e0 < experts && !abandoned(); e0 += EXPERTS_PER_CALL) {
    run(e0, Math.min(experts, e0 + EXPERTS_PER_CALL));
  }
}

/**
 * Calls `run(e, rows)` for each expert chosen by some of the `n` (token, choice) rows of sel, in order, until
 * `abandoned()`.
 */
function forEachExpert(
  i32: Int32Array,
  sel: number,
  n: number,
  experts: number,
  abandoned: Abandoned,
  run: (e: number, rows: number[]) => void,
): void {
  const routed: number[][] = Array.from({ length: experts }, () => []);
  for (let r = 0; r < n; r++) routed[i32[sel / 4 + r]].push(r);
  for (let e = 0; e < experts && !abandoned(); e++) if (routed[e].length > 0) run(e, routed[e]);
}

/** Copies `n` floats from byte offset `from` to byte offset `to`. */
function copy(f32: Float32Array, to: number, from: number, n: number): void {
  f32.copyWithin(to / 4, from / 4, from / 4 + n);
}
