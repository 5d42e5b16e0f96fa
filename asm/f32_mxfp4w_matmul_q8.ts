// MXFP4-weight matmul on int8 activations, the fast path's experts. The weights are repacked once at load
// (pack_mxfp4_rows4) into groups of four rows: per 32-column block, four v128 whose lane r holds row r's
// codes for 8 columns (four in the low nibbles, the next four in the high ones), then the four rows' e8m0
// scales. So one 4-byte activation splat meets four rows, and the per-block work (offset, convert, scale)
// is shared by four rows instead of done per row. A 16-entry i8x16.swizzle table turns each e2m1 code into
// 2*value + 12, an integer in [0, 24] (the i7 operand of relaxed_dot_i8x16_i7x16_add_s, one vpdpbusd or
// pmaddubsw+pmaddwd on x86); activations are q = round(x / scale), scale = maxabs / 127 per 32-block
// (quantize_q8_x), and the +12 offset comes off as 12 * (sum of q) per block. A block's dot is exact in
// i32; blocks are summed in f32 in order, so every (row, token) gets the same bits whatever its tile.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { q8RowBytes, quantizeQ8Rows, storeRows } from "./int_common";

/**
 * At +0: 2 x e2m1 value + 12 for each code (bit 3 sign, bits 0-2 index [0, .5, 1, 1.5, 2, 3, 4, 6]). At
 * +16: the low-nibble mask. At +32: i8x16.swizzle moving byte l of a u32 to byte 3 of lane l (e8m0 -> f32
 * exponent after a shift right by 1).
 */
const CONSTS: usize = memory.data<u8>([
  12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0,
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
  0x80, 0x80, 0x80, 0, 0x80, 0x80, 0x80, 1, 0x80, 0x80, 0x80, 2, 0x80, 0x80, 0x80, 3,
], 16);

/** Bytes of one packed group of four rows: nb blocks of 64 code bytes, then nb x 4 scale bytes, 16-aligned. */
export function mxfp4_rows4_group_bytes(cols: i32): i32 {
  return ((cols >> 5) * 68 + 15) & ~15;
}

/** Bytes of `rows` rows (padded to a multiple of 4) packed by pack_mxfp4_rows4. */
export function mxfp4_rows4_bytes(rows: i32, cols: i32): i32 {
  return ((rows + 3) >> 2) * mxfp4_rows4_group_bytes(cols);
}

/** Bytes of one quantize_q8_x row: cols int8 q, then per block scale/2 (f32) and 12 * sum of q (i32). */
export function q8_xq_row_bytes(cols: i32): i32 {
  return q8RowBytes(cols);
}

/**
 * Repacks `rows` rows of checkpoint MXFP4 (blocks [rows, cols/32, 16]: column 2j in the low nibble of byte
 * j, 2j+1 in the high; scales [rows, cols/32]) into groups at dst: block b of a group is four v128, v128 k
 * lane r byte i = code(row r, column 32b+8k+i) | code(row r, column 32b+8k+4+i) << 4; then scale byte
 * (b, r) at nb*64 + 4b + r. The last group is padded with zero codes and scale 0. cols % 32 == 0.
 */
