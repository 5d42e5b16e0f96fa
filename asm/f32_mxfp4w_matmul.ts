// MXFP4-weight matmul with integer block dots: a 16-entry i8x16.swizzle table turns e2m1 codes into exact
// integers 2*value in [-12, 12]; activations are quantized once per matmul (quantize_mxfp4_x), per
// 32-column block, to two int16 each: hi = round(x / scale) with scale = maxabs / 32767, and lo = the
// remainder in 1/65536 steps. Each block is two exact i32 dots (i32x4.dot_i16x8_s), combined and scaled
// by act_scale * 2^(e-127) / 2 in f32; f32 accumulation across blocks. The error is f32-like (below 2^-22
// of the block's largest |x| per activation), where hi alone is 2^-16: too coarse for the clamped SwiGLU
// outputs, whose blocks carry outliers (1.3e-3 logits error on gpt-oss-tiny against 1e-5 with hi + lo).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * Constant vectors, read from static data: V8 rebuilds a v128.const from immediates at every use inside a
 * loop, which costs more than a load. At +0: 2 x e2m1 value for each code (bit 3 sign, bits 0-2 index
 * [0, .5, 1, 1.5, 2, 3, 4, 6], doubled), looked up with nibbles 0..15 so relaxed_swizzle (one pshufb) is
 * exact. At +16: the low-nibble mask. At +32: the low-byte mask of i32 lanes. At +48: 1/65536 in f32x4.
 */
const CONSTS: usize = memory.data<u8>([
  0, 1, 2, 3, 4, 6, 8, 12, 0, 0xff, 0xfe, 0xfd, 0xfc, 0xfa, 0xf8, 0xf4,
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
  0xff, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0,
  0, 0, 0x80, 0x37, 0, 0, 0x80, 0x37, 0, 0, 0x80, 0x37, 0, 0, 0x80, 0x37,
], 16);

/**
 * Largest int16 magnitude of hi. x / scale is formed in f32, so |x - hi * scale| <= (1/2 + 2^-8) scale, and
 * |x - (hi + lo / 65536) * scale| <= 2^-22 maxabs (f32 rounding of x / scale and of the scale dominate).
 */
const Q_MAX: f32 = 32767;

/** Bytes of one quantized block: 32 int16 hi, 32 int16 lo, then scale / 2 in all 4 f32 lanes. */
const XQ_BLOCK: i32 = 144;

/** Bytes of one quantized row of `cols` activations (cols/32 blocks of XQ_BLOCK bytes). */
export function mxfp4_xq_row_bytes(cols: i32): i32 {
  return (cols >> 5) * XQ_BLOCK;
}

/** Stores slot `slot` of a block at d: hi = round(t), lo = round((t - hi) * 65536) (|t - hi| <= 1/2). */
@inline function put2(d: usize, slot: i32, t: f32): void {
  const hi = nearest<f32>(t);
  const lo = min<f32>(max<f32>(nearest<f32>((t - hi) * 65536), -32767), 32767);
  store<i16>(d + (<usize>slot << 1), <i16><i32>hi);
  store<i16>(d + 64 + (<usize>slot << 1), <i16><i32>lo);
}

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into xq rows of mxfp4_xq_row_bytes(cols): per
 * block of 32, scale = maxabs / 32767 (0 and all-zero codes for an all-zero block) and x = scale *
 * (hi + lo / 65536). hi and lo hold their 32 values in the order of the decoded weight lanes: slot 8m + k
 * holds column 4k + [0, 2, 1, 3][m] (the even bytes, then the odd bytes, of the low-nibble values, then
 * of the high-nibble values). The block ends with scale / 2 (undoing the doubled weight table) x 4.
 * cols % 32 == 0.
 */
export function quantize_mxfp4_x(x: usize, xq: usize, rows: i32, cols: i32): void {
  const nb = cols >> 5;
  for (let t = 0; t < rows; t++) {
    const xr = x + (<usize>t * <usize>cols << 2), qr = xq + <usize>t * <usize>mxfp4_xq_row_bytes(cols);
    for (let g = 0; g < nb; g++) {
      const s = xr + (<usize>g << 7), d = qr + <usize>g * XQ_BLOCK;
      let m = f32x4.abs(v128.load(s));
      for (let j = 1; j < 8; j++) m = f32x4.max(m, f32x4.abs(v128.load(s + (<usize>j << 4))));
      const maxAbs = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const inv: f32 = maxAbs > 0 ? Q_MAX / maxAbs : 0;
      v128.store(d, f32x4.splat(maxAbs > 0 ? (maxAbs / Q_MAX) * 0.5 : 0), 128);
      for (let k = 0; k < 8; k++) {
        const c = s + (<usize>k << 4);
        put2(d, k, load<f32>(c) * inv);
        put2(d, 8 + k, load<f32>(c, 8) * inv);
        put2(d, 16 + k, load<f32>(c, 4) * inv);
        put2(d, 24 + k, load<f32>(c, 12) * inv);
      }
    }
  }
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline function dot4(w0: v128, w1: v128, w2: v128, w3: v128, q: usize): v128 {
  const a = i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(q)), i32x4.dot_i16x8_s(w1, v128.load(q, 16)));
  const c = i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(q, 32)), i32x4.dot_i16x8_s(w3, v128.load(q, 48)));
  return f32x4.convert_i32x4_s(i32x4.add(a, c));
}

