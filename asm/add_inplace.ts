// Residual add (add_inplace): y += x elementwise, n floats.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** y[i] += x[i] for i < n (the residual connection). */
export function add_inplace(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = <usize>i << 2;
    v128.store(y + p, f32x4.add(v128.load(y + p), v128.load(x + p)));
  }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) + load<f32>(x + (<usize>i << 2)));
}
