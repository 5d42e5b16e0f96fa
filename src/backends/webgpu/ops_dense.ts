// Thin host wrappers for the GPT-2 / Qwen3 kernels (layernorm, gelu_tanh, qk_rmsnorm, swiglu, softmax_topk,
// f32_bf16w_moe): check shapes, fill Params, dispatch. They allocate nothing; every buffer is passed in.

import type { GpuDenseExperts } from "./gpu_dense_experts.ts";
import type { Recorder } from "./recorder.ts";

const WG = 64;
const rowGrid = (rows: number): [number, number] => [Math.min(rows, 32768), Math.ceil(rows / 32768)];
const elemGrid = (n: number): [number, number] => {
  const g = Math.max(1, Math.ceil(n / WG));
  return [Math.min(g, 65535), Math.ceil(g / 65535)];
};

function check(ok: boolean, what: string): void {
  if (!ok) throw new RangeError(`webgpu kernel: ${what}`);
}

/** y[t] = layerNorm(x[xOffset + t*n ..]) * w + b for t < tokens (population variance). */
export function layernorm(
  rec: Recorder,
  x: GPUBuffer,
  xOffset: number,
  w: GPUBuffer,
  b: GPUBuffer,
  y: GPUBuffer,
  tokens: number,
  n: number,
  eps: number,
): void {
  check(tokens > 0 && n > 0, `layernorm ${tokens}x${n}`);
  rec.dispatch(
    "layernorm",
    "main",
    { WG },
    { 1: x, 2: w, 3: b, 4: y },
    { tokens, n, x_offset: xOffset, eps },
    [
      tokens,
    ],
  );
}

/** x += r (in place), then y = layerNorm(x) * w + b, row by row: the residual add fused with the next norm. */
export function addLayernorm(
  rec: Recorder,
  x: GPUBuffer,
  r: GPUBuffer,
  w: GPUBuffer,
  b: GPUBuffer,
  y: GPUBuffer,
  tokens: number,
  n: number,
  eps: number,
): void {
  check(tokens > 0 && n > 0, `layernorm ${tokens}x${n}`);
  rec.dispatch("layernorm", "add_main", { WG }, { 2: w, 3: b, 4: y, 5: x, 6: r }, {
    tokens,
    n,
    x_offset: 0,
    eps,
  }, [tokens]);
}

/** x[i] = gelu_tanh(x[i]) in place, i < n. */
export function geluTanh(rec: Recorder, x: GPUBuffer, n: number): void {
  rec.dispatch("gelu_tanh", "main", { WG }, { 1: x }, { n }, elemGrid(n));
}

/** Per-head RMSNorm, in place, of the q and k heads of fused [q | k | v] rows `stride` floats apart. */
export function qkRmsnorm(
  rec: Recorder,
  qkv: GPUBuffer,
  qW: GPUBuffer,
  kW: GPUBuffer,
  tokens: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  stride: number,
  eps: number,
): void {
  check(stride >= (heads + kvHeads) * headDim, `qk_rmsnorm stride ${stride}`);
  rec.dispatch(
    "qk_rmsnorm",
    "main",
    { WG },
    { 1: qkv, 2: qW, 3: kW },
    { tokens, heads, kv_heads: kvHeads, head_dim: headDim, stride, eps },
    [heads + kvHeads, tokens],
  );
}

/** y[t, i] = silu(x[t, i]) * x[t, n + i]: x rows are fused [gate | up] projections of 2n floats. */
export function swiglu(rec: Recorder, x: GPUBuffer, y: GPUBuffer, tokens: number, n: number): void {
  rec.dispatch("swiglu", "main", { WG }, { 1: x, 2: y }, { tokens, n }, elemGrid(tokens * n));
}

/** sel/selW[t, :k]: top-k of softmax(router logits row t), renormalised when normTopk. */
export function softmaxTopk(
  rec: Recorder,
  logits: GPUBuffer,
  sel: GPUBuffer,
  selW: GPUBuffer,
  tokens: number,
  numExperts: number,
  k: number,
  normTopk: boolean,
): void {
  check(numExperts <= 512 && k >= 1 && k <= numExperts, `softmax_topk ${k} of ${numExperts} experts`);
  rec.dispatch(
    "softmax_topk",
    "main",
    { WG },
    { 1: logits, 2: sel, 3: selW },
    { tokens, k, num_experts: numExperts, norm_topk: normTopk ? 1 : 0 },
    [Math.ceil(tokens / WG)],
  );
}

export interface DenseMoeArgs {
  readonly sel: GPUBuffer; // [tokens, k] u32 chosen experts
  readonly selW: GPUBuffer; // [tokens, k] their weights
  readonly x: GPUBuffer; // [tokens, hidden] normed input
  readonly act: GPUBuffer; // [tokens, k, ffn] scratch
  readonly out: GPUBuffer; // [tokens, hidden]
  readonly gateUp: GpuDenseExperts; // per expert [2*ffn, hidden]: gate rows then up rows
  readonly down: GpuDenseExperts; // per expert [hidden, ffn]
  readonly tokens: number;
  readonly k: number;
}

/** out = sum_j selW_j * down_e(silu(gate_e x) * up_e x) over each token's chosen experts only. */
export function denseMoe(rec: Recorder, a: DenseMoeArgs): void {
  const { gateUp, down, tokens, k } = a;
  check(down.cols * 2 === gateUp.rows && down.rows === gateUp.cols, "moe gate_up/down shapes disagree");
  check(gateUp.numExperts === down.numExperts, "moe expert counts disagree");
  const base = { tokens, k, first: 0 };
  for (const part of gateUp.parts) {
    rec.dispatch(
      "f32_bf16w_moe",
      "gate_up_swiglu",
      { WG, WDT: part.wdt },
      { 1: a.sel, 3: part.buffer, 4: a.x, 5: a.act },
      { ...base, rows: gateUp.rows, cols: gateUp.cols, e0: part.e0, e1: part.e1 },
      [...rowGrid(gateUp.rows / 2), tokens * k],
    );
  }
  down.parts.forEach((part, i) => {
    rec.dispatch(
      "f32_bf16w_moe",
      "down",
      { WG, WDT: part.wdt },
      { 1: a.sel, 2: a.selW, 3: part.buffer, 5: a.act, 6: a.out },
      { ...base, rows: down.rows, cols: down.cols, e0: part.e0, e1: part.e1, first: i === 0 ? 1 : 0 },
      [...rowGrid(down.rows), tokens],
    );
  });
}
