// QK-norm (Qwen3): RMSNorm over each head's `dim` values, in place, before RoPE. x holds `rows` tokens of
// `heads` heads back to back ([rows, heads*dim]); one weight vector [dim] serves every head. Any dim.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { hsum4 } from "./simd_math";

export function qk_rmsnorm(x: usize, w: usize, eps: f32, rows: i32, heads: i32, dim: i32): void {
  const d4 = dim & ~3, count = rows * heads;
  for (let r = 0; r < count; r++) {
    const v = x + (<usize>r * <usize>dim << 2);
    let s = f32x4.splat(0);
    for (let i = 0; i < d4; i += 4) {
      const a = v128.load(v + (<usize>i << 2));
      s = f32x4.add(s, f32x4.mul(a, a));
    }
    let ss = hsum4(s);
    for (let i = d4; i < dim; i++) {
      const a = load<f32>(v + (<usize>i << 2));
      ss += a * a;
    }
    const inv: f32 = <f32>(1.0 / Math.sqrt(<f64>ss / <f64>dim + <f64>eps)), iv = f32x4.splat(inv);
    for (let i = 0; i < d4; i += 4) {
      const p = <usize>i << 2;
      v128.store(v + p, f32x4.mul(f32x4.mul(v128.load(v + p), iv), v128.load(w + p)));
    }
    for (let i = d4; i < dim; i++) {
      const p = <usize>i << 2;
      store<f32>(v + p, load<f32>(v + p) * inv * load<f32>(w + p));
    }
  }
}
