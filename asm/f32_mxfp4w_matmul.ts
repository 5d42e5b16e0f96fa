// MXFP4-weight matmul with in-register decode: a 16-entry i8x16.swizzle table turns e2m1 codes into
// (doubled) integers, converted to f32 lane-byte by lane-byte and scaled per 32-column block by the e8m0
// exponent. Exact in f32: the activations stay float.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** 2 x e2m1 value for each code: bit 3 sign, bits 0-2 index [0, .5, 1, 1.5, 2, 3, 4, 6] (doubled). */
const E2M1_X2: v128 = i8x16(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
const LOW_NIBBLE: v128 = i8x16(15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15);

/**
 * Reorders `n` floats of x into xp to match blockDot's lanes: in each block of 32, slot 4k + j holds column
 * 8j + [0,2,4,6,1,3,5,7][k] (byte k%4 of 32-bit lane j of the low-nibble (k < 4) or high-nibble values).
 * n % 32 == 0.
 */
export function permute_mxfp4_x(x: usize, xp: usize, n: i32): void {
  for (let i = 0; i < n; i += 32) {
    const s = x + (<usize>i << 2), d = xp + (<usize>i << 2);
    for (let k = 0; k < 8; k++) {
      const off = k < 4 ? 2 * k : 2 * (k - 4) + 1;
      for (let j = 0; j < 4; j++) store<f32>(d + (<usize>(4 * k + j) << 2), load<f32>(s + (<usize>(8 * j + off) << 2)));
    }
  }
}

/** 2^(e-128): the e8m0 scale halved to undo the doubled table. (e = 0 gives 0 instead of 2^-128.) */
@inline function blockScale(e: u8): f32 {
  return reinterpret<f32>(<u32>e << 23) * 0.5;
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * Byte `k` of each 32-bit lane of v, sign-extended and converted to f32. Shifts and converts run on the
 * vector ALU ports, where widening (pmovsx) would queue every step on the single shuffle port.
 */
@inline function byte0(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.shr_s(i32x4.shl(v, 24), 24));
}
@inline function byte1(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.shr_s(i32x4.shl(v, 16), 24));
}
@inline function byte2(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.shr_s(i32x4.shl(v, 8), 24));
}
@inline function byte3(v: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.shr_s(v, 24));
}

/** Dot of one 32-column block (16 bytes at bp) with permuted x at xo, unscaled. */
@inline function blockDot(bp: usize, xo: usize): v128 {
  const b = v128.load(bp);
  const ev = i8x16.swizzle(E2M1_X2, v128.and(b, LOW_NIBBLE));
  const od = i8x16.swizzle(E2M1_X2, i8x16.shr_u(b, 4));
  let a = f32x4.mul(byte0(ev), v128.load(xo));
  let c = f32x4.mul(byte1(ev), v128.load(xo, 16));
  a = f32x4.relaxed_madd(byte2(ev), v128.load(xo, 32), a);
  c = f32x4.relaxed_madd(byte3(ev), v128.load(xo, 48), c);
  a = f32x4.relaxed_madd(byte0(od), v128.load(xo, 64), a);
  c = f32x4.relaxed_madd(byte1(od), v128.load(xo, 80), c);
  a = f32x4.relaxed_madd(byte2(od), v128.load(xo, 96), a);
  c = f32x4.relaxed_madd(byte3(od), v128.load(xo, 112), c);
  return f32x4.add(a, c);
}

/**
 * For i < n and r < rows: y[yRows[i]*yStride + r] = W[r] . xp[xRows[i]] + bias[r] (bias 0: none).
 * W: blocks [rows, cols/32, 16] u8 and scales [rows, cols/32] u8; xp rows of `cols` floats in
 * permute_mxfp4_x order; xRows, yRows: i32 lists. cols % 32 == 0.
 */
export function f32_mxfp4w_matmul(
  blocks: usize, scales: usize, bias: usize, rows: i32, cols: i32,
  xp: usize, xRows: usize, n: i32, y: usize, yRows: usize, yStride: i32,
): void {
  const nb = cols >> 5, xBytes = <usize>cols << 2, yBytes = <usize>yStride << 2;
  for (let r = 0; r < rows; r++) {
    const br = blocks + <usize>r * (<usize>nb << 4), sr = scales + <usize>r * <usize>nb;
    const b: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
    let i = 0;
    // two tokens at a time share each decoded block
    for (; i + 2 <= n; i += 2) {
      const x0 = xp + <usize>load<i32>(xRows + (<usize>i << 2)) * xBytes;
      const x1 = xp + <usize>load<i32>(xRows + (<usize>i << 2), 4) * xBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const s = f32x4.splat(blockScale(load<u8>(sr + g)));
        const off = <usize>g << 7;
        a0 = f32x4.relaxed_madd(blockDot(br + (<usize>g << 4), x0 + off), s, a0);
        a1 = f32x4.relaxed_madd(blockDot(br + (<usize>g << 4), x1 + off), s, a1);
      }
      store<f32>(y + <usize>load<i32>(yRows + (<usize>i << 2)) * yBytes + (<usize>r << 2), hsum(a0) + b);
      store<f32>(y + <usize>load<i32>(yRows + (<usize>i << 2), 4) * yBytes + (<usize>r << 2), hsum(a1) + b);
    }
    for (; i < n; i++) {
      const x0 = xp + <usize>load<i32>(xRows + (<usize>i << 2)) * xBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let g = 0;
      for (; g + 2 <= nb; g += 2) {
        a0 = f32x4.relaxed_madd(blockDot(br + (<usize>g << 4), x0 + (<usize>g << 7)), f32x4.splat(blockScale(load<u8>(sr + g))), a0);
        a1 = f32x4.relaxed_madd(blockDot(br + (<usize>(g + 1) << 4), x0 + (<usize>(g + 1) << 7)), f32x4.splat(blockScale(load<u8>(sr + g + 1))), a1);
      }
      for (; g < nb; g++) {
        a0 = f32x4.relaxed_madd(blockDot(br + (<usize>g << 4), x0 + (<usize>g << 7)), f32x4.splat(blockScale(load<u8>(sr + g))), a0);
      }
      store<f32>(y + <usize>load<i32>(yRows + (<usize>i << 2)) * yBytes + (<usize>r << 2), hsum(f32x4.add(a0, a1)) + b);
    }
  }
}
