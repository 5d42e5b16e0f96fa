// RMSNorm of `tokens` rows of width n: y = x / sqrt(mean(x^2) + eps) * w. n % 4 == 0.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

export function rmsnorm(y: usize, x: usize, w: usize, eps: f32, tokens: i32, n: i32): void {
  for (let t = 0; t < tokens; t++) {
    const xr = x + (<usize>t * <usize>n << 2), yr = y + (<usize>t * <usize>n << 2);
    let ss = f32x4.splat(0);
    for (let i = 0; i < n; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      ss = f32x4.relaxed_madd(v, v, ss);
    }
    const sum = f32x4.extract_lane(ss, 0) + f32x4.extract_lane(ss, 1) + f32x4.extract_lane(ss, 2) + f32x4.extract_lane(ss, 3);
    const inv = f32x4.splat(<f32>(1.0 / Math.sqrt(<f64>sum / <f64>n + <f64>eps)));
    for (let i = 0; i < n; i += 4) {
      const p = <usize>i << 2;
      v128.store(yr + p, f32x4.mul(f32x4.mul(v128.load(xr + p), inv), v128.load(w + p)));
    }
  }
}
