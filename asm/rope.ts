// YaRN RoPE from precomputed tables: pairs (i, i + dim/2) of each head rotate by the angle of their
// position; cosTab/sinTab are [positions, dim/2] f32 with YaRN's concentration already multiplied in.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** Rotates `heads` vectors of width dim in each of `tokens` rows (stride floats apart), row t at pos0+t. */
export function rope(x: usize, tokens: i32, stride: i32, heads: i32, dim: i32, cosTab: usize, sinTab: usize, pos0: i32): void {
  const half = dim >> 1;
  for (let t = 0; t < tokens; t++) {
    const tab = <usize>(pos0 + t) * <usize>half << 2;
    const row = x + (<usize>t * <usize>stride << 2);
    for (let h = 0; h < heads; h++) {
      const b = row + (<usize>h * <usize>dim << 2), b2 = b + (<usize>half << 2);
      for (let i = 0; i < half; i++) {
        const p = <usize>i << 2;
        const c = load<f32>(cosTab + tab + p), s = load<f32>(sinTab + tab + p);
        const x1 = load<f32>(b + p), x2 = load<f32>(b2 + p);
        store<f32>(b + p, x1 * c - x2 * s);
        store<f32>(b2 + p, x2 * c + x1 * s);
      }
    }
  }
}
