// Scalar float32 reference kernels: the definition every WASM and WGSL kernel is tested against, each named
// after its kernel's stem in camelCase (README "Kernels"). Plain loops; activations are row-major
// [tokens, width] Float32Arrays.

import { loadRow, type Mat } from "../../model/dtypes.ts";
import { expertRow, type Mxfp4Experts } from "../../model/mxfp4.ts";
import type { RopeTables } from "../../model/rope.ts";

/**
 * y[t, r] = sum_c W[r, c] * x[t, c] + b[r], for rows [r0, r1) (all by default). W is [rows, cols] of any
 * float dtype (loadRow widens it): the reference of f32_bf16w_matmul and f32_f32w_matmul.
 */
export function f32Bf16wMatmul(
  y: Float32Array,
  x: Float32Array,
  w: Mat,
  bias: Float32Array | null,
  tokens: number,
  r0 = 0,
  r1 = w.rows,
): void {
  const row = new Float32Array(w.cols);
  const bits = new Uint32Array(row.buffer);
  for (let r = r0; r < r1; r++) {
    loadRow(w, r, row, bits);
    const b = bias ? bias[r] : 0;
    for (let t = 0; t < tokens; t++) {
      let acc = 0;
      const xo = t * w.cols;
      for (let c = 0; c < w.cols; c++) acc += row[c] * x[xo + c];
      y[t * w.rows + r] = acc + b;
    }
  }
}

/** RMSNorm of each of `tokens` rows of width n: y = x / sqrt(mean(x^2) + eps) * w. */
export function rmsnorm(
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  eps: number,
  tokens: number,
  n: number,
): void {
  for (let t = 0; t < tokens; t++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[t * n + i] * x[t * n + i];
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[t * n + i] = x[t * n + i] * inv * w[i];
  }
}

/** Rotates `heads` vectors of width dim at offset `off` of x for position pos; pairs are (i, i + dim/2). */
export function rope(
  x: Float32Array,
  off: number,
  heads: number,
  dim: number,
  pos: number,
  tables: RopeTables,
): void {
  const half = dim / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * tables.invFreq[i];
    const cos = Math.fround(Math.cos(angle)) * tables.concentration;
    const sin = Math.fround(Math.sin(angle)) * tables.concentration;
    for (let h = 0; h < heads; h++) {
      const b = off + h * dim;
      const x1 = x[b + i], x2 = x[b + half + i];
      x[b + i] = x1 * cos - x2 * sin;
      x[b + half + i] = x2 * cos + x1 * sin;
    }
  }
}

/**
 * Attention of one query token at position pos over cached keys/values [0, pos] with one learned sink
 * logit per head in the softmax denominator (the sink has no value). window > 0 limits keys to
 * pos-window < j <= pos. Query head h uses KV head h / (heads / kvHeads). Caches are [ctx, kvHeads*dim].
 */
export function sdpaSinkWindow(
  out: Float32Array,
  outOff: number,
  q: Float32Array,
  qOff: number,
  kCache: Float32Array,
  vCache: Float32Array,
  pos: number,
  window: number,
  sinks: Float32Array,
  heads: number,
  kvHeads: number,
  dim: number,
): void {
  const scale = 1 / Math.sqrt(dim);
  const group = heads / kvHeads;
  const start = window > 0 ? Math.max(0, pos - window + 1) : 0;
  const scores = new Float32Array(pos - start + 1);
  const kvw = kvHeads * dim;
  for (let h = 0; h < heads; h++) {
    const kvh = Math.floor(h / group);
    let max = sinks[h];
    for (let j = start; j <= pos; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += q[qOff + h * dim + d] * kCache[j * kvw + kvh * dim + d];
      scores[j - start] = s * scale;
      if (scores[j - start] > max) max = scores[j - start];
    }
    let sum = Math.exp(sinks[h] - max);
    for (let j = start; j <= pos; j++) sum += scores[j - start] = Math.exp(scores[j - start] - max);
    for (let d = 0; d < dim; d++) {
      let acc = 0;
      for (let j = start; j <= pos; j++) acc += scores[j - start] * vCache[j * kvw + kvh * dim + d];
      out[outOff + h * dim + d] = acc / sum;
    }
  }
}

/** Indices of the k largest values of a row, highest first (ties: lower index first; k > n gives n). */
export function rowTopk(row: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
}

/** Indices of the k largest logits, highest first (ties: lower index first), and softmax over them. */
export function moeRouterTopkSoftmax(
  logits: Float32Array,
  k: number,
): { experts: Int32Array; weights: Float32Array } {
  const order = rowTopk(logits, k);
  const experts = Int32Array.from(order);
  const weights = new Float32Array(k);
  const max = logits[order[0]];
  let sum = 0;
  for (let i = 0; i < k; i++) sum += weights[i] = Math.exp(logits[order[i]] - max);
  for (let i = 0; i < k; i++) weights[i] /= sum;
  return { experts, weights };
}

/**
 * gpt-oss clamped SwiGLU over interleaved gate/up pairs: g = min(gate, limit), u = clamp(up, ±limit),
 * out = (u + 1) * g * sigmoid(alpha * g). `gateUp` holds 2n values, out n.
 */
export function swigluClamped(
  out: Float32Array,
  gateUp: Float32Array,
  n: number,
  limit: number,
  alpha: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = Math.min(gateUp[2 * i], limit);
    const u = Math.min(Math.max(gateUp[2 * i + 1], -limit), limit);
    out[i] = (u + 1) * (g / (1 + Math.exp(-alpha * g)));
  }
}

/** y = W_e x + b_e for one token and one MXFP4 expert e (W_e decoded row by row). */
export function f32Mxfp4wMatmul(
  y: Float32Array,
  x: Float32Array,
  xOff: number,
  m: Mxfp4Experts,
  e: number,
): void {
  const row = new Float32Array(m.cols);
  for (let r = 0; r < m.rows; r++) {
    expertRow(m, e, r, row);
    let acc = 0;
    for (let c = 0; c < m.cols; c++) acc += row[c] * x[xOff + c];
    y[r] = acc + m.bias[e * m.rows + r];
  }
}

/** Index of the largest value of row t of [rows, n] logits (ties: lowest index): row_topk with k = 1. */
export function rowTopkArgmax(logits: Float32Array, t = 0, n = logits.length): number {
  let best = 0, bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[t * n + i];
    if (v > bestV) (bestV = v), (best = i);
  }
  return best;
}
