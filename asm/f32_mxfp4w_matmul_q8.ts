// MXFP4-weight matmul on int8 activations, the fast path's experts. The weights are repacked once at load
// (pack_mxfp4_rows4) into groups of four rows: per 32-column block, four v128 whose lane r holds row r's
// codes for 8 columns (four in the low nibbles, the next four in the high ones), then the four rows' e8m0
// scales. So one 4-byte activation splat meets four rows, and the per-block work (offset, convert, scale)
// is shared by four rows instead of done per row. A 16-entry i8x16.swizzle table turns each e2m1 code into
// 2*value + 12, an integer in [0, 24] (the i7 operand of relaxed_dot_i8x16_i7x16_add_s, one vpdpbusd or
// pmaddubsw+pmaddwd on x86); activations are q = round(x / scale), scale = maxabs / 127 per 32-block
// (quantize_q8_x), and the +12 offset comes off as 12 * (sum of q) per block. A block's dot is exact in
// i32; blocks are summed in f32 in order, so every (row, token) gets the same bits whatever its tile.
// Four or more tokens (an expert's share of a prefill step) take int8_panel.ts's tiles: the tokens are
// regathered in chunks of four, and each 32 rows are decoded to those integers once (their codes' five
// vector ops then cost nothing per token) and met by every chunk, the rows' weights side by side: 1.4x the
// former eight-token tile at 8 tokens, 1.7x at 32 and 64 (one expert slice, one thread).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { i8w_group_bytes } from "./f32_i8w_matmul";
import { q8RowBytes, quantizeQ8Rows, storeRows } from "./int_common";
import { panels } from "./int8_panel";

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

/**
 * Bytes of the scratch f32_mxfp4w_matmul_q8 takes for n tokens: the tokens regathered in chunks of four
 * (n rows of q8_xq_row_bytes), one panel of 32 rows decoded to int8 (8 groups of the int8 packing), and the
 * panel's outputs (n x 32 floats).
 */
export function mxfp4_q8_scratch_bytes(n: i32, cols: i32): i32 {
  return n * q8RowBytes(cols) + 8 * i8w_group_bytes(cols) + (n << 7);
}

/**
 * Copies the n listed rows (quantize_q8_x rows) into chunks of four at dst, the layout of quantizeQ8Rows
 * with quads, each block's sum negated: -12 * (sum of q), where the panels' dot chains start.
 */
function gatherChunks(xq: usize, xRows: usize, n: i32, xBytes: usize, cols: usize, dst: usize): void {
  const nb = <i32>(cols >> 5);
  for (let i = 0; i < n; i++) {
    const src = xAt(xq, xRows, i, xBytes), l = <usize>(i & 3), cn = <usize>min(4, n - (i & ~3));
    const chunk = dst + <usize>(i & ~3) * xBytes, step = cn << 2, q = chunk + (l << 2);
    for (let c: usize = 0; c < cols; c += 4) store<u32>(q + (c >> 2) * step, load<u32>(src + c));
    const sc = chunk + cn * cols + (l << 2), sums = sc + cn * (<usize>nb << 2);
    for (let b = 0; b < nb; b++) {
      const o = <usize>b * step, from = src + cols + (<usize>b << 2);
      store<f32>(sc + o, load<f32>(from));
      store<i32>(sums + o, -load<i32>(from + (<usize>nb << 2)));
    }
  }
}

/**
 * Decodes `groups` packed row groups from w (gBytes apart) into the int8 packing at dst (dBytes apart): each
 * code v128 k of a block (columns 8k..8k+3 in its low nibbles, 8k+4..8k+7 in its high ones) becomes the
 * int8 v128s 2k and 2k+1 of 2 * e2m1 value + 12 in [0, 24] (the same integers the one-token tiles dot),
 * and each row's e8m0 scale 2^(e-127) the bf16 whose bits are e << 7 (the same f32 after widening).
 */
