// Host wrappers of the mixture-of-experts kernels: routing (moeRouter, shaders/moe_router.wgsl, either order
// of softmax and top-k), then the chosen experts, MXFP4 or float, as moe() picks. A token or a few (decode)
// run slot by slot as matrix-vector products (f32Mxfp4wMoe, f32Bf16wMoe); enough tokens that experts average
// MOE_GROUP_MIN slots (a prefill chunk, a large batch of decode tokens from several sequences) are grouped by
// expert on the GPU and run as tiles of tokens (f32Mxfp4wMoeGemm, either format), so each active expert's
// weights are read once per tile.

import type { Activation } from "../../model/plan.ts";
import type { GpuFloatExperts } from "./gpu_float_experts.ts";
import { type GpuExperts, WDT_MXFP4 } from "./gpu_weights.ts";
import { check, elemGrid, rowGrid, WG } from "./ops.ts";
import type { Constants } from "./pipelines.ts";
import type { Bindings, Recorder } from "./recorder.ts";

/** A layer's experts as the kernels read them: gate and up rows interleaved (gate 2i, up 2i+1), then down. */
export type Experts =
  | { readonly format: "mxfp4"; readonly gateUp: GpuExperts; readonly down: GpuExperts }
  | { readonly format: "float"; readonly gateUp: GpuFloatExperts; readonly down: GpuFloatExperts };

export interface MoeRouterArgs {
  /** topk_softmax: softmax of the k largest logits (gpt-oss); softmax_topk: the k largest of the softmax
   * over all experts, divided by their sum when `normalize` (Qwen3-MoE). */
  readonly routing: "topk_softmax" | "softmax_topk";
  readonly normalize: boolean;
  readonly logits: GPUBuffer; // [tokens, experts]
  readonly sel: GPUBuffer; // [tokens, k] u32: chosen experts, strongest first
  readonly selW: GPUBuffer; // [tokens, k]: their weights
  readonly tokens: number;
  readonly experts: number;
  readonly k: number;
}

/** Most experts routing takes (one bit each in a thread's chosen set). */
export const ROUTE_MAX_EXPERTS = 512;

/** Each token's k experts and their weights from its router logits (ties: the lower expert first). */
export function moeRouter(rec: Recorder, a: MoeRouterArgs): void {
  check(
    a.experts <= ROUTE_MAX_EXPERTS && a.k >= 1 && a.k <= a.experts,
    `routing: top-${a.k} of ${a.experts} experts`,
  );
  rec.dispatch(
    "moe_router",
    a.routing,
    { WG },
    { 1: a.logits, 2: a.sel, 3: a.selW },
    { tokens: a.tokens, k: a.k, num_experts: a.experts, norm_topk: a.normalize ? 1 : 0 },
    [Math.ceil(a.tokens / WG)],
  );
}

/** Scratch of the grouped path, sized for the most tokens a call may take (see moeGroupedSizes). */
export interface MoeGroupedScratch {
  readonly order: GPUBuffer; // [tokens*k] u32: slots sorted by expert
  readonly tiles: GPUBuffer; // u32: tile count, then (expert, start, count) per tile
  readonly slotOut: GPUBuffer; // [tokens*k, hidden] weighted expert outputs
}

export interface MoeArgs {
  readonly sel: GPUBuffer; // [tokens, k] u32
  readonly selW: GPUBuffer; // [tokens, k]
  readonly x: GPUBuffer; // [tokens, hidden] normed input
  readonly act: GPUBuffer; // [tokens, k, ffn] scratch
  readonly out: GPUBuffer; // [tokens, hidden]
  /** gateUp [experts, 2*ffn, hidden], down [experts, hidden, ffn]. */
  readonly experts: Experts;
  /** swiglu_clamped (MXFP4 experts) or swiglu (float experts). */
  readonly activation: Activation;
  /** Bound where the kernel has no such buffer (float experts' scales and biases). */
  readonly dummy: GPUBuffer;
  readonly tokens: number;
  readonly k: number;
  /** Without it (or for one token) every slot runs as matrix-vector products. */
  readonly grouped?: MoeGroupedScratch;
  /** Mean slots per active expert from which to group (default MOE_GROUP_MIN; tests use 0: always). */
  readonly groupMin?: number;
}

/** Slots per active expert, on average, from which the experts run grouped (below: slot by slot). */
export const MOE_GROUP_MIN = 4;

/** Most experts the grouped path takes (its grouping kernel has one thread per expert). */
export const GROUP_MAX_EXPERTS = 256;

/** Average slots per active expert: each expert's share when the slots spread over as many as they can. */
const meanGroup = (tokens: number, k: number, experts: number) => tokens * k / Math.min(experts, tokens * k);

