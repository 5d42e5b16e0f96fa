// int8-weight matmul for the fast path's attention and unembedding: weights are quantized once at load
// (pack_i8w_bf16, pack_i8w_f32: per row and 32-column block a bf16 scale, q = round(w / scale) in [-127, 127], as
// llama.cpp's Q8_0 and as many bytes; one scale per row instead changed a demo answer) and stored four
// rows interleaved: lane r of v128 j of a group holds columns 4j..4j+3 of row r, so one 4-byte activation
// splat meets four rows in one i32x4.relaxed_dot_i8x16_i7x16_add_s. Activations are quantized per token and
// per 32-value block to int8 (quantize_i16_x, q in [-127, 127], llama.cpp's Q8_0 activations) and stored
// as u = q + 128 in [1, 255]; a block's dot is W . u - 128 * (sum of W), the row sums coming from one more
// dot against ones, shared by every token of a tile. Where this engine's relaxed dot reads its second
// operand as u8 without saturating (x86 with AVX-VNNI: one vpdpbusd, 16 products; probed once, u8Dot),
// W . u is one dot per 16 products: twice the i16 pmaddwd form's rate (scripts/int8_dot_bench.ts).
// Elsewhere u is stored as two 7-bit digits (u = 128 h + l) and takes two dots, with the same integers.
// A block's dot is exact in i32; blocks are summed in f32, each times its activation scale times its
// weight scale, in order: every (row, token) gets the same result whatever its tile or path.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { blockMaxAbs, storeRows } from "./int_common";

/** Bytes of one quantized activation row: cols bytes u (or cols l, then cols h), then cols/32 f32 scales. */
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

/** -1: not probed yet; 1: one relaxed dot reads u in [0, 255] exactly (u8 form); 0: the 7-bit digit form. */
let u8Dot: i32 = -1;

/**
 * Whether i32x4.relaxed_dot_i8x16_i7x16_add_s computes 127 * 200 * 4 exactly (vpdpbusd: second operand
 * u8, four products summed in i32), not saturating pairs in i16 (pmaddubsw) nor reading 200 as -56 (signed
 * dot). The operands come from memory.size so the compiler cannot fold the relaxed op.
 */
function probeU8Dot(): i32 {
  const huge = memory.size() == 0x7fffffff;
  const a = i8x16.splat(<i8>(huge ? 0 : 127)), b = i8x16.splat(<i8>(huge ? 0 : 200));
  const d = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, i32x4.splat(0));
  return i32x4.all_true(i32x4.eq(d, i32x4.splat(127 * 200 * 4))) ? 1 : 0;
}

@inline function useU8Dot(): bool {
  if (u8Dot < 0) u8Dot = probeU8Dot();
  return u8Dot != 0;
}

/**
 * Which form quantize_i16_x and f32_i8w_matmul use: 1 the u8 form (only where probed exact), 0 the digit
 * form, -1 the probe's choice. Returns the form now in use. For tests, which run both forms on one machine;
 * a form change must come before quantizing the rows the matmul reads.
 */
export function i8w_u8_dot(form: i32): i32 {
  u8Dot = form < 0 ? probeU8Dot() : form == 1 ? probeU8Dot() : 0;
  return u8Dot;
}

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into rows of i16_xq_row_bytes(cols) at xq: per
 * 32-value block, scale = maxabs / qMax (0 for an all-zero block), q = round(x * (qMax / maxabs)) formed in
 * f64, ties to even, stored as u = q + 128 (the u8 form: byte c; the digit form: u & 127 at byte c, u >> 7
 * at byte cols + c); the f32 scales follow at 2 cols. A block holding NaN or an infinity gets scale NaN and
 * q 0, so every dot with it is NaN (a non-finite activation never turns finite). qMax: 1..127 (127, one
 * int8 level as llama.cpp's Q8_0 activations, is the fast path's). cols % 32 == 0.
 */
