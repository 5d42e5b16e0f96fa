// LayerNorm with bias over `tokens` rows of width n (GPT-2): y = (x - mean) / sqrt(var + eps) * w + b,
// var the population (biased) variance, computed in two passes like the reference. Any n (scalar tail).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { hsum4 } from "./simd_math";

export function layernorm(y: usize, x: usize, w: usize, b: usize, eps: f32, tokens: i32, n: i32): void {
  const n4 = n & ~3;
  for (let t = 0; t < tokens; t++) {
    const xr = x + (<usize>t * <usize>n << 2), yr = y + (<usize>t * <usize>n << 2);
    let s = f32x4.splat(0);
    for (let i = 0; i < n4; i += 4) s = f32x4.add(s, v128.load(xr + (<usize>i << 2)));
    let sum = hsum4(s);
    for (let i = n4; i < n; i++) sum += load<f32>(xr + (<usize>i << 2));
    const mean: f32 = <f32>(<f64>sum / <f64>n), mv = f32x4.splat(mean);
    let v = f32x4.splat(0);
    for (let i = 0; i < n4; i += 4) {
      const d = f32x4.sub(v128.load(xr + (<usize>i << 2)), mv);
      v = f32x4.add(v, f32x4.mul(d, d));
    }
    let ss = hsum4(v);
    for (let i = n4; i < n; i++) {
      const d = load<f32>(xr + (<usize>i << 2)) - mean;
      ss += d * d;
    }
    const inv: f32 = <f32>(1.0 / Math.sqrt(<f64>ss / <f64>n + <f64>eps)), iv = f32x4.splat(inv);
    for (let i = 0; i < n4; i += 4) {
      const p = <usize>i << 2;
      const z = f32x4.mul(f32x4.sub(v128.load(xr + p), mv), iv);
      v128.store(yr + p, f32x4.add(f32x4.mul(z, v128.load(w + p)), v128.load(b + p)));
    }
    for (let i = n4; i < n; i++) {
      const p = <usize>i << 2;
      store<f32>(yr + p, (load<f32>(xr + p) - mean) * inv * load<f32>(w + p) + load<f32>(b + p));
    }
  }
}