/** Whether `tokens` tokens run grouped by expert: groups of a few tokens would mostly compute padding. */
export function moeGroups(tokens: number, k: number, experts: number, groupMin = MOE_GROUP_MIN): boolean {
  return tokens > 1 && experts <= GROUP_MAX_EXPERTS && meanGroup(tokens, k, experts) >= groupMin;
}

/**
 * Token tile of the grouped path, sized to the mean group: a tile's unused token rows are computed anyway
 * (the MoE of a prefill chunk is compute-bound on GPUs too), a group past its tile reads the weights again.
 * A 20b prefill chunk of 128 tokens averages 16 slots per expert.
 */
export function moeTile(tokens: number, k: number, experts: number): { BT: number; TM: number } {
  const mean = meanGroup(tokens, k, experts);
  return mean >= 48 ? { BT: 64, TM: 4 } : mean >= 24 ? { BT: 32, TM: 2 } : { BT: 16, TM: 2 };
}

/** Most tiles the grouped path cuts: one partial tile per active expert plus the full ones. */
export function moeMaxTiles(tokens: number, k: number, experts: number): number {
  const slots = tokens * k;
  return Math.min(experts, slots) + Math.floor(slots / moeTile(tokens, k, experts).BT);
}

/** Sizes in 4-byte words of the grouped scratch for calls of up to `tokens` tokens. */
export function moeGroupedSizes(
  tokens: number,
  k: number,
  experts: number,
  hidden: number,
  groupMin = MOE_GROUP_MIN,
): { order: number; tiles: number; slotOut: number } {
  let tiles = 0;
  for (let t = 2; t <= tokens; t++) {
    if (moeGroups(t, k, experts, groupMin)) tiles = Math.max(tiles, moeMaxTiles(t, k, experts));
  }
  return { order: tokens * k, tiles: 1 + 3 * tiles, slotOut: tokens * k * hidden };
}

/**
 * Bytes of one expert of `x` that a kernel reads: MXFP4 blocks, scales and the f32 bias; float words (of
 * the widest part, where parts differ in dtype).
 */
function expertBytes(x: GpuExperts | GpuFloatExperts): number {
  const n = x.rows * x.cols;
  if ("scales" in x) return n / 2 + n / 32 + x.rows * 4;
  return n * Math.max(...x.parts.map((p) => p.wdt === 2 ? 4 : 2));
}

/**
 * The chosen experts (after moeRouter()): gate_up + SwiGLU, down and the weighted sum, reading only the
 * chosen experts. Counted weight bytes: exact for the slot path (each slot reads its expert once); for the
 * grouped path the bound of moeMaxTiles tiles (the GPU knows the groups, the host does not).
 */
export function moe(rec: Recorder, a: MoeArgs): void {
  const { gateUp, down } = a.experts, { tokens, k } = a, mxfp4 = a.experts.format === "mxfp4";
  check(!mxfp4 || (gateUp.cols % 32 === 0 && down.cols % 32 === 0), "moe shapes: MXFP4 rows of whole blocks");
  check(down.cols * 2 === gateUp.rows && down.rows === gateUp.cols, "moe gate_up/down shapes disagree");
  check(gateUp.numExperts === down.numExperts, "moe expert counts disagree");
  const clamped = a.activation.kind === "swiglu_clamped";
  check(
    clamped === mxfp4 && a.activation.kind !== "gelu_tanh",
    `${a.experts.format} experts with ${a.activation.kind}`,
  );
  const base = {
    tokens,
    k,
    num_experts: gateUp.numExperts,
    first: 0,
    limit: clamped ? (a.activation as { limit: number }).limit : 0,
    alpha: clamped ? (a.activation as { alpha: number }).alpha : 0,
  };
  const grouped = a.grouped !== undefined && moeGroups(tokens, k, gateUp.numExperts, a.groupMin);
  if (grouped) f32Mxfp4wMoeGemm(rec, a, a.grouped!, base);
  else if (mxfp4) f32Mxfp4wMoe(rec, a, base);
  else f32Bf16wMoe(rec, a, base);
  const reads = grouped ? moeMaxTiles(tokens, k, gateUp.numExperts) : tokens * k;
  rec.countWeights(reads * (expertBytes(gateUp) + expertBytes(down)));
}

type Base = { tokens: number; k: number; num_experts: number; first: number; limit: number; alpha: number };

/** MXFP4 experts slot by slot (moeSlots). */
function f32Mxfp4wMoe(rec: Recorder, a: MoeArgs, base: Base): void {
  moeSlots(rec, "f32_mxfp4w_moe", a, base);
}

