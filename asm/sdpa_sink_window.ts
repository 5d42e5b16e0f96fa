// Attention with one learned sink logit per head over the KV cache, optionally limited to a sliding
// window: query at position p sees keys p-window < j <= p (all j <= p when window == 0).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * For each of `tokens` query rows (row t at position pos0+t): out[t, h] = softmax over keys plus the sink
 * of q.k/sqrt(dim), applied to values. q, out: [tokens, heads*dim]; caches [positions, kvHeads*dim];
 * query head h reads KV head h / (heads / kvHeads). scores: scratch of pos0+tokens floats. dim % 4 == 0.
 */
export function sdpa_sink_window(
  out: usize, q: usize, kCache: usize, vCache: usize, pos0: i32, tokens: i32, window: i32,
  sinks: usize, heads: i32, kvHeads: i32, dim: i32, scores: usize,
): void {
  const scale: f32 = <f32>(1.0 / Math.sqrt(<f64>dim));
  const group = heads / kvHeads, kvw = <usize>(kvHeads * dim) << 2, qw = <usize>(heads * dim) << 2;
  for (let t = 0; t < tokens; t++) {
    const pos = pos0 + t;
    const start = window > 0 ? max<i32>(0, pos - window + 1) : 0;
    for (let h = 0; h < heads; h++) {
      const qh = q + <usize>t * qw + (<usize>(h * dim) << 2);
      const kvOff = <usize>((h / group) * dim) << 2;
      const sink = load<f32>(sinks + (<usize>h << 2));
      let mx = sink;
      for (let j = start; j <= pos; j++) {
        const kj = kCache + <usize>j * kvw + kvOff;
        let a = f32x4.splat(0);
        for (let d = 0; d < dim; d += 4) a = f32x4.relaxed_madd(v128.load(qh + (<usize>d << 2)), v128.load(kj + (<usize>d << 2)), a);
        const s = (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3)) * scale;
        store<f32>(scores + (<usize>(j - start) << 2), s);
        if (s > mx) mx = s;
      }
      let sum = Mathf.exp(sink - mx);
      for (let j = start; j <= pos; j++) {
        const p = scores + (<usize>(j - start) << 2);
        const e = Mathf.exp(load<f32>(p) - mx);
        store<f32>(p, e);
        sum += e;
      }
      const oh = out + <usize>t * qw + (<usize>(h * dim) << 2);
      const inv = f32x4.splat(1 / sum);
      for (let d = 0; d < dim; d += 4) {
        let a = f32x4.splat(0);
        for (let j = start; j <= pos; j++) {
          a = f32x4.relaxed_madd(f32x4.splat(load<f32>(scores + (<usize>(j - start) << 2))), v128.load(vCache + <usize>j * kvw + kvOff + (<usize>d << 2)), a);
        }
        v128.store(oh + (<usize>d << 2), f32x4.mul(a, inv));
      }
    }
  }
}
