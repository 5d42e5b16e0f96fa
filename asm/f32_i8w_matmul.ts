// int8-weight matmul for the fast path's attention and unembedding: weights are quantized once at load
// (pack_i8w_bf16, pack_i8w_f32: per row and 32-column block a bf16 scale, q = round(w / scale) in [-127, 127], as
// llama.cpp's Q8_0 and as many bytes; one scale per row instead changed a demo answer) and stored four
// rows interleaved: v128 j of a group holds columns 4j, 4j+1 of rows 0..3, then columns 4j+2, 4j+3, so
// each half widens to eight i16 that i32x4.dot_i16x8_s (one pmaddwd) pairs with a 2-column activation
// splat into four row sums. Activations are quantized per token and per 32-value block (quantize_i16_x)
// to 16-bit integers: one int8 level instead gave 2.4x the output error on gpt-oss-20b shapes and 10x the
// KL divergence, and i16 needs no sign trick (relaxed_dot_i8x16_i7x16's second operand must be in
// [0, 127]). A block's dot is exact in i32 (|sum| < 32 * 127 * 32767); blocks are summed in f32, each
// times its activation scale times its weight scale, in order: every (row, token) gets the same result
// whatever its tile.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { blockMaxAbs, storeRows } from "./int_common";

/** Bytes of one quantized activation row: cols i16, then cols/32 f32 scales, 16-aligned. */
export function i16_xq_row_bytes(cols: i32): i32 {
  return (cols * 2 + (cols >> 5) * 4 + 15) & ~15;
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

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into rows of i16_xq_row_bytes(cols) at xq: per
 * 32-value block, scale = maxabs / qMax (0 for an all-zero block), q = round(x * (qMax / maxabs)) formed in
 * f64, ties to even. A block holding NaN or an infinity gets scale NaN and q 0, so every dot with it is NaN
 * (a non-finite activation never turns finite). qMax: 32767 (the fast path) or 127 (one int8 level, as
 * llama.cpp's Q8_0 activations; for the quality gate's yardstick). cols % 32 == 0.
 */
export function quantize_i16_x(x: usize, xq: usize, rows: i32, cols: i32, qMax: i32): void {
  const nb = cols >> 5, rowBytes = <usize>i16_xq_row_bytes(cols);
  for (let t = 0; t < rows; t++) {
    const xr = x + (<usize>t * <usize>cols << 2), q = xq + <usize>t * rowBytes, sc = q + (<usize>cols << 1);
    for (let b = 0; b < nb; b++) {
      const s = xr + (<usize>b << 7);
      const maxAbs = blockMaxAbs(s);
      const finite = maxAbs < Infinity; // false for NaN too
      const inv: f64 = finite && maxAbs > 0 ? <f64>qMax / <f64>maxAbs : 0;
      store<f32>(sc + (<usize>b << 2), finite ? (maxAbs > 0 ? <f32>(<f64>maxAbs / <f64>qMax) : 0) : NaN);
      for (let c = 0; c < 32; c++) {
        const v = finite ? nearest<f64>(<f64>load<f32>(s + (<usize>c << 2)) * inv) : 0;
        store<i16>(q + (<usize>((b << 5) + c) << 1), <i16>v);
      }
    }
  }
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
 * round(w / scale) in f64, ties to even, so |q| <= 127; byte (c & 1) + 2r + 8((c >> 1) & 1) of v128 c >> 2
 * holds row r, column c. The last group is padded with zero rows. cols % 32 == 0.
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
        // |q| <= 127: the narrowing is exact; columns c, c+1 go to bytes 2r, 2r+1 of v128 c/4, c+2, c+3 to 8+2r
        const q8 = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q, q), i16x8.splat(0));
        const at = group + (<usize>(c >> 2) << 4) + (lane << 1);
        store<u16>(at, i16x8.extract_lane_u(q8, 0));
        store<u16>(at, i16x8.extract_lane_u(q8, 1), 8);
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

/** The four rows' bf16 scales of block b of a group (its scales at ws) as f32, times the activation scale. */
@inline function blockScale(ws: usize, b: i32, xs: v128): v128 {
  return f32x4.mul(i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(ws + (<usize>b << 3))), 16), xs);
}

/** acc + the four row sums of weights v128 v (columns c..c+3) against the token's i16 q at x + 2c. */
@inline function quad(v: v128, x: usize, acc: v128): v128 {
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v), v128.load32_splat(x)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v), v128.load32_splat(x, 4)));
}

/**
 * Four row groups (16 rows from group pointer w, gBytes apart) against one token x (i16 q, then scales at
 * x + 2 cols): the decode tile, four independent i32 chains per block.
 */
function tile16x1(w: usize, gBytes: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32): void {
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  const sc = x + (cols << 1), ws = w + (cols << 2);
  for (let b = 0; b < nb; b++) {
    let d0 = i32x4.splat(0), d1 = i32x4.splat(0), d2 = i32x4.splat(0), d3 = i32x4.splat(0);
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const c = c0 + j, o = w + (c << 2), xc = x + (c << 1);
      d0 = quad(v128.load(o), xc, d0);
      d1 = quad(v128.load(o + gBytes), xc, d1);
      d2 = quad(v128.load(o + 2 * gBytes), xc, d2);
      d3 = quad(v128.load(o + 3 * gBytes), xc, d3);
    }
    const xs = v128.load32_splat(sc + (<usize>b << 2));
    f0 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d0), blockScale(ws, b, xs), f0);
    f1 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d1), blockScale(ws + gBytes, b, xs), f1);
    f2 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d2), blockScale(ws + 2 * gBytes, b, xs), f2);
    f3 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d3), blockScale(ws + 3 * gBytes, b, xs), f3);
  }
  storeRows(y, f0, bias, r, 4);
  storeRows(y, f1, bias, r + 4, 4);
  storeRows(y, f2, bias, r + 8, 4);
  storeRows(y, f3, bias, r + 12, 4);
}

