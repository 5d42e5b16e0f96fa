// Embedding lookups: token rows gathered from an f32 or bf16 table, and GPT-2's learned position rows
// added to them. Any width n.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** out[t] = table[ids[t]] for t < tokens; table f32 [vocab, n], ids i32 (in range: the host checks). */
export function gather_rows_f32(table: usize, ids: usize, tokens: i32, n: i32, out: usize): void {
  const rowBytes = <usize>n << 2;
  for (let t = 0; t < tokens; t++) {
    memory.copy(out + <usize>t * rowBytes, table + <usize>load<i32>(ids + (<usize>t << 2)) * rowBytes, rowBytes);
  }
}

/** out[t] = widen(table[ids[t]]); table bf16 [vocab, n] (the high half of each f32). */
export function gather_rows_bf16(table: usize, ids: usize, tokens: i32, n: i32, out: usize): void {
  const n8 = n & ~7;
  for (let t = 0; t < tokens; t++) {
    const src = table + (<usize>load<i32>(ids + (<usize>t << 2)) * <usize>n << 1), dst = out + (<usize>t * <usize>n << 2);
    for (let i = 0; i < n8; i += 8) {
      const v = v128.load(src + (<usize>i << 1));
      v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
      v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
    }
    for (let i = n8; i < n; i++) store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
  }
}

/** x[t] += table[row0 + t] for t < tokens (learned absolute positions: row0 is the first position). */
export function add_position_rows(x: usize, table: usize, row0: i32, tokens: i32, n: i32): void {
  const n4 = n & ~3;
  for (let t = 0; t < tokens; t++) {
    const xr = x + (<usize>t * <usize>n << 2), pr = table + (<usize>(row0 + t) * <usize>n << 2);
    for (let i = 0; i < n4; i += 4) {
      const p = <usize>i << 2;
      v128.store(xr + p, f32x4.add(v128.load(xr + p), v128.load(pr + p)));
    }
    for (let i = n4; i < n; i++) {
      const p = <usize>i << 2;
      store<f32>(xr + p, load<f32>(xr + p) + load<f32>(pr + p));
    }
  }
}
