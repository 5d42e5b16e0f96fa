// Scalar float32 reference kernels for the GPT-2 and Qwen3 families: LayerNorm, GELU (tanh), per-head
// QK RMSNorm, plain SwiGLU, causal attention without sinks and the softmax-then-top-k MoE router.

import { sdpaSinkWindow } from "./kernels.ts";

/** LayerNorm of each of `tokens` rows of width n: (x - mean) / sqrt(var + eps) * w + b, var biased. */
export function layernorm(
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  eps: number,
  tokens: number,
  n: number,
): void {
  for (let t = 0; t < tokens; t++) {
    const o = t * n;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[o + i];
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[o + i] - mean) * (x[o + i] - mean);
    const inv = 1 / Math.sqrt(v / n + eps);
    for (let i = 0; i < n; i++) y[o + i] = (x[o + i] - mean) * inv * w[i] + b[i];
  }
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (GPT-2's `gelu_new`), in place over the first n values of x. */
export function geluTanh(x: Float32Array, n = x.length): void {
  for (let i = 0; i < n; i++) {
    const u = x[i];
    x[i] = 0.5 * u * (1 + Math.tanh(GELU_C * (u + 0.044715 * u * u * u)));
  }
}

/**
 * QK-norm: RMSNorm over each head's `dim` values, in place, for `rows` tokens of `heads` heads laid out
 * head-major ([rows, heads*dim]). One weight vector [dim] is shared by all heads.
 */
export function qkRmsnorm(
  x: Float32Array,
  w: Float32Array,
  eps: number,
  rows: number,
  heads: number,
  dim: number,
): void {
  for (let r = 0; r < rows * heads; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) x[o + i] = x[o + i] * inv * w[i];
  }
}

/** Plain SwiGLU: out[i] = silu(gate[i]) * up[i] for i < n (no clamp, no offset). */
export function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    out[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}

const noSinkCache = new Map<number, Float32Array>();

/**
 * Causal attention of one query token at position pos over cached keys/values [0, pos] (window > 0
 * limits keys to pos-window < j <= pos). Exactly sdpaSinkWindow with every sink at -Infinity, whose
 * exp() adds 0 to the denominator. Caches are [ctx, kvHeads*dim].
 */
export function sdpaSinkWindowNoSink(
  out: Float32Array,
  outOff: number,
  q: Float32Array,
  qOff: number,
  kCache: Float32Array,
  vCache: Float32Array,
  pos: number,
  window: number,
  heads: number,
  kvHeads: number,
  dim: number,
): void {
  let sinks = noSinkCache.get(heads);
  if (!sinks) noSinkCache.set(heads, sinks = new Float32Array(heads).fill(-Infinity));
  sdpaSinkWindow(out, outOff, q, qOff, kCache, vCache, pos, window, sinks, heads, kvHeads, dim);
}

/**
 * Qwen-MoE routing: p = softmax over all router logits, keep the k largest p (highest first, ties: lower
 * index), divided by their sum only when `normTopk`. With normTopk this equals a softmax over the k
 * chosen logits; without it the weights sum to less than 1.
 */
export function moeRouterSoftmaxTopk(
  logits: Float32Array,
  k: number,
  normTopk: boolean,
): { experts: Int32Array; weights: Float32Array } {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < n; i++) p[i] /= sum;
  const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b).slice(0, k);
  const experts = Int32Array.from(order);
  const weights = new Float32Array(k);
  let kept = 0;
  for (let j = 0; j < k; j++) kept += p[order[j]];
  for (let j = 0; j < k; j++) weights[j] = normTopk ? p[order[j]] / kept : p[order[j]];
  return { experts, weights };
}