function decodeGroups(w: usize, groups: i32, gBytes: usize, nb: i32, cols: usize, dst: usize, dBytes: usize): void {
  const tab = v128.load(CONSTS), m = v128.load(CONSTS, 16);
  for (let g = 0; g < groups; g++) {
    const src = w + <usize>g * gBytes, out = dst + <usize>g * dBytes, sc = src + (<usize>nb << 6), ds = out + (cols << 2);
    for (let b = 0; b < nb; b++) {
      const at = src + (<usize>b << 6), to = out + (<usize>b << 7);
      for (let k: usize = 0; k < 64; k += 16) {
        const v = v128.load(at + k);
        v128.store(to + (k << 1), i8x16.relaxed_swizzle(tab, v128.and(v, m)));
        v128.store(to + (k << 1), i8x16.relaxed_swizzle(tab, v128.and(i16x8.shr_u(v, 4), m)), 16);
      }
      const e = i16x8.extend_low_i8x16_u(v128.load32_zero(sc + (<usize>b << 2)));
      v128.store64_lane(ds + (<usize>b << 3), i16x8.shl(e, 7), 0);
    }
  }
}

/**
 * For i < n and r < rows: y[yRows[i]*yStride + r] = W[r] . xq[xRows[i]] + bias[r] (bias 0: none). W: from
 * pack_mxfp4_rows4 (mxfp4_rows4_bytes(rows, cols) bytes); xq rows from quantize_q8_x (stride
 * q8_xq_row_bytes(cols)); xRows, yRows: i32 lists. cols % 32 == 0. Up to three tokens go one at a time,
 * four row groups at a time. Four or more are regathered in chunks of four, and each panel of 32 rows is
 * decoded once to int8 and met by every chunk through int8_panel.ts (scratch: mxfp4_q8_scratch_bytes(n,
 * cols) bytes); the row groups left past the panels go token by token. The bias is read in whole v128s: up
 * to 12 bytes past its last row.
 */
export function f32_mxfp4w_matmul_q8(
  w: usize, bias: usize, rows: i32, cols: i32,
  xq: usize, xRows: usize, n: i32, y: usize, yRows: usize, yStride: i32, scratch: usize,
): void {
  const nb = cols >> 5, gBytes = <usize>mxfp4_rows4_group_bytes(cols), groups = (rows + 3) >> 2;
  const xBytes = <usize>q8RowBytes(cols), yBytes = <usize>yStride << 2, c = <usize>cols;
  let g = 0;
  if (n >= 4) {
    const dBytes = <usize>i8w_group_bytes(cols), xc = scratch, wd = xc + <usize>n * xBytes, yp = wd + 8 * dBytes;
    gatherChunks(xq, xRows, n, xBytes, c, xc);
    for (; (g + 2) << 2 <= rows; g += 8) {
      const pairs = min(4, (rows >> 3) - (g >> 1)), r = g << 2, rowBytes = <usize>pairs << 5;
      decodeGroups(w + <usize>g * gBytes, pairs << 1, gBytes, nb, c, wd, dBytes);
      // token i's outputs at yp + 128 i: the panels put row r at byte 4r of their y
      panels(wd, dBytes, nb, pairs, xc, xBytes, n, c, yp - (<usize>r << 2), 128, bias, r);
      for (let i = 0; i < n; i++) {
        const from = yp + (<usize>i << 7), to = yAt(y, yRows, i, yBytes) + (<usize>r << 2);
        for (let o: usize = 0; o < rowBytes; o += 16) v128.store(to + o, v128.load(from + o));
      }
    }
    g = (rows >> 3) << 1;
  }
  // the tokens one at a time: four whole row groups at a time (from g: the groups the panels left)
  for (let i = 0; i < n; i++) {
    const x = xAt(xq, xRows, i, xBytes), yi = yAt(y, yRows, i, yBytes);
    let h = g;
    for (; (h + 4) << 2 <= rows; h += 4) tile16x1(w + <usize>h * gBytes, gBytes, nb, x, c, yi, bias, h << 2);
    for (; h < groups; h++) tile4x1(w + <usize>h * gBytes, nb, x, c, yi, bias, h << 2, min(4, rows - (h << 2)));
  }
}
