// GELU with the tanh approximation (GPT-2's gelu_new), in place over n floats:
// 0.5 u (1 + tanh(z)) with z = sqrt(2/pi) (u + 0.044715 u^3), computed as u * sigmoid(2z) (the same
// function, with no cancellation near z = 0). Any n (the tail goes through the same vector code).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { sigmoid4 } from "./simd_math";

@inline function gelu4(u: v128): v128 {
  const u3 = f32x4.mul(f32x4.mul(u, u), u);
  // 2z = 2 sqrt(2/pi) (u + 0.044715 u^3)
  const z2 = f32x4.mul(f32x4.splat(1.5957691216), f32x4.add(u, f32x4.mul(f32x4.splat(0.044715), u3)));
  return f32x4.mul(u, sigmoid4(z2));
}

export function gelu_tanh(x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = x + (<usize>i << 2);
    v128.store(p, gelu4(v128.load(p)));
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, f32x4.extract_lane(gelu4(f32x4.splat(load<f32>(p))), 0));
  }
}
