// The one WebGPU forward pass: the layer stack of any architecture, read from its plan, over the rows of one
// step (the tokens of one or several sequences, each row at its own position in its own KV slot). Every
// matmul and the MoE take all rows at once, so a batch of decode tokens reads each weight once; RoPE, the
// cache append and attention read each row's position and slot. A flat list of named kernel calls with one
// short comment per step: the plan picks the norm, positions, QK-norm, sinks, window and the FFN.

import type { ModelConfig } from "../../model/config.ts";
import type { LayerPlan, ModelPlan } from "../../model/plan.ts";
import type { GpuFfn, GpuModel } from "./gpu_model.ts";
import type { GpuMat } from "./gpu_weights.ts";
import * as op from "./ops.ts";
import { geluTanh, swiglu } from "./ops_ffn.ts";
import { moe, type MoeGroupedScratch, moeRouter } from "./ops_moe.ts";
import type { Recorder } from "./recorder.ts";

/** Activation buffers, each sized for the most rows a step takes. */
export interface Activations {
  readonly embedRows: GPUBuffer; // [rows, hidden] embedding rows in their stored dtype
  readonly x: GPUBuffer; // [rows, hidden] residual stream
  readonly xn: GPUBuffer; // [rows, hidden] normed
  readonly qkv: GPUBuffer; // [rows, (heads + 2 kvHeads) headDim]
  readonly q: GPUBuffer; // [rows, heads*headDim] rotated
  readonly att: GPUBuffer; // [rows, heads*headDim]
  readonly proj: GPUBuffer; // [rows, hidden] attention output
  readonly ffn: GPUBuffer; // [rows, hidden] FFN output
  readonly up: GPUBuffer; // [rows, 2*width] dense MLP: up, or gate|up
  readonly hidden: GPUBuffer; // [rows, width] dense MLP: SwiGLU output
  readonly router: GPUBuffer; // [rows, experts]
  readonly sel: GPUBuffer; // [rows, k] u32 chosen experts
  readonly selW: GPUBuffer; // [rows, k] their weights
  readonly expertAct: GPUBuffer; // [rows, k, width]
}

/** What the pass records with: the recorder, the model on the GPU, buffers and scratch. */
export interface PassContext {
  readonly rec: Recorder;
  readonly config: ModelConfig;
  readonly plan: ModelPlan;
  readonly model: GpuModel;
  readonly act: Activations;
  /** Bound where a kernel has no bias (bindings must be complete). */
  readonly dummy: GPUBuffer;
  /** The sinks of attention without sinks: far below any score for every head. */
  readonly noSinks: GPUBuffer;
  readonly kvF16: boolean;
  readonly attnSplit: { readonly scratch: GPUBuffer; readonly floats: number };
  /** Scratch of the experts grouped by expert (null: no MoE layer that can group). */
  readonly moeGrouped: MoeGroupedScratch | null;
  /** Mean slots per active expert from which experts run grouped (undefined: MOE_GROUP_MIN). */
  readonly moeGroupMin?: number;
}

/** The rows of one step. */
export interface StepInput {
  /** Token id of each row. */
  readonly ids: ArrayLike<number>;
  /** Position of each row (the learned position embedding's row). */
  readonly positions: ArrayLike<number>;
  /** Positions and slots on the GPU. */
  readonly rows: op.StepRows;
}

/** Debug taps: each reads rows back (submitting what is recorded) and hands them to the debug sink. */
export interface Taps {
  /** `width` floats of every row of the step, from buffer `b`. */
  rows(name: string, layer: number, b: GPUBuffer, width: number): Promise<void>;
  /** The same as u32 values (expert ids), widened to floats. */
  ids(name: string, layer: number, b: GPUBuffer, width: number): Promise<void>;
  /** Every row's entry in a KV cache (at its slot and position). */
  cacheRows(name: string, layer: number, cache: GPUBuffer): Promise<void>;
}

/**
 * Records the embedding and the layer stack for one step into the recorder; `between(l)` runs before
 * layer l > 0 (it may submit and poll for a stop). The FFN output of the last layer is added to x.
 */