export function quantize_i16_x(x: usize, xq: usize, rows: i32, cols: i32, qMax: i32): void {
  if (qMax < 1 || qMax > 127) unreachable();
  const nb = cols >> 5, rowBytes = <usize>i16_xq_row_bytes(cols), c1 = <usize>cols, u8 = useU8Dot();
  for (let t = 0; t < rows; t++) {
    const xr = x + (<usize>t * c1 << 2), q = xq + <usize>t * rowBytes, sc = q + (c1 << 1);
    for (let b = 0; b < nb; b++) {
      const s = xr + (<usize>b << 7);
      const maxAbs = blockMaxAbs(s);
      const finite = maxAbs < Infinity; // false for NaN too
      const inv: f64 = finite && maxAbs > 0 ? <f64>qMax / <f64>maxAbs : 0;
      store<f32>(sc + (<usize>b << 2), finite ? (maxAbs > 0 ? <f32>(<f64>maxAbs / <f64>qMax) : 0) : NaN);
      for (let c = 0; c < 32; c++) {
        const u = (finite ? <i32>nearest<f64>(<f64>load<f32>(s + (<usize>c << 2)) * inv) : 0) + 128;
        const at = q + <usize>((b << 5) + c);
        if (u8) {
          store<u8>(at, <u8>u);
        } else {
          store<u8>(at, <u8>(u & 127));
          store<u8>(at + c1, <u8>(u >> 7));
        }
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
 * round(w / scale) in f64, ties to even, so |q| <= 127; byte 4r + (c & 3) of v128 c >> 2 holds row r,
 * column c. The last group is padded with zero rows. cols % 32 == 0.
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
        // |q| <= 127: the narrowing is exact; columns c..c+3 go to bytes 4r..4r+3 of v128 c/4
        const q8 = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q, q), i16x8.splat(0));
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

/** The four rows' bf16 scales of block b of a group (its scales at ws) as f32. */
@inline function weightScales(ws: usize, b: i32): v128 {
  return i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(ws + (<usize>b << 3))), 16);
}

/** d + the four row dots of weights v (4 columns per row) against the 4-byte splat at p. */
@inline function dot4(v: v128, p: usize, d: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(p), d);
}

/**
 * acc + f32(d - offset) * (wsc * the token's scale of block b, at xs + 4b): offset = 128 * the four rows'
 * weight sums, wsc their weight scales (weightScales).
 */
@inline function blockSum(d: v128, offset: v128, wsc: v128, b: i32, xs: usize, acc: v128): v128 {
  const exact = i32x4.sub(d, offset);
  return f32x4.relaxed_madd(f32x4.convert_i32x4_s(exact), f32x4.mul(wsc, v128.load32_splat(xs + (<usize>b << 2))), acc);
}

/**
 * Four row groups (16 rows from group pointer w, gBytes apart) against one token x (u8 form), the decode
 * tile: per 32-column block, each group's token dot and row sums as two independent chains.
 */
function tile16x1(w: usize, gBytes: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32): void {
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  const ones = i8x16.splat(1), sc = x + (cols << 1), ws = w + (cols << 2);
  const w1 = w + gBytes, w2 = w + 2 * gBytes, w3 = w + 3 * gBytes;
  for (let b = 0; b < nb; b++) {
    let d0 = i32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, s0 = d0, s1 = d0, s2 = d0, s3 = d0;
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const o = (c0 + j) << 2, xc = x + c0 + j;
      const v0 = v128.load(w + o), v1 = v128.load(w1 + o), v2 = v128.load(w2 + o), v3 = v128.load(w3 + o);
      d0 = dot4(v0, xc, d0); s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, ones, s0);
      d1 = dot4(v1, xc, d1); s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, ones, s1);
      d2 = dot4(v2, xc, d2); s2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v2, ones, s2);
      d3 = dot4(v3, xc, d3); s3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v3, ones, s3);
    }
    f0 = blockSum(d0, i32x4.shl(s0, 7), weightScales(ws, b), b, sc, f0);
    f1 = blockSum(d1, i32x4.shl(s1, 7), weightScales(ws + gBytes, b), b, sc, f1);
    f2 = blockSum(d2, i32x4.shl(s2, 7), weightScales(ws + 2 * gBytes, b), b, sc, f2);
    f3 = blockSum(d3, i32x4.shl(s3, 7), weightScales(ws + 3 * gBytes, b), b, sc, f3);
  }
  storeRows(y, f0, bias, r, 4);
  storeRows(y, f1, bias, r + 4, 4);
  storeRows(y, f2, bias, r + 8, 4);
  storeRows(y, f3, bias, r + 12, 4);
}

/**
 * One row group against four tokens (u8 form; xq rows xBytes apart, outputs yBytes apart): each v128 of
 * weights is loaded once for the four and its row sums formed once, the prefill tile (eight tokens spill
 * the sixteen xmm registers: their eight block dots and eight f32 sums).
 */