export function pack_mxfp4_rows4(blocks: usize, scales: usize, rows: i32, cols: i32, dst: usize): void {
  const nb = cols >> 5, gBytes = <usize>mxfp4_rows4_group_bytes(cols), m = v128.load(CONSTS, 16);
  for (let g = 0; g < (rows + 3) >> 2; g++) {
    const group = dst + <usize>g * gBytes, r0 = g << 2;
    for (let b = 0; b < nb; b++) {
      // each row's 16 code bytes as 4 lanes: lane k = its bytes for columns 8k..8k+3 (low) and 8k+4.. (high)
      const o0 = rowCodes(blocks, r0, rows, nb, b, m), o1 = rowCodes(blocks, r0 + 1, rows, nb, b, m);
      const o2 = rowCodes(blocks, r0 + 2, rows, nb, b, m), o3 = rowCodes(blocks, r0 + 3, rows, nb, b, m);
      // transpose 4x4 lanes: v128 k of the block holds lane k of rows 0..3
      const t0 = v128.shuffle<i32>(o0, o1, 0, 4, 1, 5), t1 = v128.shuffle<i32>(o2, o3, 0, 4, 1, 5);
      const t2 = v128.shuffle<i32>(o0, o1, 2, 6, 3, 7), t3 = v128.shuffle<i32>(o2, o3, 2, 6, 3, 7);
      const at = group + (<usize>b << 6);
      v128.store(at, v128.shuffle<i32>(t0, t1, 0, 1, 4, 5));
      v128.store(at, v128.shuffle<i32>(t0, t1, 2, 3, 6, 7), 16);
      v128.store(at, v128.shuffle<i32>(t2, t3, 0, 1, 4, 5), 32);
      v128.store(at, v128.shuffle<i32>(t2, t3, 2, 3, 6, 7), 48);
      for (let l = 0; l < 4; l++) {
        const r = r0 + l;
        store<u8>(group + (<usize>nb << 6) + (<usize>b << 2) + <usize>l, r < rows ? load<u8>(scales + <usize>r * <usize>nb + <usize>b) : 0);
      }
    }
  }
}

/**
 * Row r's block b (16 checkpoint bytes: column 2j in the low nibble of byte j, 2j+1 in the high) rearranged:
 * byte 4k+i = code(8k+i) | code(8k+4+i) << 4. Zero for a padding row (r >= rows).
 */