/**
 * One decoded block (w0..w3: int16 weights in quantize_mxfp4_x slot order, ws: its 2^(e-127) in 4 lanes)
 * against the quantized block at q, added to acc: acc + ((hi + lo / 65536) . w) * scale/2 * ws, as 4 f32
 * partial sums. Each integer dot is exact and below 2^24 in magnitude (32 * 12 * 32767), so its f32
 * conversion is exact too.
 */
@inline function blockDot(w0: v128, w1: v128, w2: v128, w3: v128, ws: v128, q: usize, acc: v128): v128 {
  const d = f32x4.relaxed_madd(dot4(w0, w1, w2, w3, q + 64), v128.load(CONSTS, 48), dot4(w0, w1, w2, w3, q));
  return f32x4.relaxed_madd(d, f32x4.mul(v128.load(q, 128), ws), acc);
}

@inline function yAt(y: usize, yRows: usize, i: i32, yBytes: usize, r: i32): usize {
  return y + <usize>load<i32>(yRows + (<usize>i << 2)) * yBytes + (<usize>r << 2);
}

@inline function xAt(xq: usize, xRows: usize, i: i32, xBytes: usize): usize {
  return xq + <usize>load<i32>(xRows + (<usize>i << 2)) * xBytes;
}

/**
 * For i < n and r < rows: y[yRows[i]*yStride + r] = W[r] . xq[xRows[i]] + bias[r] (bias 0: none).
 * W: blocks [rows, cols/32, 16] u8 and scales [rows, cols/32] u8; xq rows from quantize_mxfp4_x (stride
 * mxfp4_xq_row_bytes(cols)); xRows, yRows: i32 lists. cols % 32 == 0. Tokens go 4, then 2, then 1 at a
 * time, sharing each decoded block; a lone token (decode) takes two rows at a time instead, for two
 * independent chains. Every (row, token) sums its blocks in the same order whatever its tile.
 * Reads up to 3 bytes past the last scale (a 4-byte splat load).
 */
