// MXFP4-weight matmul with in-register decode: a 16-entry i8x16.swizzle table turns e2m1 codes into
// (doubled) integers, converted to f32 lane-byte by lane-byte and scaled per 32-column block by the e8m0
// exponent. Exact in f32: the activations stay float.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * 2 x e2m1 value for each code: bit 3 sign, bits 0-2 index [0, .5, 1, 1.5, 2, 3, 4, 6] (doubled). Lookups
 * index it with nibbles (0..15), so relaxed_swizzle (one pshufb, no out-of-range fixup) is exact.
 */
const E2M1_X2: v128 = i8x16(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
const LOW_NIBBLE: v128 = i8x16(15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15);

/**
 * Reorders `n` floats of x into xp to match the decoded lanes: in each block of 32, slot 4k + j holds column
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

/** One decoded block (w0..w7: byte0..byte3 of the low, then the high nibble values) against 32 permuted activations at xo, unscaled. */
@inline function dot8(w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, xo: usize): v128 {
  let a = f32x4.mul(w0, v128.load(xo));
  let c = f32x4.mul(w1, v128.load(xo, 16));
  a = f32x4.relaxed_madd(w2, v128.load(xo, 32), a);
  c = f32x4.relaxed_madd(w3, v128.load(xo, 48), c);
  a = f32x4.relaxed_madd(w4, v128.load(xo, 64), a);
  c = f32x4.relaxed_madd(w5, v128.load(xo, 80), c);
  a = f32x4.relaxed_madd(w6, v128.load(xo, 96), a);
  c = f32x4.relaxed_madd(w7, v128.load(xo, 112), c);
  return f32x4.add(a, c);
}

@inline function yAt(y: usize, yRows: usize, i: i32, yBytes: usize, r: i32): usize {
  return y + <usize>load<i32>(yRows + (<usize>i << 2)) * yBytes + (<usize>r << 2);
}

@inline function xAt(xp: usize, xRows: usize, i: i32, xBytes: usize): usize {
  return xp + <usize>load<i32>(xRows + (<usize>i << 2)) * xBytes;
}

/**
 * For i < n and r < rows: y[yRows[i]*yStride + r] = W[r] . xp[xRows[i]] + bias[r] (bias 0: none).
 * W: blocks [rows, cols/32, 16] u8 and scales [rows, cols/32] u8; xp rows of `cols` floats in
 * permute_mxfp4_x order; xRows, yRows: i32 lists. cols % 32 == 0. Tokens go 4, then 2, then 1 at a time,
 * sharing each decoded block; every token sums its blocks in the same order whatever its tile.
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
    for (; i + 4 <= n; i += 4) {
      const x0 = xAt(xp, xRows, i, xBytes), x1 = xAt(xp, xRows, i + 1, xBytes);
      const x2 = xAt(xp, xRows, i + 2, xBytes), x3 = xAt(xp, xRows, i + 3, xBytes);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const bv = v128.load(br + (<usize>g << 4));
        const ev = i8x16.relaxed_swizzle(E2M1_X2, v128.and(bv, LOW_NIBBLE));
        const od = i8x16.relaxed_swizzle(E2M1_X2, i8x16.shr_u(bv, 4));
        const w0 = byte0(ev), w1 = byte1(ev), w2 = byte2(ev), w3 = byte3(ev);
        const w4 = byte0(od), w5 = byte1(od), w6 = byte2(od), w7 = byte3(od);
        const s = f32x4.splat(blockScale(load<u8>(sr + g))), off = <usize>g << 7;
        a0 = f32x4.relaxed_madd(dot8(w0, w1, w2, w3, w4, w5, w6, w7, x0 + off), s, a0);
        a1 = f32x4.relaxed_madd(dot8(w0, w1, w2, w3, w4, w5, w6, w7, x1 + off), s, a1);
        a2 = f32x4.relaxed_madd(dot8(w0, w1, w2, w3, w4, w5, w6, w7, x2 + off), s, a2);
        a3 = f32x4.relaxed_madd(dot8(w0, w1, w2, w3, w4, w5, w6, w7, x3 + off), s, a3);
      }
      store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
      store<f32>(yAt(y, yRows, i + 1, yBytes, r), hsum(a1) + b);
      store<f32>(yAt(y, yRows, i + 2, yBytes, r), hsum(a2) + b);
      store<f32>(yAt(y, yRows, i + 3, yBytes, r), hsum(a3) + b);
    }
    for (; i + 2 <= n; i += 2) {
      const x0 = xAt(xp, xRows, i, xBytes), x1 = xAt(xp, xRows, i + 1, xBytes);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const bv = v128.load(br + (<usize>g << 4));
        const ev = i8x16.relaxed_swizzle(E2M1_X2, v128.and(bv, LOW_NIBBLE));
        const od = i8x16.relaxed_swizzle(E2M1_X2, i8x16.shr_u(bv, 4));
        const w0 = byte0(ev), w1 = byte1(ev), w2 = byte2(ev), w3 = byte3(ev);
        const w4 = byte0(od), w5 = byte1(od), w6 = byte2(od), w7 = byte3(od);
        const s = f32x4.splat(blockScale(load<u8>(sr + g))), off = <usize>g << 7;
        a0 = f32x4.relaxed_madd(dot8(w0, w1, w2, w3, w4, w5, w6, w7, x0 + off), s, a0);
        a1 = f32x4.relaxed_madd(dot8(w0, w1, w2, w3, w4, w5, w6, w7, x1 + off), s, a1);
      }
      store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
      store<f32>(yAt(y, yRows, i + 1, yBytes, r), hsum(a1) + b);
    }
    if (i < n) {
      const x0 = xAt(xp, xRows, i, xBytes);
      let a0 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const bv = v128.load(br + (<usize>g << 4));
        const ev = i8x16.relaxed_swizzle(E2M1_X2, v128.and(bv, LOW_NIBBLE));
        const od = i8x16.relaxed_swizzle(E2M1_X2, i8x16.shr_u(bv, 4));
        const s = f32x4.splat(blockScale(load<u8>(sr + g)));
        const d = dot8(byte0(ev), byte1(ev), byte2(ev), byte3(ev), byte0(od), byte1(od), byte2(od), byte3(od), x0 + (<usize>g << 7));
        a0 = f32x4.relaxed_madd(d, s, a0);
      }
      store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
    }
  }
}