@inline function rowCodes(blocks: usize, r: i32, rows: i32, nb: i32, b: i32, m: v128): v128 {
  if (r >= rows) return i32x4.splat(0);
  const v = v128.load(blocks + (<usize>r * <usize>nb + <usize>b << 4));
  const even = v128.and(v, m), odd = v128.and(i16x8.shr_u(v, 4), m);
  // byte 4k+i: column 8k+i (even column: byte 4k+i/2 of `even`; odd: of `odd`), then column 8k+4+i
  const lo = i8x16.shuffle(even, odd, 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
  const hi = i8x16.shuffle(even, odd, 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
  return v128.or(lo, i16x8.shl(hi, 4));
}

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into rows of q8_xq_row_bytes(cols) at xq
 * (int_common's quantizeQ8Rows with 127 levels): q per 32-value block, then scale/2 per block (the codes are
 * 2 * value) and 12 * (sum of q), the codes' +12 offset. cols % 32 == 0.
 */
export function quantize_q8_x(x: usize, xq: usize, rows: i32, cols: i32): void {
  quantizeQ8Rows(x, xq, rows, cols, 127, 0.5, 12, false);
}

/** 2^(e-127) of the four rows' e8m0 bytes at p, one per lane (e = 0 gives 0). */
@inline function rowScales(p: usize): v128 {
  return i32x4.shr_u(i8x16.swizzle(v128.load32_zero(p), v128.load(CONSTS, 32)), 1);
}

/**
 * -12 * (sum of q over block b) in every lane: the start of block b's i32 chain, so the chain ends at the
 * dot without the codes' +12 offset. x is the token's xq row (scales at x + cols, sums nb*4 bytes further).
 */
@inline function offset(x: usize, b: i32, cols: usize): v128 {
  return i32x4.neg(v128.load32_splat(x + cols + (cols >> 3) + (<usize>b << 2)));
}

/** f + d * (xs/2 * ws): block b of a (row group, token) chain. */
@inline function blockSum(d: v128, x: usize, b: i32, cols: usize, ws: v128, f: v128): v128 {
  return f32x4.relaxed_madd(f32x4.convert_i32x4_s(d), f32x4.mul(v128.load32_splat(x + cols + (<usize>b << 2)), ws), f);
}

@inline function xAt(xq: usize, xRows: usize, i: i32, xBytes: usize): usize {
  return xq + <usize>load<i32>(xRows + (<usize>i << 2)) * xBytes;
}

@inline function yAt(y: usize, yRows: usize, i: i32, yBytes: usize): usize {
  return y + <usize>load<i32>(yRows + (<usize>i << 2)) * yBytes;
}

/** The i32 chain d plus row group v128 v (low and high nibbles) against the token's two splats lo, hi. */
@inline function codes(lo: v128, hi: v128, v: v128, tab: v128, m: v128, d: v128): v128 {
  d = i32x4.relaxed_dot_i8x16_i7x16_add_s(lo, i8x16.relaxed_swizzle(tab, v128.and(v, m)), d);
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(hi, i8x16.relaxed_swizzle(tab, v128.and(i16x8.shr_u(v, 4), m)), d);
}

/**
 * Four row groups (16 rows from w, gBytes apart) against one token x: the decode tile. One i32 chain per
 * group and block; each pair of activation splats feeds four groups.
 */
function tile16x1(w: usize, gBytes: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32): void {
  const tab = v128.load(CONSTS), m = v128.load(CONSTS, 16), sc = w + (<usize>nb << 6);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = offset(x, b, cols);
    let d0 = o, d1 = o, d2 = o, d3 = o;
    const wb = w + (<usize>b << 6), xb = x + (<usize>b << 5);
    for (let k: usize = 0; k < 64; k += 16) {
      const lo = v128.load32_splat(xb + (k >> 1)), hi = v128.load32_splat(xb + (k >> 1) + 4), at = wb + k;
      d0 = codes(lo, hi, v128.load(at), tab, m, d0);
      d1 = codes(lo, hi, v128.load(at + gBytes), tab, m, d1);
      d2 = codes(lo, hi, v128.load(at + 2 * gBytes), tab, m, d2);
      d3 = codes(lo, hi, v128.load(at + 3 * gBytes), tab, m, d3);
    }
    const sb = sc + (<usize>b << 2);
    f0 = blockSum(d0, x, b, cols, rowScales(sb), f0);
    f1 = blockSum(d1, x, b, cols, rowScales(sb + gBytes), f1);
    f2 = blockSum(d2, x, b, cols, rowScales(sb + 2 * gBytes), f2);
    f3 = blockSum(d3, x, b, cols, rowScales(sb + 3 * gBytes), f3);
  }
  storeRows(y, f0, bias, r, 4);
  storeRows(y, f1, bias, r + 4, 4);
  storeRows(y, f2, bias, r + 8, 4);
  storeRows(y, f3, bias, r + 12, 4);
}

/** One row group against one token. */
function tile4x1(w: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32, valid: i32): void {
  const tab = v128.load(CONSTS), m = v128.load(CONSTS, 16), sc = w + (<usize>nb << 6);
  let f = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    let d = offset(x, b, cols);
    const wb = w + (<usize>b << 6), xb = x + (<usize>b << 5);
    for (let k: usize = 0; k < 64; k += 16) {
      d = codes(v128.load32_splat(xb + (k >> 1)), v128.load32_splat(xb + (k >> 1) + 4), v128.load(wb + k), tab, m, d);
    }
    f = blockSum(d, x, b, cols, rowScales(sc + (<usize>b << 2)), f);
  }
  storeRows(y, f, bias, r, valid);
}