export function f32_mxfp4w_matmul(
  blocks: usize, scales: usize, bias: usize, rows: i32, cols: i32,
  xq: usize, xRows: usize, n: i32, y: usize, yRows: usize, yStride: i32,
): void {
  const nb = cols >> 5, xBytes = <usize>mxfp4_xq_row_bytes(cols), yBytes = <usize>yStride << 2;
  for (let r = 0; r < rows; r++) {
    const br = blocks + <usize>r * (<usize>nb << 4), sr = scales + <usize>r * <usize>nb;
    const b: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
    if (n == 1 && r + 1 < rows) {
      // decode: two rows at a time share each activation block and run two independent chains
      const br2 = br + (<usize>nb << 4), sr2 = sr + <usize>nb;
      const b2: f32 = bias ? load<f32>(bias + (<usize>(r + 1) << 2)) : 0;
      const x0 = xAt(xq, xRows, 0, xBytes);
      let a0 = f32x4.splat(0), c0 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const bv = v128.load(br + (<usize>g << 4)), table = v128.load(CONSTS), nibble = v128.load(CONSTS, 16);
        const ev = i8x16.relaxed_swizzle(table, v128.and(bv, nibble));
        const od = i8x16.relaxed_swizzle(table, v128.and(i16x8.shr_u(bv, 4), nibble));
        const w0 = i16x8.shr_s(i16x8.shl(ev, 8), 8), w1 = i16x8.shr_s(ev, 8);
        const w2 = i16x8.shr_s(i16x8.shl(od, 8), 8), w3 = i16x8.shr_s(od, 8);
        // 2^(e-127) from the e8m0 byte (e = 0 gives 0 instead of 2^-127)
        const ws = i32x4.shl(v128.and(v128.load32_splat(sr + g), v128.load(CONSTS, 32)), 23);
        const bvb = v128.load(br2 + (<usize>g << 4));
        const evb = i8x16.relaxed_swizzle(table, v128.and(bvb, nibble));
        const odb = i8x16.relaxed_swizzle(table, v128.and(i16x8.shr_u(bvb, 4), nibble));
        const w0b = i16x8.shr_s(i16x8.shl(evb, 8), 8), w1b = i16x8.shr_s(evb, 8);
        const w2b = i16x8.shr_s(i16x8.shl(odb, 8), 8), w3b = i16x8.shr_s(odb, 8);
        const wsb = i32x4.shl(v128.and(v128.load32_splat(sr2 + g), v128.load(CONSTS, 32)), 23);
        const q = x0 + <usize>g * XQ_BLOCK;
        a0 = blockDot(w0, w1, w2, w3, ws, q, a0);
        c0 = blockDot(w0b, w1b, w2b, w3b, wsb, q, c0);
      }
      store<f32>(yAt(y, yRows, 0, yBytes, r), hsum(a0) + b);
      store<f32>(yAt(y, yRows, 0, yBytes, r + 1), hsum(c0) + b2);
      r++;
      continue;
    }
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const x0 = xAt(xq, xRows, i, xBytes), x1 = xAt(xq, xRows, i + 1, xBytes);
      const x2 = xAt(xq, xRows, i + 2, xBytes), x3 = xAt(xq, xRows, i + 3, xBytes);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const bv = v128.load(br + (<usize>g << 4)), table = v128.load(CONSTS), nibble = v128.load(CONSTS, 16);
        const ev = i8x16.relaxed_swizzle(table, v128.and(bv, nibble));
        const od = i8x16.relaxed_swizzle(table, v128.and(i16x8.shr_u(bv, 4), nibble));
        const w0 = i16x8.shr_s(i16x8.shl(ev, 8), 8), w1 = i16x8.shr_s(ev, 8);
        const w2 = i16x8.shr_s(i16x8.shl(od, 8), 8), w3 = i16x8.shr_s(od, 8);
        // 2^(e-127) from the e8m0 byte (e = 0 gives 0 instead of 2^-127)
        const ws = i32x4.shl(v128.and(v128.load32_splat(sr + g), v128.load(CONSTS, 32)), 23);
        const off = <usize>g * XQ_BLOCK;
        a0 = blockDot(w0, w1, w2, w3, ws, x0 + off, a0);
        a1 = blockDot(w0, w1, w2, w3, ws, x1 + off, a1);
        a2 = blockDot(w0, w1, w2, w3, ws, x2 + off, a2);
        a3 = blockDot(w0, w1, w2, w3, ws, x3 + off, a3);
      }
      store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
      store<f32>(yAt(y, yRows, i + 1, yBytes, r), hsum(a1) + b);
      store<f32>(yAt(y, yRows, i + 2, yBytes, r), hsum(a2) + b);
      store<f32>(yAt(y, yRows, i + 3, yBytes, r), hsum(a3) + b);
    }
    for (; i + 2 <= n; i += 2) {
      const x0 = xAt(xq, xRows, i, xBytes), x1 = xAt(xq, xRows, i + 1, xBytes);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const bv = v128.load(br + (<usize>g << 4)), table = v128.load(CONSTS), nibble = v128.load(CONSTS, 16);
        const ev = i8x16.relaxed_swizzle(table, v128.and(bv, nibble));
        const od = i8x16.relaxed_swizzle(table, v128.and(i16x8.shr_u(bv, 4), nibble));
        const w0 = i16x8.shr_s(i16x8.shl(ev, 8), 8), w1 = i16x8.shr_s(ev, 8);
        const w2 = i16x8.shr_s(i16x8.shl(od, 8), 8), w3 = i16x8.shr_s(od, 8);
        // 2^(e-127) from the e8m0 byte (e = 0 gives 0 instead of 2^-127)
        const ws = i32x4.shl(v128.and(v128.load32_splat(sr + g), v128.load(CONSTS, 32)), 23);
        const off = <usize>g * XQ_BLOCK;
        a0 = blockDot(w0, w1, w2, w3, ws, x0 + off, a0);
        a1 = blockDot(w0, w1, w2, w3, ws, x1 + off, a1);
      }
      store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
      store<f32>(yAt(y, yRows, i + 1, yBytes, r), hsum(a1) + b);
    }
    if (i < n) {
      const x0 = xAt(xq, xRows, i, xBytes);
      let a0 = f32x4.splat(0);
      for (let g = 0; g < nb; g++) {
        const bv = v128.load(br + (<usize>g << 4)), table = v128.load(CONSTS), nibble = v128.load(CONSTS, 16);
        const ev = i8x16.relaxed_swizzle(table, v128.and(bv, nibble));
        const od = i8x16.relaxed_swizzle(table, v128.and(i16x8.shr_u(bv, 4), nibble));
        const w0 = i16x8.shr_s(i16x8.shl(ev, 8), 8), w1 = i16x8.shr_s(ev, 8);
        const w2 = i16x8.shr_s(i16x8.shl(od, 8), 8), w3 = i16x8.shr_s(od, 8);
        // 2^(e-127) from the e8m0 byte (e = 0 gives 0 instead of 2^-127)
        const ws = i32x4.shl(v128.and(v128.load32_splat(sr + g), v128.load(CONSTS, 32)), 23);
        a0 = blockDot(w0, w1, w2, w3, ws, x0 + <usize>g * XQ_BLOCK, a0);
      }
      store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
    }
  }
}
