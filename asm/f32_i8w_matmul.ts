// int8-weight matmul for the fast path's attention and unembedding: weights are quantized once at load
// (pack_i8w_bf16, pack_i8w_f32: per row and 32-column block a bf16 scale, q = round(w / scale) in [-127, 127], as
// llama.cpp's Q8_0 and as many bytes; one scale per row instead changed a demo answer) and stored as u = q + 128
// in [1, 255], four rows interleaved: lane r of v128 j of a group holds columns 4j..4j+3 of row r, so one
// 4-byte activation splat meets four rows in one i32x4.relaxed_dot_i8x16_i7x16_add_s. Activations are
// quantized per token and per 32-value block to int8 (quantize_i8w_x, q in [-127, 127], llama.cpp's Q8_0
// activations) with the block's -128 * (sum of q) beside its scale: a block's dot chain starts there, so it
// ends at x . (u - 128) = x . q with no work per weight. Where this engine's relaxed dot reads its second
// operand as u8 without saturating (x86 with AVX-VNNI: one vpdpbusd, 16 products; probed once, u8Dot), that
// is one dot per 16 products. Elsewhere each weight v128 is split into two 7-bit digits (u = 128 h + l) at
// run time and takes two dots, with the same integers.
// A block's dot is exact in i32; blocks are summed in f32, each times its activation scale times its
// weight scale, in order: every (row, token) gets the same result whatever its tile or path.
// Several tokens go through int8_panel.ts (the tokens in chunks of four whose bytes quantize_i8w_x
// interleaves, against up to four row pairs at a time, the weights of the pairs streaming side by side): on
// the unembedding (one thread, scripts/i8w_kernel_bench.ts) 2 to 4 tokens take 1.0-1.15x the time of one,
// 8 tokens 1.8x.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { blockMaxAbs, q8RowBytes, quantizeQ8Rows, storeRows } from "./int_common";
import { addBlock, blockSum, dot, lane, panels, weightScales } from "./int8_panel";

/** Bytes of one quantize_i8w_x row: cols int8 q, then per block an f32 scale and -128 * (sum of q) (i32). */
export function i8w_xq_row_bytes(cols: i32): i32 {
  return q8RowBytes(cols);
}

/**
 * Bytes of one packed group of four rows: cols*4 bytes of weights, then per 32-column block the four
 * rows' bf16 scales (8 bytes), 16-aligned.
 */
export function i8w_group_bytes(cols: i32): i32 {
  return (cols * 4 + (cols >> 5) * 8 + 15) & ~15;
}

/** Bytes of a packed weight matrix of `rows` rows (padded to a multiple of 4) and `cols` columns. */
export function i8w_bytes(rows: i32, cols: i32): i32 {
  return ((rows + 3) >> 2) * i8w_group_bytes(cols);
}

/** -1: not probed yet; 1: one relaxed dot reads u in [0, 255] exactly (u8 form); 0: the 7-bit digit form. */
let u8Dot: i32 = -1;

/**
 * Whether i32x4.relaxed_dot_i8x16_i7x16_add_s computes -127 * 255 * 4 and 127 * 200 * 4 exactly (vpdpbusd:
 * second operand u8, four products summed in i32), not saturating pairs in i16 (pmaddubsw) nor reading 255
 * as -1 (a signed dot). The operands come from memory.size so the compiler cannot fold the relaxed op.
 */
function probeU8Dot(): i32 {
  const huge = memory.size() == 0x7fffffff;
  const lo = i8x16.splat(<i8>(huge ? 0 : -127)), hi = i8x16.splat(<i8>(huge ? 0 : 127));
  const d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(lo, i8x16.splat(<i8>(huge ? 0 : 255)), i32x4.splat(0));
  const d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(hi, i8x16.splat(<i8>(huge ? 0 : 200)), i32x4.splat(0));
  return i32x4.all_true(i32x4.eq(d0, i32x4.splat(-127 * 255 * 4))) && i32x4.all_true(i32x4.eq(d1, i32x4.splat(127 * 200 * 4))) ? 1 : 0;
}