/** One row group against four tokens (x0..x3, outputs y0..y3): each code v128 is decoded once for the four. */
function tile4x4(
  w: usize, nb: i32, x0: usize, x1: usize, x2: usize, x3: usize, cols: usize,
  y0: usize, y1: usize, y2: usize, y3: usize, bias: usize, r: i32, valid: i32,
): void {
  const tab = v128.load(CONSTS), m = v128.load(CONSTS, 16), sc = w + (<usize>nb << 6);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    let d0 = offset(x0, b, cols), d1 = offset(x1, b, cols), d2 = offset(x2, b, cols), d3 = offset(x3, b, cols);
    const wb = w + (<usize>b << 6), o = <usize>b << 5;
    for (let k: usize = 0; k < 64; k += 16) {
      const v = v128.load(wb + k), j = o + (k >> 1);
      // decoded once for the four tokens
      const lo = i8x16.relaxed_swizzle(tab, v128.and(v, m)), hi = i8x16.relaxed_swizzle(tab, v128.and(i16x8.shr_u(v, 4), m));
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + j + 4), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + j), lo, d0));
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1 + j + 4), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x1 + j), lo, d1));
      d2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2 + j + 4), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x2 + j), lo, d2));
      d3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3 + j + 4), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x3 + j), lo, d3));
    }
    const ws = rowScales(sc + (<usize>b << 2));
    f0 = blockSum(d0, x0, b, cols, ws, f0);
    f1 = blockSum(d1, x1, b, cols, ws, f1);
    f2 = blockSum(d2, x2, b, cols, ws, f2);
    f3 = blockSum(d3, x3, b, cols, ws, f3);
  }
  storeRows(y0, f0, bias, r, valid);
  storeRows(y1, f1, bias, r, valid);
  storeRows(y2, f2, bias, r, valid);
  storeRows(y3, f3, bias, r, valid);
}

/** The token chain d plus one decoded code v128 (lo, hi) against the token's splats at x + j. */
@inline function tok(x: usize, j: usize, lo: v128, hi: v128, d: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x + j + 4), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x + j), lo, d));
}

/**
 * One row group against the eight tokens i..i+7 of the lists: each code v128 is decoded once for the
 * eight (its five decode ops then cost less than one dot per token).
 */
function tile4x8(
  w: usize, nb: i32, xq: usize, xRows: usize, xBytes: usize, i: i32, cols: usize,
  y: usize, yRows: usize, yBytes: usize, bias: usize, r: i32, valid: i32,
): void {
  const tab = v128.load(CONSTS), m = v128.load(CONSTS, 16), sc = w + (<usize>nb << 6);
  const x0 = xAt(xq, xRows, i, xBytes), x1 = xAt(xq, xRows, i + 1, xBytes), x2 = xAt(xq, xRows, i + 2, xBytes), x3 = xAt(xq, xRows, i + 3, xBytes);
  const x4 = xAt(xq, xRows, i + 4, xBytes), x5 = xAt(xq, xRows, i + 5, xBytes), x6 = xAt(xq, xRows, i + 6, xBytes), x7 = xAt(xq, xRows, i + 7, xBytes);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  let f4 = f32x4.splat(0), f5 = f32x4.splat(0), f6 = f32x4.splat(0), f7 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    let d0 = offset(x0, b, cols), d1 = offset(x1, b, cols), d2 = offset(x2, b, cols), d3 = offset(x3, b, cols);
    let d4 = offset(x4, b, cols), d5 = offset(x5, b, cols), d6 = offset(x6, b, cols), d7 = offset(x7, b, cols);
    const wb = w + (<usize>b << 6), o = <usize>b << 5;
    for (let k: usize = 0; k < 64; k += 16) {
      const v = v128.load(wb + k), j = o + (k >> 1);
      const lo = i8x16.relaxed_swizzle(tab, v128.and(v, m)), hi = i8x16.relaxed_swizzle(tab, v128.and(i16x8.shr_u(v, 4), m));
      d0 = tok(x0, j, lo, hi, d0);
      d1 = tok(x1, j, lo, hi, d1);
      d2 = tok(x2, j, lo, hi, d2);
      d3 = tok(x3, j, lo, hi, d3);
      d4 = tok(x4, j, lo, hi, d4);
      d5 = tok(x5, j, lo, hi, d5);
      d6 = tok(x6, j, lo, hi, d6);
      d7 = tok(x7, j, lo, hi, d7);
    }
    const ws = rowScales(sc + (<usize>b << 2));
    f0 = blockSum(d0, x0, b, cols, ws, f0);
    f1 = blockSum(d1, x1, b, cols, ws, f1);
    f2 = blockSum(d2, x2, b, cols, ws, f2);
    f3 = blockSum(d3, x3, b, cols, ws, f3);
    f4 = blockSum(d4, x4, b, cols, ws, f4);
    f5 = blockSum(d5, x5, b, cols, ws, f5);
    f6 = blockSum(d6, x6, b, cols, ws, f6);
    f7 = blockSum(d7, x7, b, cols, ws, f7);
  }
  storeRows(yAt(y, yRows, i, yBytes), f0, bias, r, valid);
  storeRows(yAt(y, yRows, i + 1, yBytes), f1, bias, r, valid);
  storeRows(yAt(y, yRows, i + 2, yBytes), f2, bias, r, valid);
  storeRows(yAt(y, yRows, i + 3, yBytes), f3, bias, r, valid);
  storeRows(yAt(y, yRows, i + 4, yBytes), f4, bias, r, valid);
  storeRows(yAt(y, yRows, i + 5, yBytes), f5, bias, r, valid);
  storeRows(yAt(y, yRows, i + 6, yBytes), f6, bias, r, valid);
  storeRows(yAt(y, yRows, i + 7, yBytes), f7, bias, r, valid);
}

