// Router selection: per token the k largest of n logits (highest first, ties to the lower index) and the
// softmax over just those k.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** logits [tokens, n] f32 -> sel [tokens, k] i32 and weights [tokens, k] f32. k <= n <= 1024. */
export function topk_softmax(logits: usize, tokens: i32, n: i32, k: i32, sel: usize, weights: usize): void {
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
