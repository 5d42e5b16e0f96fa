// The reference feed-forward steps: a dense MLP (GELU or SwiGLU) and routed experts (router, top-k,
// each chosen expert's SwiGLU, weighted sum), over the plan's activation and routing and the experts' format.

import type { Activation, DenseMlpPlan, MoePlan } from "../../model/plan.ts";
import type { DenseFfnWeights, ExpertWeights, MoeFfnWeights } from "../../model/weights.ts";
import { f32Bf16wMatmul, f32Mxfp4wMatmul, moeRouterTopkSoftmax, swigluClamped } from "./kernels.ts";
import { geluTanh, moeRouterSoftmaxTopk, swiglu } from "./kernels_dense.ts";

/** The combinations the reference kernels compute; anything else is refused when a backend is made. */
export function unsupportedFfn(m: DenseMlpPlan | MoePlan): string | null {
  if (m.kind === "dense") {
    return m.act.kind === "swiglu_clamped" ? "a dense MLP with clamped SwiGLU" : null;
  }
  if (m.format === "mxfp4") {
    return m.act.kind === "swiglu_clamped" ? null : `MXFP4 experts with ${m.act.kind}`;
  }
  return m.act.kind === "swiglu" ? null : `float experts with ${m.act.kind}`;
}

/** out = down(act(gate x, up x)) + biases for T rows of xn; GELU has no gate. */
export function denseMlp(
  out: Float32Array,
  xn: Float32Array,
  f: DenseFfnWeights,
  act: Activation,
  T: number,
): void {
  const F = f.up.rows, up = new Float32Array(T * F);
  f32Bf16wMatmul(up, xn, f.up, f.upBias, T);
  if (act.kind === "gelu_tanh") {
    geluTanh(up, T * F);
    f32Bf16wMatmul(out, up, f.down, f.downBias, T);
    return;
  }
  const gate = new Float32Array(T * F), hidden = new Float32Array(T * F);
  f32Bf16wMatmul(gate, xn, f.gate!, f.gateBias, T);
  swiglu(hidden, gate, up, T * F);
  f32Bf16wMatmul(out, hidden, f.down, f.downBias, T);
}

/**
 * Routed experts for T rows of xn into out: router logits, the plan's routing (top-k then softmax, or
 * softmax then top-k, renormalised or not), each chosen expert's SwiGLU, summed with its weight in choice
 * order. Taps router_logits, router_topk (expert ids) and expert_weights.
 */
export function routedExperts(
  out: Float32Array,
  xn: Float32Array,
  f: MoeFfnWeights,
  m: MoePlan,
  T: number,
  tap: (name: string, values: Float32Array) => void,
): void {
  const H = f.router.cols, E = m.experts, K = m.topK;
  const routerLogits = new Float32Array(T * E);
  f32Bf16wMatmul(routerLogits, xn, f.router, f.routerBias, T);
  tap("router_logits", routerLogits);
  const chosen = new Float32Array(T * K), weights = new Float32Array(T * K), y = new Float32Array(H);
  const scratch = expertScratch(f.experts, m.width);
  out.fill(0);
  for (let t = 0; t < T; t++) {
    const row = routerLogits.subarray(t * E, (t + 1) * E);
    const sel = m.routing === "topk_softmax"
      ? moeRouterTopkSoftmax(row, K)
      : moeRouterSoftmaxTopk(row, K, m.normalize);
    for (let j = 0; j < K; j++) {
      const e = sel.experts[j];
      chosen[t * K + j] = e;
      weights[t * K + j] = sel.weights[j];
      expert(y, xn, t * H, f.experts, e, m.act, scratch);
      for (let i = 0; i < H; i++) out[t * H + i] += sel.weights[j] * y[i];
    }
  }
  tap("router_topk", chosen);
  tap("expert_weights", weights);
}

interface Scratch {
  readonly gate: Float32Array; // MXFP4: [2*width] interleaved gate/up; float: [width]
  readonly up: Float32Array;
  readonly act: Float32Array; // [width]
}

function expertScratch(x: ExpertWeights, width: number): Scratch {
  const gate = new Float32Array(x.format === "mxfp4" ? 2 * width : width);
  return { gate, up: new Float32Array(width), act: new Float32Array(width) };
}

/** y = expert e's SwiGLU MLP of the row of x at offset xOff. */
function expert(
  y: Float32Array,
  x: Float32Array,
  xOff: number,
  w: ExpertWeights,
  e: number,
  act: Activation,
  s: Scratch,
): void {
  const F = s.act.length;
  if (w.format === "mxfp4") {
    // gate_up (interleaved rows), clamped SwiGLU, down
    const a = act as Extract<Activation, { kind: "swiglu_clamped" }>;
    f32Mxfp4wMatmul(s.gate, x, xOff, w.gateUp, e);
    swigluClamped(s.act, s.gate, F, a.limit, a.alpha);
    f32Mxfp4wMatmul(y, s.act, 0, w.down, e);
    return;
  }
  // gate, up, SwiGLU, down
  const xt = x.subarray(xOff, xOff + w.gate[e].cols);
  f32Bf16wMatmul(s.gate, xt, w.gate[e], null, 1);
  f32Bf16wMatmul(s.up, xt, w.up[e], null, 1);
  swiglu(s.act, s.gate, s.up, F);
  f32Bf16wMatmul(y, s.act, w.down[e], null, 1);
}