/**
 * For i < n and r < rows: y[yRows[i]*yStride + r] = W[r] . xq[xRows[i]] + bias[r] (bias 0: none). W: from
 * pack_mxfp4_rows4 (mxfp4_rows4_bytes(rows, cols) bytes); xq rows from quantize_q8_x (stride
 * q8_xq_row_bytes(cols)); xRows, yRows: i32 lists. cols % 32 == 0. A lone token takes four row groups at a
 * time; four or more, one row group by eight tokens, then four. The bias is read in whole v128s: up to 12 bytes past
 * its last row.
 */
export function f32_mxfp4w_matmul_q8(
  w: usize, bias: usize, rows: i32, cols: i32,
  xq: usize, xRows: usize, n: i32, y: usize, yRows: usize, yStride: i32,
): void {
  const nb = cols >> 5, gBytes = <usize>mxfp4_rows4_group_bytes(cols), groups = (rows + 3) >> 2;
  const xBytes = <usize>q8_xq_row_bytes(cols), yBytes = <usize>yStride << 2, c = <usize>cols;
  let i = 0;
  if (n >= 4) {
    for (let g = 0; g < groups; g++) {
      const r = g << 2, valid = min(4, rows - r), wg = w + <usize>g * gBytes;
      for (i = 0; i + 8 <= n; i += 8) tile4x8(wg, nb, xq, xRows, xBytes, i, c, y, yRows, yBytes, bias, r, valid);
      for (; i + 4 <= n; i += 4) {
        tile4x4(
          wg, nb, xAt(xq, xRows, i, xBytes), xAt(xq, xRows, i + 1, xBytes), xAt(xq, xRows, i + 2, xBytes),
          xAt(xq, xRows, i + 3, xBytes), c, yAt(y, yRows, i, yBytes), yAt(y, yRows, i + 1, yBytes),
          yAt(y, yRows, i + 2, yBytes), yAt(y, yRows, i + 3, yBytes), bias, r, valid,
        );
      }
    }
  }
  // the tokens left (all of them below four), four whole row groups at a time
  for (; i < n; i++) {
    const x = xAt(xq, xRows, i, xBytes), yi = yAt(y, yRows, i, yBytes);
    let g = 0;
    for (; (g + 4) << 2 <= rows; g += 4) tile16x1(w + <usize>g * gBytes, gBytes, nb, x, c, yi, bias, g << 2);
    for (; g < groups; g++) tile4x1(w + <usize>g * gBytes, nb, x, c, yi, bias, g << 2, min(4, rows - (g << 2)));
  }
}