/** Float experts (bf16, f16 or f32 words) slot by slot (moeSlots). */
function f32Bf16wMoe(rec: Recorder, a: MoeArgs, base: Base): void {
  moeSlots(rec, "f32_bf16w_moe", a, base);
}

/**
 * Each slot (token, chosen expert) as matrix-vector products, a workgroup per output row: gate_up over
 * every slot, then down + the weighted sum per token. Both kernels take the same binding numbers; MXFP4
 * adds its scales and biases.
 */
function moeSlots(rec: Recorder, kernel: "f32_mxfp4w_moe" | "f32_bf16w_moe", a: MoeArgs, base: Base): void {
  const { tokens, k } = a;
  const of = (x: GpuExperts | GpuFloatExperts) =>
    x.parts.map((part) => ({
      part,
      constants: ("wdt" in part ? { WG, WDT: part.wdt as number } : { WG }) as Constants,
      bound: ("scales" in x ? { 4: part.buffer, 5: x.scales, 6: x.bias } : { 4: part.buffer }) as Bindings,
    }));
  const { gateUp, down } = a.experts;
  for (const { part, constants, bound } of of(gateUp)) {
    rec.dispatch(
      kernel,
      "gate_up_swiglu",
      constants,
      { 2: a.sel, ...bound, 7: a.x, 8: a.act },
      { ...base, rows: gateUp.rows, cols: gateUp.cols, e0: part.e0, e1: part.e1 },
      [...rowGrid(gateUp.rows / 2), tokens * k],
    );
  }
  of(down).forEach(({ part, constants, bound }, i) => {
    rec.dispatch(
      kernel,
      "down",
      constants,
      { 2: a.sel, 3: a.selW, ...bound, 7: a.act, 9: a.out },
      { ...base, rows: down.rows, cols: down.cols, e0: part.e0, e1: part.e1, first: i === 0 ? 1 : 0 },
      [...rowGrid(down.rows), tokens],
    );
  });
}

/** The slots grouped by expert on the GPU, then gate_up and down as tiles of up to BT tokens per expert. */
function f32Mxfp4wMoeGemm(rec: Recorder, a: MoeArgs, s: MoeGroupedScratch, base: Base): void {
  const { gateUp, down } = a.experts, { tokens, k } = a;
  const E = gateUp.numExperts, tile = moeTile(tokens, k, E), maxTiles = moeMaxTiles(tokens, k, E);
  check(s.tiles.size >= 4 * (1 + 3 * maxTiles) && s.order.size >= 4 * tokens * k, "moe grouped scratch");
  const p = { ...base, rows: 0, cols: 0, e0: 0, e1: E };
  rec.dispatch("f32_mxfp4w_moe_gemm", "group", tile, { 1: a.sel, 3: s.order, 4: s.tiles }, p, [1]);
  // MXFP4: blocks, scales and a bias per row; float: words only (the other two bindings a placeholder)
  const mx = a.experts.format === "mxfp4";
  const weights = (x: GpuExperts | GpuFloatExperts) =>
    x.parts.map((part) => ({
      part,
      constants: { ...tile, WDT: "wdt" in part ? part.wdt as number : WDT_MXFP4, CLAMPED: mx, HAS_BIAS: mx },
      bound: { 7: part.buffer, 8: "scales" in x ? x.scales : a.dummy, 9: "bias" in x ? x.bias : a.dummy },
    }));
  for (const { part, constants, bound } of weights(gateUp)) {
    rec.dispatch(
      "f32_mxfp4w_moe_gemm",
      "gate_up_swiglu",
      constants,
      { 5: s.order, 6: s.tiles, ...bound, 10: a.x, 11: a.act },
      { ...p, rows: gateUp.rows, cols: gateUp.cols, e0: part.e0, e1: part.e1 },
      [Math.ceil(gateUp.rows / 64), maxTiles],
    );
  }
  for (const { part, constants, bound } of weights(down)) {
    rec.dispatch(
      "f32_mxfp4w_moe_gemm",
      "down",
      constants,
      { 2: a.selW, 5: s.order, 6: s.tiles, ...bound, 10: a.act, 12: s.slotOut },
      { ...p, rows: down.rows, cols: down.cols, e0: part.e0, e1: part.e1 },
      [Math.ceil(down.rows / 64), maxTiles],
    );
  }
  rec.dispatch(
    "f32_mxfp4w_moe_gemm",
    "combine",
    tile,
    { 12: s.slotOut, 13: a.out },
    { ...p, rows: down.rows },
    elemGrid(tokens * down.rows),
  );
}
