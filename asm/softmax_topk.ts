// Qwen3-MoE routing: per token, p = softmax over all n router logits (in f64), the k largest p (highest
// first, ties to the lower index), their weights p / (sum of the k kept) when normTopk, else p as is.
// Also the weighted sum of the chosen experts' outputs.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * logits [tokens, n] f32 -> sel [tokens, k] i32 and weights [tokens, k] f32. k <= n. The j-th pick is the
 * largest logit strictly after pick j-1 in (value desc, index asc) order, so no scratch is needed; the
 * order of logits is the order of p (exp is increasing).
 */
export function softmax_topk(logits: usize, tokens: i32, n: i32, k: i32, normTopk: i32, sel: usize, weights: usize): void {
  for (let t = 0; t < tokens; t++) {
    const row = logits + (<usize>t * <usize>n << 2);
    const so = sel + (<usize>t * <usize>k << 2), wo = weights + (<usize>t * <usize>k << 2);
    let mx: f64 = -Infinity;
    for (let i = 0; i < n; i++) mx = max<f64>(mx, <f64>load<f32>(row + (<usize>i << 2)));
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(<f64>load<f32>(row + (<usize>i << 2)) - mx);
    let prevI = -1, prevV: f32 = Infinity, kept: f64 = 0;
    for (let j = 0; j < k; j++) {
      let best = -1, bestV: f32 = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = load<f32>(row + (<usize>i << 2));
        const after = v < prevV || (v == prevV && i > prevI);
        if (after && (best < 0 || v > bestV)) (best = i), (bestV = v);
      }
      const p = Math.exp(<f64>bestV - mx) / sum;
      store<i32>(so + (<usize>j << 2), best);
      store<f32>(wo + (<usize>j << 2), <f32>p);
      kept += p;
      (prevI = best), (prevV = bestV);
    }
    if (normTopk) {
      for (let j = 0; j < k; j++) {
        const i = <usize>j << 2, p = Math.exp(<f64>load<f32>(row + (<usize>load<i32>(so + i) << 2)) - mx) / sum;
        store<f32>(wo + i, <f32>(p / kept));
      }
    }
  }
}

/**
 * out[t] = sum over j < k, in order, of weights[t*k + j] * src[t*k + j] for t < tokens; rows of n floats.
 * Plain mul/add (not fused) in the reference's order.
 */
export function weighted_row_sum(out: usize, src: usize, weights: usize, tokens: i32, k: i32, n: i32): void {
  const n4 = n & ~3, rowBytes = <usize>n << 2;
  for (let t = 0; t < tokens; t++) {
    const o = out + <usize>t * rowBytes;
    for (let i = 0; i < n; i++) store<f32>(o + (<usize>i << 2), 0);
    for (let j = 0; j < k; j++) {
      const s = t * k + j, sr = src + <usize>s * rowBytes;
      const wf = load<f32>(weights + (<usize>s << 2)), wv = f32x4.splat(wf);
      for (let i = 0; i < n4; i += 4) {
        const p = <usize>i << 2;
        v128.store(o + p, f32x4.add(v128.load(o + p), f32x4.mul(v128.load(sr + p), wv)));
      }
      for (let i = n4; i < n; i++) {
        const p = <usize>i << 2;
        store<f32>(o + p, load<f32>(o + p) + load<f32>(sr + p) * wf);
      }
    }
  }
}