@inline function useU8Dot(): bool {
  if (u8Dot < 0) u8Dot = probeU8Dot();
  return u8Dot != 0;
}

/**
 * Which form f32_i8w_matmul uses: 1 the u8 form (only where probed exact), 0 the digit form, -1 the probe's
 * choice. Returns the form now in use. For tests, which run both forms on one machine; the packed weights
 * and the quantized activations are the same in both.
 */
export function i8w_u8_dot(form: i32): i32 {
  u8Dot = form < 0 ? probeU8Dot() : form == 1 ? probeU8Dot() : 0;
  return u8Dot;
}

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into i8w_xq_row_bytes(cols) per row at xq
 * (int_common's quantizeQ8Rows, in chunks of four rows): q per 32-value block with qMax levels (1..127;
 * 127, one int8 level as llama.cpp's Q8_0 activations, is the fast path's), then per block the scale
 * maxabs / qMax and -128 * (sum of q). cols % 32 == 0.
 */
export function quantize_i8w_x(x: usize, xq: usize, rows: i32, cols: i32, qMax: i32): void {
  quantizeQ8Rows(x, xq, rows, cols, qMax, 1, -128, true);
}

/** Four weights of a row (columns c..c+3) widened to f32: bf16 (the high half of an f32) or f32 as stored. */
@inline function weights4(row: usize, c: i32, bf16: bool): v128 {
  return bf16 ? i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(row + (<usize>c << 1))), 16) : v128.load(row + (<usize>c << 2));
}

/** The largest |w| of the 32 weights of block b of a row (NaN if one is NaN). */
@inline function rowBlockMaxAbs(row: usize, b: i32, bf16: bool): f32 {
  if (!bf16) return blockMaxAbs(row + (<usize>b << 7));
  // 32 bf16 widened eight at a time
  const blk = row + (<usize>b << 6);
  let m = f32x4.splat(0);
  for (let j: usize = 0; j < 64; j += 16) {
    const v = v128.load(blk + j);
    m = f32x4.max(m, f32x4.abs(i32x4.shl(i32x4.extend_low_i16x8_u(v), 16)));
    m = f32x4.max(m, f32x4.abs(i32x4.shl(i32x4.extend_high_i16x8_u(v), 16)));
  }
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

/**
 * Packs rows [rows, cols] at src (bf16 or f32) into groups of four rows at dst (i8w_group_bytes each): per
 * row and 32-column block, scale = maxabs / 127 rounded up to a bf16 (0 for an all-zero block), q =
 * round(w / scale) in f64, ties to even, so |q| <= 127; byte 4r + (c & 3) of v128 c >> 2 holds q + 128 of
 * row r, column c. The last group is padded with rows of q = 0. cols % 32 == 0.
 */
function packRows(src: usize, rows: i32, cols: i32, dst: usize, bf16: bool): void {
  const padded = (rows + 3) & ~3, nb = cols >> 5, gBytes = <usize>i8w_group_bytes(cols);
  const rowBytes = <usize>cols << (bf16 ? 1 : 2);
  for (let r = 0; r < padded; r++) {
    const row = src + <usize>r * rowBytes, group = dst + <usize>(r >> 2) * gBytes, lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      const maxAbs: f32 = r < rows ? rowBlockMaxAbs(row, b, bf16) : 0;
      // the scale's f32 bits rounded up to the next bf16: never below maxabs / 127
      let bits = reinterpret<u32>(maxAbs / 127);
      if (bits & 0xffff) bits = (bits + 0x10000) & 0xffff0000;
      store<u16>(group + (<usize>cols << 2) + (<usize>b << 3) + (lane << 1), <u16>(bits >> 16));
      const scale = f64x2.splat(<f64>reinterpret<f32>(bits));
      for (let c = b << 5; c < (b + 1) << 5; c += 4) {
        // q = round(w / scale) of columns c..c+3 in f64, ties to even (0 for a zero scale or a padding row)
        let q = i32x4.splat(0);
        if (bits != 0 && r < rows) {
          const w = weights4(row, c, bf16);
          const q01 = i32x4.trunc_sat_f64x2_s_zero(f64x2.nearest(f64x2.div(f64x2.promote_low_f32x4(w), scale)));
          const q23 = i32x4.trunc_sat_f64x2_s_zero(f64x2.nearest(f64x2.div(f64x2.promote_low_f32x4(v128.shuffle<i32>(w, w, 2, 3, 2, 3)), scale)));
          q = v128.shuffle<i32>(q01, q23, 0, 1, 4, 5);
        }
        // |q| <= 127: the narrowing is exact, and flipping bit 7 makes q + 128; columns c..c+3 go to bytes
        // 4r..4r+3 of v128 c/4
        const q8 = v128.xor(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q, q), i16x8.splat(0)), i8x16.splat(-128));
        store<u32>(group + (<usize>(c >> 2) << 4) + (lane << 2), i32x4.extract_lane(q8, 0));
      }
    }
  }
}

