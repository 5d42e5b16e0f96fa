// Attention with one learned sink logit per head over the KV cache, optionally limited to a sliding
// window: query at position p sees keys p-window < j <= p (all j <= p when window == 0). The query heads
// that share a KV head are done together: each key and value row is loaded once for up to four heads, and
// their dot products run as independent chains.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** scores[i*n + j - start] = q_i . k_j * scale for the `count` (1..4) heads at q0, q0+dim*4, ... */
function qk(q0: usize, count: i32, kRows: usize, kvw: usize, start: i32, pos: i32, dim: i32, scale: f32, scores: usize, n: i32): void {
  const qb = <usize>dim << 2;
  for (let j = start; j <= pos; j++) {
    const kj = kRows + <usize>j * kvw, at = scores + (<usize>(j - start) << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    if (count == 4) {
      for (let d: usize = 0; d < qb; d += 16) {
        const kv = v128.load(kj + d);
        a0 = f32x4.relaxed_madd(v128.load(q0 + d), kv, a0);
        a1 = f32x4.relaxed_madd(v128.load(q0 + qb + d), kv, a1);
        a2 = f32x4.relaxed_madd(v128.load(q0 + 2 * qb + d), kv, a2);
        a3 = f32x4.relaxed_madd(v128.load(q0 + 3 * qb + d), kv, a3);
      }
      store<f32>(at, hsum(a0) * scale);
      store<f32>(at + (<usize>n << 2), hsum(a1) * scale);
      store<f32>(at + (<usize>(2 * n) << 2), hsum(a2) * scale);
      store<f32>(at + (<usize>(3 * n) << 2), hsum(a3) * scale);
    } else {
      for (let i = 0; i < count; i++) {
        const qi = q0 + <usize>i * qb;
        a0 = f32x4.splat(0);
        for (let d: usize = 0; d < qb; d += 16) a0 = f32x4.relaxed_madd(v128.load(qi + d), v128.load(kj + d), a0);
        store<f32>(at + (<usize>(i * n) << 2), hsum(a0) * scale);
      }
    }
  }
}

/** Softmax in place over n scores with the sink logit as one more (unstored) entry; returns 1 / sum. */
function softmaxSink(s: usize, n: i32, sink: f32): f32 {
  let mx = sink;
  for (let j = 0; j < n; j++) mx = max(mx, load<f32>(s + (<usize>j << 2)));
  let sum = Mathf.exp(sink - mx);
  for (let j = 0; j < n; j++) {
    const p = s + (<usize>j << 2), e = Mathf.exp(load<f32>(p) - mx);
    store<f32>(p, e);
    sum += e;
  }
  return 1 / sum;
}

/** o[d] = inv * sum_j p[j] v_j[d] for one head; each output v128 is one chain over j in order. */
function pv(o: usize, p: usize, vRows: usize, kvw: usize, start: i32, pos: i32, dim: i32, inv: f32): void {
  const db = <usize>dim << 2, iv = f32x4.splat(inv);
  let d: usize = 0;
  for (; d + 128 <= db; d += 128) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
    for (let j = start; j <= pos; j++) {
      const w = v128.load32_splat(p + (<usize>(j - start) << 2)), v = vRows + <usize>j * kvw + d;
      a0 = f32x4.relaxed_madd(w, v128.load(v), a0);
      a1 = f32x4.relaxed_madd(w, v128.load(v, 16), a1);
      a2 = f32x4.relaxed_madd(w, v128.load(v, 32), a2);
      a3 = f32x4.relaxed_madd(w, v128.load(v, 48), a3);
      a4 = f32x4.relaxed_madd(w, v128.load(v, 64), a4);
      a5 = f32x4.relaxed_madd(w, v128.load(v, 80), a5);
      a6 = f32x4.relaxed_madd(w, v128.load(v, 96), a6);
      a7 = f32x4.relaxed_madd(w, v128.load(v, 112), a7);
    }
    v128.store(o + d, f32x4.mul(a0, iv));
    v128.store(o + d, f32x4.mul(a1, iv), 16);
    v128.store(o + d, f32x4.mul(a2, iv), 32);
    v128.store(o + d, f32x4.mul(a3, iv), 48);
    v128.store(o + d, f32x4.mul(a4, iv), 64);
    v128.store(o + d, f32x4.mul(a5, iv), 80);
    v128.store(o + d, f32x4.mul(a6, iv), 96);
    v128.store(o + d, f32x4.mul(a7, iv), 112);
  }
  for (; d < db; d += 16) {
    let a = f32x4.splat(0);
    for (let j = start; j <= pos; j++) {
      a = f32x4.relaxed_madd(v128.load32_splat(p + (<usize>(j - start) << 2)), v128.load(vRows + <usize>j * kvw + d), a);
    }
    v128.store(o + d, f32x4.mul(a, iv));
  }
}

/**
 * For each of `tokens` query rows (row t at position pos0+t): out[t, h] = softmax over keys plus the sink
 * of q.k/sqrt(dim), applied to values. q, out: [tokens, heads*dim]; caches [positions, kvHeads*dim];
 * query head h reads KV head h / (heads / kvHeads). scores: scratch of (heads / kvHeads) * (pos0+tokens)
 * floats. dim % 4 == 0. Each score, softmax and output sums in the same order whatever heads share a pass.
 */
export function sdpa_sink_window(
  out: usize, q: usize, kCache: usize, vCache: usize, pos0: i32, tokens: i32, window: i32,
  sinks: usize, heads: i32, kvHeads: i32, dim: i32, scores: usize,
): void {
  const scale: f32 = <f32>(1.0 / Math.sqrt(<f64>dim));
  const group = heads / kvHeads, kvw = <usize>(kvHeads * dim) << 2, qw = <usize>(heads * dim) << 2;
  for (let t = 0; t < tokens; t++) {
    const pos = pos0 + t;
    const start = window > 0 ? max<i32>(0, pos - window + 1) : 0, n = pos - start + 1;
    for (let g = 0; g < kvHeads; g++) {
      const kvOff = <usize>(g * dim) << 2, h0 = g * group;
      const qg = q + <usize>t * qw + (<usize>(h0 * dim) << 2), og = out + <usize>t * qw + (<usize>(h0 * dim) << 2);
      for (let i = 0; i < group; i += 4) {
        qk(qg + (<usize>(i * dim) << 2), min(4, group - i), kCache + kvOff, kvw, start, pos, dim, scale, scores + (<usize>(i * n) << 2), n);
      }
      for (let i = 0; i < group; i++) {
        const s = scores + (<usize>(i * n) << 2);
        const inv = softmaxSink(s, n, load<f32>(sinks + (<usize>(h0 + i) << 2)));
        pv(og + (<usize>(i * dim) << 2), s, vCache + kvOff, kvw, start, pos, dim, inv);
      }
    }
  }
}
