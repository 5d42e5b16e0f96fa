// Weighted row sum (weighted_row_sum): each token's k chosen expert outputs, weighted by their routing
// weights, summed into one row (the MoE combine).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

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