function tile4x4(w: usize, nb: i32, x: usize, xBytes: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32, valid: i32): void {
  let f0 = f32x4.splat(0), f1 = f0, f2 = f0, f3 = f0;
  const ones = i8x16.splat(1), ws = w + (cols << 2), sc = cols << 1;
  const x1 = x + xBytes, x2 = x1 + xBytes, x3 = x2 + xBytes;
  for (let b = 0; b < nb; b++) {
    let d0 = i32x4.splat(0), d1 = d0, d2 = d0, d3 = d0, s = d0;
    const c0 = <usize>b << 5;
    // per 16 columns: one v128 of each token's bytes, its four 4-byte lanes splat by shuffles (no address
    // arithmetic per splat), and the four weight v128 at immediate offsets
    for (let j: usize = 0; j < 32; j += 16) {
      const c = c0 + j, wp = w + (c << 2);
      const a0 = v128.load(x + c), a1 = v128.load(x1 + c), a2 = v128.load(x2 + c), a3 = v128.load(x3 + c);
      let v = v128.load(wp);
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s);
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a0, a0, 0, 0, 0, 0), d0);
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a1, a1, 0, 0, 0, 0), d1);
      d2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a2, a2, 0, 0, 0, 0), d2);
      d3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a3, a3, 0, 0, 0, 0), d3);
      v = v128.load(wp, 16);
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s);
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a0, a0, 1, 1, 1, 1), d0);
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a1, a1, 1, 1, 1, 1), d1);
      d2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a2, a2, 1, 1, 1, 1), d2);
      d3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a3, a3, 1, 1, 1, 1), d3);
      v = v128.load(wp, 32);
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s);
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a0, a0, 2, 2, 2, 2), d0);
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a1, a1, 2, 2, 2, 2), d1);
      d2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a2, a2, 2, 2, 2, 2), d2);
      d3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a3, a3, 2, 2, 2, 2), d3);
      v = v128.load(wp, 48);
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s);
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a0, a0, 3, 3, 3, 3), d0);
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a1, a1, 3, 3, 3, 3), d1);
      d2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a2, a2, 3, 3, 3, 3), d2);
      d3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a3, a3, 3, 3, 3, 3), d3);
    }
    const o = i32x4.shl(s, 7), wsc = weightScales(ws, b);
    f0 = blockSum(d0, o, wsc, b, x + sc, f0); f1 = blockSum(d1, o, wsc, b, x1 + sc, f1);
    f2 = blockSum(d2, o, wsc, b, x2 + sc, f2); f3 = blockSum(d3, o, wsc, b, x3 + sc, f3);
  }
  storeRows(y, f0, bias, r, valid); storeRows(y + yBytes, f1, bias, r, valid);
  storeRows(y + 2 * yBytes, f2, bias, r, valid); storeRows(y + 3 * yBytes, f3, bias, r, valid);
}

/** tile4x4 for two tokens (u8 form): the tile of the two or three tokens a count leaves past fours. */
function tile4x2(w: usize, nb: i32, x: usize, xBytes: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32, valid: i32): void {
  let f0 = f32x4.splat(0), f1 = f0;
  const ones = i8x16.splat(1), ws = w + (cols << 2), sc = cols << 1, x1 = x + xBytes;
  for (let b = 0; b < nb; b++) {
    let d0 = i32x4.splat(0), d1 = d0, e0 = d0, e1 = d0, s = d0, t = d0;
    const c0 = <usize>b << 5;
    // two chains per token (even and odd column quads) hide the dot's latency; splats by shuffles as tile4x4
    for (let j: usize = 0; j < 32; j += 16) {
      const c = c0 + j, wp = w + (c << 2), a0 = v128.load(x + c), a1 = v128.load(x1 + c);
      let v = v128.load(wp), u = v128.load(wp, 16);
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s); t = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, ones, t);
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a0, a0, 0, 0, 0, 0), d0);
      e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.shuffle<i32>(a0, a0, 1, 1, 1, 1), e0);
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a1, a1, 0, 0, 0, 0), d1);
      e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.shuffle<i32>(a1, a1, 1, 1, 1, 1), e1);
      v = v128.load(wp, 32); u = v128.load(wp, 48);
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s); t = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, ones, t);
      d0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a0, a0, 2, 2, 2, 2), d0);
      e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.shuffle<i32>(a0, a0, 3, 3, 3, 3), e0);
      d1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.shuffle<i32>(a1, a1, 2, 2, 2, 2), d1);
      e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(u, v128.shuffle<i32>(a1, a1, 3, 3, 3, 3), e1);
    }
    const o = i32x4.shl(i32x4.add(s, t), 7), wsc = weightScales(ws, b);
    f0 = blockSum(i32x4.add(d0, e0), o, wsc, b, x + sc, f0);
    f1 = blockSum(i32x4.add(d1, e1), o, wsc, b, x1 + sc, f1);
  }
  storeRows(y, f0, bias, r, valid);
  storeRows(y + yBytes, f1, bias, r, valid);
}