/** packRows() of bf16 rows (the checkpoint's words). */
export function pack_i8w_bf16(src: usize, rows: i32, cols: i32, dst: usize): void {
  packRows(src, rows, cols, dst, true);
}

/** packRows() of f32 rows (f32 or f16 checkpoints, widened at load). */
export function pack_i8w_f32(src: usize, rows: i32, cols: i32, dst: usize): void {
  packRows(src, rows, cols, dst, false);
}

/**
 * Four row groups (16 rows from group pointer w, gBytes apart) against one token x (a chunk of one, u8
 * form), the decode tile: per four columns one activation splat meets four groups' weights.
 */
function tile16x1(w: usize, gBytes: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32): void {
  let f0 = f32x4.splat(0), f1 = f0, f2 = f0, f3 = f0;
  const ws = w + (cols << 2), w1 = w + gBytes, w2 = w1 + gBytes, w3 = w2 + gBytes;
  const sc = x + cols, sums = sc + (cols >> 3);
  for (let b = 0; b < nb; b++) {
    let d0 = v128.load32_splat(sums + (<usize>b << 2)), d1 = d0, d2 = d0, d3 = d0;
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 8) {
      const o = (c0 + j) << 2, xc = x + c0 + j;
      let a = v128.load32_splat(xc);
      d0 = dot(a, v128.load(w + o), d0); d1 = dot(a, v128.load(w1 + o), d1);
      d2 = dot(a, v128.load(w2 + o), d2); d3 = dot(a, v128.load(w3 + o), d3);
      a = v128.load32_splat(xc, 4);
      d0 = dot(a, v128.load(w + o, 16), d0); d1 = dot(a, v128.load(w1 + o, 16), d1);
      d2 = dot(a, v128.load(w2 + o, 16), d2); d3 = dot(a, v128.load(w3 + o, 16), d3);
    }
    const xsc = v128.load32_splat(sc + (<usize>b << 2));
    f0 = blockSum(d0, weightScales(ws, b), xsc, f0);
    f1 = blockSum(d1, weightScales(ws + gBytes, b), xsc, f1);
    f2 = blockSum(d2, weightScales(ws + 2 * gBytes, b), xsc, f2);
    f3 = blockSum(d3, weightScales(ws + 3 * gBytes, b), xsc, f3);
  }
  storeRows(y, f0, bias, r, 4);
  storeRows(y, f1, bias, r + 4, 4);
  storeRows(y, f2, bias, r + 8, 4);
  storeRows(y, f3, bias, r + 12, 4);
}