export async function recordLayers(
  ctx: PassContext,
  step: StepInput,
  taps: Taps | null,
  between: ((layer: number) => Promise<void>) | null,
): Promise<void> {
  const { rec, config: c, plan, model: m, act: a } = ctx;
  const T = step.ids.length, H = c.hiddenSize, D = c.headDim, eps = c.norm.eps;
  const qw = c.numHeads * D, kvw = c.numKvHeads * D, ffnTap = plan.ffnTap;
  const mm = (w: GpuMat, bias: GPUBuffer | null, x: GPUBuffer, y: GPUBuffer) =>
    op.f32Bf16wMatmul(rec, { w, bias, dummy: ctx.dummy, x, y, tokens: T });

  // token embedding (+ learned position embedding)
  op.embeddingGather(rec, step.ids, m.embed, a.embedRows, a.x);
  if (m.posEmbed) op.embeddingGather(rec, step.positions, m.posEmbed, a.embedRows, a.x, true);
  await taps?.rows("embedding", -1, a.x, H);
  for (let l = 0; l < c.numLayers; l++) {
    if (l > 0) await between?.(l);
    const p = plan.layers[l], at = p.attention, L = m.layers[l];
    // attention norm; after the first layer fused with the previous layer's FFN residual add
    op.norm(rec, { x: a.x, residual: l === 0 ? null : a.ffn, w: L.attnNorm, y: a.xn, tokens: T, n: H, eps });
    if (l > 0) await taps?.rows(`residual_after_${ffnTap}`, l - 1, a.x, H);
    await taps?.rows("attn_norm", l, a.xn, H);
    // q, k, v projection (one fused matmul)
    mm(L.qkv, L.qkvBias, a.xn, a.qkv);
    // per-head RMSNorm of q and k
    if (at.qkNorm) {
      op.qkRmsnorm(rec, a.qkv, L.qNorm!, L.kNorm!, T, c.numHeads, c.numKvHeads, D, qw + 2 * kvw, eps);
    }
    // rope on q and k (none with learned positions); k and v appended to each row's slot at its position
    op.rope(rec, {
      qkv: a.qkv,
      q: a.q,
      kCache: L.kCache,
      vCache: L.vCache,
      cosSin: m.cosSin ?? ctx.dummy,
      rows: step.rows,
      tokens: T,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: D,
      kvF16: ctx.kvF16,
      rope: at.rope,
    });
    if (at.rope) {
      const what = at.qkNorm ? "qk_norm_and_rope" : "rope";
      await taps?.rows(`q_after_${what}`, l, a.q, qw);
      await taps?.cacheRows(`k_after_${what}`, l, L.kCache);
    }
    // causal attention over each row's slot (sinks and a sliding window where the layer has them)
    op.sdpaSinkWindow(rec, {
      q: a.q,
      k: L.kCache,
      v: L.vCache,
      sinks: L.sinks ?? ctx.noSinks,
      out: a.att,
      rows: step.rows,
      tokens: T,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: D,
      window: at.window,
      kvF16: ctx.kvF16,
      split: ctx.attnSplit,
    });
    await taps?.rows("attn_core", l, a.att, qw);
    // output projection
    mm(L.o, L.oBias, a.att, a.proj);
    await taps?.rows("attn_out", l, a.proj, H);
    // residual add fused with the mlp norm
    op.norm(rec, { x: a.x, residual: a.proj, w: L.mlpNorm, y: a.xn, tokens: T, n: H, eps });
    await taps?.rows("residual_after_attention", l, a.x, H);
    await taps?.rows("mlp_norm", l, a.xn, H);
    // feed-forward into a.ffn: a dense MLP, or routed experts
    await recordFfn(ctx, p, L.ffn, T, taps, l);
    await taps?.rows(`${ffnTap}_out`, l, a.ffn, H);
    // residual (for all but the last layer, done by the next layer's fused norm)
    if (l === c.numLayers - 1) {
      op.addInplace(rec, a.ffn, a.x, T * H);
      await taps?.rows(`residual_after_${ffnTap}`, l, a.x, H);
    }
  }
}

/** The layer's FFN of the T normed rows in a.xn into a.ffn. */
async function recordFfn(
  ctx: PassContext,
  p: LayerPlan,
  f: GpuFfn,
  T: number,
  taps: Taps | null,
  l: number,
): Promise<void> {
  const { rec, act: a } = ctx, mlp = p.mlp;
  const mm = (w: GpuMat, bias: GPUBuffer | null, x: GPUBuffer, y: GPUBuffer) =>
    op.f32Bf16wMatmul(rec, { w, bias, dummy: ctx.dummy, x, y, tokens: T });
  if (f.kind === "dense") {
    if (mlp.act.kind === "gelu_tanh") {
      // up, GELU in place, down
      mm(f.up, f.upBias, a.xn, a.up);
      geluTanh(rec, a.up, T * mlp.width);
      mm(f.down, f.downBias, a.up, a.ffn);
    } else {
      // gate|up (one fused matmul), silu(gate) * up, down
      mm(f.up, f.upBias, a.xn, a.up);
      swiglu(rec, a.up, a.hidden, T, mlp.width);
      mm(f.down, f.downBias, a.hidden, a.ffn);
    }
    return;
  }
  const moePlan = mlp as Extract<LayerPlan["mlp"], { kind: "moe" }>, k = moePlan.topK;
  // router logits
  mm(f.router, f.routerBias, a.xn, a.router);
  await taps?.rows("router_logits", l, a.router, moePlan.experts);
  // each row's top-k experts and their weights
  moeRouter(rec, {
    routing: moePlan.routing,
    normalize: moePlan.normalize,
    logits: a.router,
    sel: a.sel,
    selW: a.selW,
    tokens: T,
    experts: moePlan.experts,
    k,
  });
  await taps?.ids("router_topk", l, a.sel, k);
  await taps?.rows("expert_weights", l, a.selW, k);
  // the chosen experts' SwiGLU MLPs, weighted and summed
  moe(rec, {
    sel: a.sel,
    selW: a.selW,
    x: a.xn,
    act: a.expertAct,
    out: a.ffn,
    experts: f.experts,
    activation: moePlan.act,
    dummy: ctx.dummy,
    tokens: T,
    k,
    grouped: ctx.moeGrouped ?? undefined,
    groupMin: ctx.moeGroupMin,
  });
}

/**
 * The final norm of `m` rows of x (the residual stream, or rows copied out of it) from row `row0` into xn,
 * then the unembedding into `logits` (m rows).
 */
export function recordLogits(
  ctx: PassContext,
  x: GPUBuffer,
  row0: number,
  m: number,
  logits: GPUBuffer,
): void {
  const c = ctx.config, a = ctx.act;
  op.norm(ctx.rec, { x, row0, w: ctx.model.finalNorm, y: a.xn, tokens: m, n: c.hiddenSize, eps: c.norm.eps });
  op.f32Bf16wMatmul(ctx.rec, {
    w: ctx.model.unembed,
    bias: null,
    dummy: ctx.dummy,
    x: a.xn,
    y: logits,
    tokens: m,
  });
}