/** One row group against one token (u8 form); `valid` of its rows are stored. */
function tile4x1(w: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32, valid: i32): void {
  let f = f32x4.splat(0);
  const ones = i8x16.splat(1), ws = w + (cols << 2), sc = x + (cols << 1);
  for (let b = 0; b < nb; b++) {
    let d = i32x4.splat(0), s = d;
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const v = v128.load(w + ((c0 + j) << 2));
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s);
      d = dot4(v, x + c0 + j, d);
    }
    f = blockSum(d, i32x4.shl(s, 7), weightScales(ws, b), b, sc, f);
  }
  storeRows(y, f, bias, r, valid);
}

/**
 * One row group against one token in the digit form (l at x, h at x + cols): W . u = W . l + 128 W . h,
 * each digit in [0, 127] as the relaxed dot requires everywhere.
 */
function tile4x1Digits(w: usize, nb: i32, x: usize, cols: usize, y: usize, bias: usize, r: i32, valid: i32): void {
  let f = f32x4.splat(0);
  const ones = i8x16.splat(1), ws = w + (cols << 2), sc = x + (cols << 1), xh = x + cols;
  for (let b = 0; b < nb; b++) {
    let d = i32x4.splat(0), e = d, s = d;
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const v = v128.load(w + ((c0 + j) << 2));
      s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ones, s);
      d = dot4(v, x + c0 + j, d);
      e = dot4(v, xh + c0 + j, e);
    }
    // W . l + 128 W . h - 128 sum W = W . (u - 128)
    f = blockSum(d, i32x4.shl(i32x4.sub(s, e), 7), weightScales(ws, b), b, sc, f);
  }
  storeRows(y, f, bias, r, valid);
}

/**
 * y[t*yStride + r] = sum over 32-blocks b of ws[r, b] * xs[t, b] * (W[r, b] . q[t, b]) + bias[r] for
 * t < tokens, r < rows (bias 0: none). w: from pack_i8w_bf16/_f32 (i8w_bytes(rows, cols) bytes); xq: `tokens`
 * rows from quantize_i16_x under the same form. cols % 32 == 0. A lone token takes 16 rows at a time;
 * several tokens go one row group at a time, four tokens, then two, then one sharing each weight load.
 */
export function f32_i8w_matmul(w: usize, bias: usize, rows: i32, cols: i32, xq: usize, tokens: i32, y: usize, yStride: i32): void {
  const nb = cols >> 5, gBytes = <usize>i8w_group_bytes(cols), xBytes = <usize>i16_xq_row_bytes(cols), yBytes = <usize>yStride << 2;
  const c = <usize>cols, groups = (rows + 3) >> 2;
  if (!useU8Dot()) {
    for (let g = 0; g < groups; g++) {
      const r = g << 2, valid = min(4, rows - r), wg = w + <usize>g * gBytes;
      for (let t = 0; t < tokens; t++) tile4x1Digits(wg, nb, xq + <usize>t * xBytes, c, y + <usize>t * yBytes, bias, r, valid);
    }
    return;
  }
  if (tokens == 1) {
    let g = 0;
    for (; (g + 4) << 2 <= rows; g += 4) tile16x1(w + <usize>g * gBytes, gBytes, nb, xq, c, y, bias, g << 2);
    for (; g < groups; g++) tile4x1(w + <usize>g * gBytes, nb, xq, c, y, bias, g << 2, min(4, rows - (g << 2)));
    return;
  }
  for (let g = 0; g < groups; g++) {
    const r = g << 2, valid = min(4, rows - r), wg = w + <usize>g * gBytes;
    let t = 0;
    for (; t + 4 <= tokens; t += 4) tile4x4(wg, nb, xq + <usize>t * xBytes, xBytes, c, y + <usize>t * yBytes, yBytes, bias, r, valid);
    for (; t + 2 <= tokens; t += 2) tile4x2(wg, nb, xq + <usize>t * xBytes, xBytes, c, y + <usize>t * yBytes, yBytes, bias, r, valid);
    if (t < tokens) tile4x1(wg, nb, xq + <usize>t * xBytes, c, y + <usize>t * yBytes, bias, r, valid);
  }
}
