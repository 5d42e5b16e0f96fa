// Host wrappers of a dense MLP's activation kernels (gelu_tanh, swiglu): check shapes, fill Params,
// dispatch. The projections around them are ops.f32Bf16wMatmul; the routed experts are in ops_moe.ts.

import { check, elemGrid, WG } from "./ops.ts";
import type { Recorder } from "./recorder.ts";

/** x[i] = gelu_tanh(x[i]) in place, i < n. */
export function geluTanh(rec: Recorder, x: GPUBuffer, n: number): void {
  check(n > 0, `gelu_tanh of ${n}`);
  rec.dispatch("gelu_tanh", "main", { WG }, { 1: x }, { n }, elemGrid(n));
}

/** y[t, i] = silu(x[t, i]) * x[t, n + i]: x rows are fused [gate | up] projections of 2n floats. */
export function swiglu(rec: Recorder, x: GPUBuffer, y: GPUBuffer, tokens: number, n: number): void {
  check(tokens > 0 && n > 0, `swiglu ${tokens}x${n}`);
  rec.dispatch("swiglu", "main", { WG }, { 1: x, 2: y }, { tokens, n }, elemGrid(tokens * n));
}