/** The digit form's masks: at +0 the low 7 bits of each byte, at +16 the lowest bit (after a shift right by 7). */
const DIGIT_MASKS: usize = memory.data<u8>([
  127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127, 127,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
], 16);

/** The low digit u & 127 of each weight byte u (low: DIGIT_MASKS' first v128). */
@inline function lowDigits(v: v128, low: v128): v128 {
  return v128.and(v, low);
}

/** The high digit u >> 7 of each weight byte u (one: DIGIT_MASKS' second v128). */
@inline function highDigits(v: v128, one: v128): v128 {
  return v128.and(i16x8.shr_u(v, 7), one);
}

/**
 * One row group against one token: lane l of a chunk of n tokens at x (n = 1: a plain row), in the u8 form
 * (digits false) or the digit form, where each weight v128 u is split into l = u & 127 and h = u >> 7 (both
 * in [0, 127] as the relaxed dot requires everywhere), x . u = x . l + 128 x . h. `valid` of its rows are
 * stored.
 */
function tile4x1(w: usize, nb: i32, x: usize, n: i32, l: i32, cols: usize, y: usize, bias: usize, r: i32, valid: i32, digits: bool): void {
  let f = f32x4.splat(0);
  const ws = w + (cols << 2), step = <usize>n << 2, q = x + (<usize>l << 2);
  const sc = x + <usize>n * cols + (<usize>l << 2), sums = sc + (<usize>n * cols >> 3);
  const low = v128.load(DIGIT_MASKS), one = v128.load(DIGIT_MASKS, 16);
  for (let b = 0; b < nb; b++) {
    let d = v128.load32_splat(sums + <usize>b * step), e = i32x4.splat(0);
    const wb = w + (<usize>b << 7), xb = q + (<usize>b << 3) * step;
    for (let j: usize = 0; j < 8; j++) {
      const v = v128.load(wb + (j << 4)), a = v128.load32_splat(xb + j * step);
      if (digits) {
        d = dot(a, lowDigits(v, low), d);
        e = dot(a, highDigits(v, one), e);
      } else {
        d = dot(a, v, d);
      }
    }
    f = blockSum(digits ? i32x4.add(d, i32x4.shl(e, 7)) : d, weightScales(ws, b), v128.load32_splat(sc + <usize>b * step), f);
  }
  storeRows(y, f, bias, r, valid);
}

/**
 * One row group against a chunk of four tokens x in the digit form (outputs y, rows r..r+3, yBytes
 * apart): each weight v128 is split into its digits once for the four tokens, whose bytes come as one v128
 * per four columns, splat by shuffles. The f32 sums run in the outputs, as in panel().
 */
function tile4x4Digits(w: usize, nb: i32, x: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32): void {
  const ws = w + (cols << 2), sc = x + (cols << 2), sums = sc + (cols >> 1), zero = f32x4.splat(0);
  const y0 = y + (<usize>r << 2), y1 = y0 + yBytes, y2 = y1 + yBytes, y3 = y2 + yBytes;
  v128.store(y0, zero); v128.store(y1, zero); v128.store(y2, zero); v128.store(y3, zero);
  const low = v128.load(DIGIT_MASKS), one = v128.load(DIGIT_MASKS, 16);
  for (let b = 0; b < nb; b++) {
    const o = v128.load(sums + (<usize>b << 4));
    let d0 = lane(o, 0), d1 = lane(o, 1), d2 = lane(o, 2), d3 = lane(o, 3);
    let e0 = i32x4.splat(0), e1 = e0, e2 = e0, e3 = e0;
    const wb = w + (<usize>b << 7), xb = x + (<usize>b << 7);
    for (let j: usize = 0; j < 128; j += 16) {
      const v = v128.load(wb + j), lo = lowDigits(v, low), hi = highDigits(v, one), X = v128.load(xb + j);
      let a = lane(X, 0); d0 = dot(a, lo, d0); e0 = dot(a, hi, e0);
      a = lane(X, 1); d1 = dot(a, lo, d1); e1 = dot(a, hi, e1);
      a = lane(X, 2); d2 = dot(a, lo, d2); e2 = dot(a, hi, e2);
      a = lane(X, 3); d3 = dot(a, lo, d3); e3 = dot(a, hi, e3);
    }
    const s = weightScales(ws, b), xs = v128.load(sc + (<usize>b << 4));
    addBlock(y0, i32x4.add(d0, i32x4.shl(e0, 7)), s, lane(xs, 0));
    addBlock(y1, i32x4.add(d1, i32x4.shl(e1, 7)), s, lane(xs, 1));
    addBlock(y2, i32x4.add(d2, i32x4.shl(e2, 7)), s, lane(xs, 2));
    addBlock(y3, i32x4.add(d3, i32x4.shl(e3, 7)), s, lane(xs, 3));
  }
  if (!bias) return;
  const bv = v128.load(bias + (<usize>r << 2));
  v128.store(y0, f32x4.add(v128.load(y0), bv)); v128.store(y1, f32x4.add(v128.load(y1), bv));
  v128.store(y2, f32x4.add(v128.load(y2), bv)); v128.store(y3, f32x4.add(v128.load(y3), bv));
}

