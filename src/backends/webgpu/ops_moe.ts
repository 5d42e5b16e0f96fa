// Host wrappers of the MXFP4 mixture-of-experts kernels: a token or a few (decode) run slot by slot as
// matrix-vector products (shaders/f32_mxfp4w_moe.wgsl); enough tokens that experts average MOE_GROUP_MIN
// slots (a prefill chunk, a batch of decode tokens) are grouped by expert on the GPU and run as tiles of
// tokens (shaders/f32_mxfp4w_moe_gemm.wgsl), so each active expert's weights are read once per tile.

import type { GpuExperts } from "./gpu_weights.ts";
import { check, elemGrid, rowGrid, WG } from "./ops.ts";
import type { Recorder } from "./recorder.ts";

/** Scratch of the grouped path, sized for the most tokens a call may take (see moeGroupedSizes). */
export interface MoeGroupedScratch {
  readonly order: GPUBuffer; // [tokens*k] u32: slots sorted by expert
  readonly tiles: GPUBuffer; // u32: tile count, then (expert, start, count) per tile
  readonly slotOut: GPUBuffer; // [tokens*k, hidden] weighted expert outputs
}

export interface MoeArgs {
  readonly routerLogits: GPUBuffer; // [tokens, experts]
  readonly sel: GPUBuffer; // [tokens, k] u32
  readonly selW: GPUBuffer; // [tokens, k]
  readonly x: GPUBuffer; // [tokens, hidden] normed input
  readonly act: GPUBuffer; // [tokens, k, ffn] scratch
  readonly out: GPUBuffer; // [tokens, hidden]
  readonly gateUp: GpuExperts; // [experts, 2*ffn, hidden]
  readonly down: GpuExperts; // [experts, hidden, ffn]
  readonly tokens: number;
  readonly k: number;
  readonly limit: number;
  readonly alpha: number;
  /** Without it (or for one token) every slot runs as matrix-vector products. */
  readonly grouped?: MoeGroupedScratch;
  /** Mean slots per active expert from which to group (default MOE_GROUP_MIN; tests use 0: always). */
  readonly groupMin?: number;
}

/** Slots per active expert, on average, from which the experts run grouped (below: slot by slot). */
export const MOE_GROUP_MIN = 4;

/** Average slots per active expert: each expert's share when the slots spread over as many as they can. */
const meanGroup = (tokens: number, k: number, experts: number) => tokens * k / Math.min(experts, tokens * k);

/** Whether `tokens` tokens run grouped by expert: groups of a few tokens would mostly compute padding. */
export function moeGroups(tokens: number, k: number, experts: number, groupMin = MOE_GROUP_MIN): boolean {
  return tokens > 1 && meanGroup(tokens, k, experts) >= groupMin;
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

/** Bytes of one expert of `x` that a kernel reads: blocks, scales and its f32 bias. */
const expertBytes = (x: GpuExperts) => x.rows * x.cols / 2 + x.rows * x.cols / 32 + x.rows * 4;

/**
 * Router top-k + softmax, gate_up + clamped SwiGLU, down and the weighted sum, reading only the chosen
 * experts. Counted weight bytes: exact for the slot path (each slot reads its expert once); for the
 * grouped path the bound of moeMaxTiles tiles (the GPU knows the groups, the host does not).
 */
export function moe(rec: Recorder, a: MoeArgs): void {
  const { gateUp, down, tokens, k } = a;
  check(gateUp.numExperts <= 256 && gateUp.cols % 32 === 0 && down.cols % 32 === 0, "moe shapes");
  check(down.cols * 2 === gateUp.rows && down.rows === gateUp.cols, "moe gate_up/down shapes disagree");
  const base = { tokens, k, num_experts: gateUp.numExperts, limit: a.limit, alpha: a.alpha };
  rec.dispatch("f32_mxfp4w_moe", "router_topk", { WG }, { 1: a.routerLogits, 2: a.sel, 3: a.selW }, {
    ...base,
    rows: 0,
    cols: 0,
    e0: 0,
    e1: 0,
    first: 0,
  }, [Math.ceil(tokens / WG)]);
  if (a.grouped && moeGroups(tokens, k, gateUp.numExperts, a.groupMin)) moeGrouped(rec, a, a.grouped, base);
  else moeSlots(rec, a, base);
}

type Base = { tokens: number; k: number; num_experts: number; limit: number; alpha: number };

/** Each slot (token, chosen expert) as matrix-vector products: one workgroup per output row and slot. */
function moeSlots(rec: Recorder, a: MoeArgs, base: Base): void {
  const { gateUp, down, tokens, k } = a;
  for (const part of gateUp.parts) {
    rec.dispatch(
      "f32_mxfp4w_moe",
      "gate_up_swiglu",
      { WG },
      { 2: a.sel, 4: part.buffer, 5: gateUp.scales, 6: gateUp.bias, 7: a.x, 8: a.act },
      { ...base, rows: gateUp.rows, cols: gateUp.cols, e0: part.e0, e1: part.e1, first: 0 },
      [...rowGrid(gateUp.rows / 2), tokens * k],
    );
  }
  down.parts.forEach((part, i) => {
    rec.dispatch(
      "f32_mxfp4w_moe",
      "down",
      { WG },
      { 2: a.sel, 3: a.selW, 4: part.buffer, 5: down.scales, 6: down.bias, 7: a.act, 9: a.out },
      { ...base, rows: down.rows, cols: down.cols, e0: part.e0, e1: part.e1, first: i === 0 ? 1 : 0 },
      [...rowGrid(down.rows), tokens],
    );
  });
  rec.countWeights(tokens * k * (expertBytes(gateUp) + expertBytes(down)));
}

/** The slots grouped by expert on the GPU, then gate_up and down as tiles of up to BT tokens per expert. */
function moeGrouped(rec: Recorder, a: MoeArgs, s: MoeGroupedScratch, base: Base): void {
  const { gateUp, down, tokens, k } = a;
  const E = gateUp.numExperts, tile = moeTile(tokens, k, E), maxTiles = moeMaxTiles(tokens, k, E);
  check(s.tiles.size >= 4 * (1 + 3 * maxTiles) && s.order.size >= 4 * tokens * k, "moe grouped scratch");
  const p = { ...base, rows: 0, cols: 0, e0: 0, e1: E };
  rec.dispatch("f32_mxfp4w_moe_gemm", "group", tile, { 1: a.sel, 3: s.order, 4: s.tiles }, p, [1]);
  for (const part of gateUp.parts) {
    rec.dispatch(
      "f32_mxfp4w_moe_gemm",
      "gate_up_swiglu",
      tile,
      { 5: s.order, 6: s.tiles, 7: part.buffer, 8: gateUp.scales, 9: gateUp.bias, 10: a.x, 11: a.act },
      { ...p, rows: gateUp.rows, cols: gateUp.cols, e0: part.e0, e1: part.e1 },
      [Math.ceil(gateUp.rows / 64), maxTiles],
    );
  }
  for (const part of down.parts) {
    rec.dispatch(
      "f32_mxfp4w_moe_gemm",
      "down",
      tile,
      {
        2: a.selW,
        5: s.order,
        6: s.tiles,
        7: part.buffer,
        8: down.scales,
        9: down.bias,
        10: a.act,
        12: s.slotOut,
      },
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
  rec.countWeights(maxTiles * (expertBytes(gateUp) + expertBytes(down)));
}