/** One row group against one token; `valid` of its rows are stored. */
function tile4x1(w: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32, valid: i32): void {
  let f = f32x4.splat(0);
  const sc = x + (cols << 1), ws = w + (cols << 2);
  for (let b = 0; b < nb; b++) {
    let d = i32x4.splat(0);
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) d = quad(v128.load(w + ((c0 + j) << 2)), x + ((c0 + j) << 1), d);
    f = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d), blockScale(ws, b, v128.load32_splat(sc + (<usize>b << 2))), f);
  }
  storeRows(y, f, bias, r, valid);
}

/**
 * One row group against four tokens (their xq rows xBytes apart, outputs yBytes apart): each v128 of
 * weights is loaded and widened once for the four, the prefill tile.
 */
function tile4x4(w: usize, nb: i32, x: usize, xBytes: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32, valid: i32): void {
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  const ws = w + (cols << 2), x1 = x + xBytes, x2 = x + 2 * xBytes, x3 = x + 3 * xBytes, sc = cols << 1;
  for (let b = 0; b < nb; b++) {
    let d0 = i32x4.splat(0), d1 = i32x4.splat(0), d2 = i32x4.splat(0), d3 = i32x4.splat(0);
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const c = c0 + j, v = v128.load(w + (c << 2)), o = c << 1;
      const lo = i16x8.extend_low_i8x16_s(v), hi = i16x8.extend_high_i8x16_s(v);
      d0 = i32x4.add(i32x4.add(d0, i32x4.dot_i16x8_s(lo, v128.load32_splat(x + o))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x + o, 4)));
      d1 = i32x4.add(i32x4.add(d1, i32x4.dot_i16x8_s(lo, v128.load32_splat(x1 + o))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x1 + o, 4)));
      d2 = i32x4.add(i32x4.add(d2, i32x4.dot_i16x8_s(lo, v128.load32_splat(x2 + o))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x2 + o, 4)));
      d3 = i32x4.add(i32x4.add(d3, i32x4.dot_i16x8_s(lo, v128.load32_splat(x3 + o))), i32x4.dot_i16x8_s(hi, v128.load32_splat(x3 + o, 4)));
    }
    const s = sc + (<usize>b << 2);
    f0 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d0), blockScale(ws, b, v128.load32_splat(x + s)), f0);
    f1 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d1), blockScale(ws, b, v128.load32_splat(x1 + s)), f1);
    f2 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d2), blockScale(ws, b, v128.load32_splat(x2 + s)), f2);
    f3 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(d3), blockScale(ws, b, v128.load32_splat(x3 + s)), f3);
  }
  storeRows(y, f0, bias, r, valid);
  storeRows(y + yBytes, f1, bias, r, valid);
  storeRows(y + 2 * yBytes, f2, bias, r, valid);
  storeRows(y + 3 * yBytes, f3, bias, r, valid);
}

/**
 * y[t*yStride + r] = sum over 32-blocks b of ws[r, b] * xs[t, b] * (W[r, b] . q[t, b]) + bias[r] for
 * t < tokens, r < rows (bias 0: none). w: from pack_i8w_bf16/_f32 (i8w_bytes(rows, cols) bytes); xq: `tokens`
 * rows from quantize_i16_x. cols % 32 == 0. A lone token takes 16 rows at a time, several tokens one row
 * group by four tokens.
 */
export function f32_i8w_matmul(w: usize, bias: usize, rows: i32, cols: i32, xq: usize, tokens: i32, y: usize, yStride: i32): void {
  const nb = cols >> 5, gBytes = <usize>i8w_group_bytes(cols), xBytes = <usize>i16_xq_row_bytes(cols), yBytes = <usize>yStride << 2;
  const c = <usize>cols, groups = (rows + 3) >> 2;
  let t = 0;
  if (tokens >= 4) {
    for (let g = 0; g < groups; g++) {
      const r = g << 2, valid = min(4, rows - r), wg = w + <usize>g * gBytes;
      for (t = 0; t + 4 <= tokens; t += 4) {
        tile4x4(wg, nb, xq + <usize>t * xBytes, xBytes, c, y + <usize>t * yBytes, yBytes, bias, r, valid);
      }
    }
  }
  // the tokens left (all of them below four), 16 rows at a time
  for (; t < tokens; t++) {
    const xt = xq + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    let g = 0;
    for (; (g + 4) << 2 <= rows; g += 4) tile16x1(w + <usize>g * gBytes, gBytes, nb, xt, c, yt, bias, g << 2);
    for (; g < groups; g++) tile4x1(w + <usize>g * gBytes, nb, xt, c, yt, bias, g << 2, min(4, rows - (g << 2)));
  }
}
