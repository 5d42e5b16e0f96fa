// Plain SwiGLU (Qwen3): out[i] = silu(gate[i]) * up[i] = gate[i] * sigmoid(gate[i]) * up[i], no clamp.
// Any n (the tail goes through the same vector code); out may alias gate or up.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { sigmoid4 } from "./simd_math";

@inline function swiglu4(g: v128, u: v128): v128 {
  return f32x4.mul(f32x4.mul(g, sigmoid4(g)), u);
}

export function swiglu(out: usize, gate: usize, up: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = <usize>i << 2;
    v128.store(out + p, swiglu4(v128.load(gate + p), v128.load(up + p)));
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(out + p, f32x4.extract_lane(swiglu4(f32x4.splat(load<f32>(gate + p)), f32x4.splat(load<f32>(up + p))), 0));
  }
}