/**
 * y[t*yStride + r] = sum over 32-blocks b of ws[r, b] * xs[t, b] * (W[r, b] . q[t, b]) + bias[r] for
 * t < tokens, r < rows (bias 0: none). w: from pack_i8w_bf16/_f32 (i8w_bytes(rows, cols) bytes); xq: `tokens`
 * rows from quantize_i8w_x (the same call's token count). cols % 32 == 0. A lone token takes 16 rows at a
 * time; several tokens take int8_panel.ts's panels (up to four row pairs by every chunk of four tokens); the
 * row groups left, and every group in the digit form, go one group at a time (a chunk of four tokens at a
 * time in the digit form, else token by token). The bias is read in whole v128s: up to 12 bytes past its
 * last row.
 */
export function f32_i8w_matmul(w: usize, bias: usize, rows: i32, cols: i32, xq: usize, tokens: i32, y: usize, yStride: i32): void {
  const nb = cols >> 5, gBytes = <usize>i8w_group_bytes(cols), xBytes = <usize>q8RowBytes(cols), yBytes = <usize>yStride << 2;
  const c = <usize>cols, groups = (rows + 3) >> 2, digits = !useU8Dot();
  let g = 0;
  if (!digits && tokens == 1) {
    for (; (g + 4) << 2 <= rows; g += 4) tile16x1(w + <usize>g * gBytes, gBytes, nb, xq, c, y, bias, g << 2);
  } else if (!digits) {
    // row pairs four at a time (then the pairs left) against every chunk of tokens
    for (; (g + 2) << 2 <= rows; g += 8) {
      const pairs = min(4, (rows >> 3) - (g >> 1));
      panels(w + <usize>g * gBytes, gBytes, nb, pairs, xq, xBytes, tokens, c, y, yBytes, bias, g << 2);
    }
    g = (rows >> 3) << 1;
  }
  // the row groups left (all of them in the digit form: whole groups by chunks of four tokens), one row
  // group and token at a time
  for (; g < groups; g++) {
    const r = g << 2, wg = w + <usize>g * gBytes, valid = min(4, rows - r);
    let t = 0;
    if (digits && valid == 4) {
      for (; t + 4 <= tokens; t += 4) tile4x4Digits(wg, nb, xq + <usize>t * xBytes, c, y + <usize>t * yBytes, yBytes, bias, r);
    }
    for (; t < tokens; t++) {
      const n = min(4, tokens - (t & ~3));
      tile4x1(wg, nb, xq + <usize>(t & ~3) * xBytes, n, t & 3, c, y + <usize>t * yBytes, bias, r, valid, digits);
    }
  }
}
