// MoE routing (moe_router): per token, the experts chosen from n router logits and their weights, in either
// order. topk_softmax (gpt-oss): the k largest logits (highest first, ties to the lower index) and the
// softmax over just those k. softmax_topk (Qwen3-MoE): p = softmax over all n logits (in f64), the k largest
// p (highest first, ties to the lower index), their weights p / (sum of the k kept) when normTopk, else p.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** logits [tokens, n] f32 -> sel [tokens, k] i32 and weights [tokens, k] f32. k <= n <= 1024. */
export function moe_router_topk_softmax(logits: usize, tokens: i32, n: i32, k: i32, sel: usize, weights: usize): void {
  for (let t = 0; t < tokens; t++) {
    const row = logits + (<usize>t * <usize>n << 2);
    const so = sel + (<usize>t * <usize>k << 2), wo = weights + (<usize>t * <usize>k << 2);
    for (let j = 0; j < k; j++) {
      let best = -1, bestV: f32 = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = load<f32>(row + (<usize>i << 2));
        if (best >= 0 && !(v > bestV)) continue;
        // skip experts already chosen
        let taken = false;
        for (let m = 0; m < j; m++) if (load<i32>(so + (<usize>m << 2)) == i) taken = true;
        if (!taken) (best = i), (bestV = v);
      }
      store<i32>(so + (<usize>j << 2), best);
      store<f32>(wo + (<usize>j << 2), bestV);
    }
    const top = load<f32>(wo);
    let sum: f32 = 0;
    for (let j = 0; j < k; j++) {
      const e = Mathf.exp(load<f32>(wo + (<usize>j << 2)) - top);
      store<f32>(wo + (<usize>j << 2), e);
      sum += e;
    }
    for (let j = 0; j < k; j++) store<f32>(wo + (<usize>j << 2), load<f32>(wo + (<usize>j << 2)) / sum);
  }
}

/**
 * logits [tokens, n] f32 -> sel [tokens, k] i32 and weights [tokens, k] f32. k <= n. The j-th pick is the
 * largest logit strictly after pick j-1 in (value desc, index asc) order, so no scratch is needed; the
 * order of logits is the order of p (exp is increasing).
 */
export function moe_router_softmax_topk(logits: usize, tokens: i32, n: i32, k: i32, normTopk: i32, sel: usize, weights: usize): void {
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
