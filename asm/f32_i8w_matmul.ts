// int8-weight matmul for the fast path's attention and unembedding: weights are quantized once at load
// (pack_i8w_bf16: per row and 32-column block a bf16 scale, q = round(w / scale) in [-127, 127], as
// llama.cpp's Q8_0 and as many bytes; one scale per row instead changed a demo answer) and stored four
// rows interleaved, four bytes of each row per v128, so one v128 of weights meets one 4-byte activation
// splat.
// Activations are quantized per token and per 32-value block (quantize_i8_x) to 15-bit magnitudes
// |q| <= 16383, kept as two base-128 digits h, l in [0, 127], and sign masks: relaxed_dot_i8x16_i7x16
// needs its second operand in [0, 127] (the i7 range; one vpdpbusd or pmaddubsw on x86), so each weight
// takes the sign of its activation, w*sign(q) in [-127, 127], and meets h and l. (One int8 digit per
// activation instead gave 2.4x the output error on gpt-oss-20b shapes, and 10x the KL divergence.) The dot
// of a block is exact in i32 (128 * dot(h) + dot(l)); blocks are summed in f32, each times its activation
// scale times its weight scale, in order: every (row, token) gets the same result whatever its tile.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)


/**
 * Bytes of one quantized activation row: cols high digits, cols low digits, cols sign masks, cols/32 f32
 * scales, 16-aligned.
 */
export function i8_xq_row_bytes(cols: i32): i32 {
  return (cols * 3 + (cols >> 5) * 4 + 15) & ~15;
}

/**
 * Bytes of one packed group of four rows: cols*4 bytes of weights (v128 j: bytes 4j..4j+3 of rows 0..3),
 * then per 32-column block the four rows' bf16 scales (8 bytes), 16-aligned.
 */
export function i8w_group_bytes(cols: i32): i32 {
  return (cols * 4 + (cols >> 5) * 8 + 15) & ~15;
}

/** Bytes of a packed weight matrix of `rows` rows (padded to a multiple of 4) and `cols` columns. */
export function i8w_bytes(rows: i32, cols: i32): i32 {
  return ((rows + 3) >> 2) * i8w_group_bytes(cols);
}

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into rows of i8_xq_row_bytes(cols) at xq: per
 * 32-value block, scale = maxabs / qMax (0 for an all-zero block), q = round(x * (qMax / maxabs)) formed in
 * f64, ties to even; |q| >> 7 and |q| & 127 go to the digit planes, 0 or -1 (q < 0) to the sign masks.
 * qMax: 16383 (15 bits, the fast path) or 127 (one int8 level, as llama.cpp's Q8_0 activations; for the
 * quality gate's yardstick). cols % 32 == 0.
 */
export function quantize_i8_x(x: usize, xq: usize, rows: i32, cols: i32, qMax: i32): void {
  const nb = cols >> 5, rowBytes = <usize>i8_xq_row_bytes(cols);
  for (let t = 0; t < rows; t++) {
    const xr = x + (<usize>t * <usize>cols << 2), hi = xq + <usize>t * rowBytes, lo = hi + <usize>cols;
    const sgn = lo + <usize>cols, sc = sgn + <usize>cols;
    for (let b = 0; b < nb; b++) {
      const s = xr + (<usize>b << 7);
      let m = f32x4.abs(v128.load(s));
      for (let j = 1; j < 8; j++) m = f32x4.max(m, f32x4.abs(v128.load(s + (<usize>j << 4))));
      const maxAbs = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const inv: f64 = maxAbs > 0 ? <f64>qMax / <f64>maxAbs : 0;
      store<f32>(sc + (<usize>b << 2), maxAbs > 0 ? <f32>(<f64>maxAbs / <f64>qMax) : 0);
      for (let c = 0; c < 32; c++) {
        const q = <i32>nearest<f64>(<f64>load<f32>(s + (<usize>c << 2)) * inv), m = abs(q);
        const at = <usize>(b << 5) + <usize>c;
        store<u8>(hi + at, <u8>(m >> 7));
        store<u8>(lo + at, <u8>(m & 127));
        store<i8>(sgn + at, q < 0 ? -1 : 0);
      }
    }
  }
}

/**
 * Packs bf16 rows [rows, cols] at src into groups of four rows at dst (i8w_group_bytes each): per row and
 * 32-column block, scale = maxabs / 127 rounded up to a bf16 (0 for an all-zero block), q = round(w / scale)
 * in f64, ties to even, so |q| <= 127. The last group is padded with zero rows. cols % 32 == 0.
 */
export function pack_i8w_bf16(src: usize, rows: i32, cols: i32, dst: usize): void {
  const padded = (rows + 3) & ~3, nb = cols >> 5, gBytes = <usize>i8w_group_bytes(cols);
  for (let r = 0; r < padded; r++) {
    const row = src + (<usize>r * <usize>cols << 1), group = dst + <usize>(r >> 2) * gBytes, lane = <usize>(r & 3);
    for (let b = 0; b < nb; b++) {
      let maxAbs: f32 = 0;
      if (r < rows) {
        for (let c = b << 5; c < (b + 1) << 5; c++) maxAbs = max(maxAbs, abs(reinterpret<f32>(<u32>load<u16>(row + (<usize>c << 1)) << 16)));
      }
      // the scale's f32 bits rounded up to the next bf16: never below maxabs / 127
      let bits = reinterpret<u32>(maxAbs / 127);
      if (bits & 0xffff) bits = (bits + 0x10000) & 0xffff0000;
      const scale = <f64>reinterpret<f32>(bits);
      store<u16>(group + (<usize>cols << 2) + (<usize>b << 3) + (lane << 1), <u16>(bits >> 16));
      for (let c = b << 5; c < (b + 1) << 5; c++) {
        const v: f64 = r < rows ? <f64>reinterpret<f32>(<u32>load<u16>(row + (<usize>c << 1)) << 16) : 0;
        store<i8>(group + (<usize>(c >> 2) << 4) + (lane << 2) + <usize>(c & 3), <i8>(scale > 0 ? nearest<f64>(v / scale) : 0));
      }
    }
  }
}

/** The weights w (four rows, four columns) with each column's sign mask s applied: w*sign(q). */
@inline function signed(w: v128, s: v128): v128 {
  return i8x16.sub(v128.xor(w, s), s);
}

/** y[r..r+4) = f + bias[r..] (bias 0: none); rows at or past `valid` (padding) are not stored. */
@inline function storeRows(y: usize, f: v128, bias: usize, r: i32, valid: i32): void {
  const o = <usize>r << 2;
  // a bias is allocated in whole v128s (rows rounded up to 4): the load stays inside it
  const v = bias ? f32x4.add(f, v128.load(bias + o)) : f;
  if (valid >= 4) { v128.store(y + o, v); return; }
  store<f32>(y + o, f32x4.extract_lane(v, 0));
  if (valid > 1) store<f32>(y + o, f32x4.extract_lane(v, 1), 4);
  if (valid > 2) store<f32>(y + o, f32x4.extract_lane(v, 2), 8);
}

/** The exact i32 dot of a block from its digit dots: 128 * dot(h) + dot(l); |each| < 2^26. */
@inline function digits(dh: v128, dl: v128): v128 {
  return i32x4.add(i32x4.shl(dh, 7), dl);
}

/** The four rows' bf16 scales of block b of a group (its scales at ws) as f32, times the activation scale. */
@inline function blockScale(ws: usize, b: i32, xs: v128): v128 {
  return f32x4.mul(i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(ws + (<usize>b << 3))), 16), xs);
}

/**
 * Four row groups (16 rows from group pointer w, gBytes apart) against one token (digit planes hi, lo =
 * hi + cols, signs, scales): the decode tile, eight independent i32 chains per block.
 */
function tile16x1(w: usize, gBytes: usize, nb: i32, hi: usize, cols: usize, y: usize, bias: usize, r: i32): void {
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  const lo = hi + cols, sgn = lo + cols, sc = sgn + cols, ws = w + (cols << 2);
  for (let b = 0; b < nb; b++) {
    let h0 = i32x4.splat(0), h1 = i32x4.splat(0), h2 = i32x4.splat(0), h3 = i32x4.splat(0);
    let l0 = i32x4.splat(0), l1 = i32x4.splat(0), l2 = i32x4.splat(0), l3 = i32x4.splat(0);
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const c = c0 + j, s = v128.load32_splat(sgn + c), ah = v128.load32_splat(hi + c), al = v128.load32_splat(lo + c);
      const o = w + (c << 2);
      let v = signed(v128.load(o), s);
      h0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ah, h0);
      l0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, al, l0);
      v = signed(v128.load(o + gBytes), s);
      h1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ah, h1);
      l1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, al, l1);
      v = signed(v128.load(o + 2 * gBytes), s);
      h2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ah, h2);
      l2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, al, l2);
      v = signed(v128.load(o + 3 * gBytes), s);
      h3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, ah, h3);
      l3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, al, l3);
    }
    const xs = v128.load32_splat(sc + (<usize>b << 2));
    f0 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h0, l0)), blockScale(ws, b, xs), f0);
    f1 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h1, l1)), blockScale(ws + gBytes, b, xs), f1);
    f2 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h2, l2)), blockScale(ws + 2 * gBytes, b, xs), f2);
    f3 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h3, l3)), blockScale(ws + 3 * gBytes, b, xs), f3);
  }
  storeRows(y, f0, bias, r, 4);
  storeRows(y, f1, bias, r + 4, 4);
  storeRows(y, f2, bias, r + 8, 4);
  storeRows(y, f3, bias, r + 12, 4);
}

/** One row group against one token; `valid` of its rows are stored. */
function tile4x1(w: usize, nb: i32, hi: usize, cols: usize, y: usize, bias: usize, r: i32, valid: i32): void {
  let f = f32x4.splat(0);
  const lo = hi + cols, sgn = lo + cols, sc = sgn + cols, ws = w + (cols << 2);
  for (let b = 0; b < nb; b++) {
    let h = i32x4.splat(0), l = i32x4.splat(0);
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const c = c0 + j, v = signed(v128.load(w + (c << 2)), v128.load32_splat(sgn + c));
      h = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(hi + c), h);
      l = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(lo + c), l);
    }
    f = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h, l)), blockScale(ws, b, v128.load32_splat(sc + (<usize>b << 2))), f);
  }
  storeRows(y, f, bias, r, valid);
}

/**
 * One row group against four tokens (their xq rows xBytes apart, outputs yBytes apart): each v128 of
 * weights is loaded once for the four, the prefill tile.
 */
function tile4x4(w: usize, nb: i32, hi: usize, xBytes: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32, valid: i32): void {
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  const ws = w + (cols << 2);
  const x1 = hi + xBytes, x2 = hi + 2 * xBytes, x3 = hi + 3 * xBytes, lo = cols, sg = 2 * cols;
  for (let b = 0; b < nb; b++) {
    let h0 = i32x4.splat(0), h1 = i32x4.splat(0), h2 = i32x4.splat(0), h3 = i32x4.splat(0);
    let l0 = i32x4.splat(0), l1 = i32x4.splat(0), l2 = i32x4.splat(0), l3 = i32x4.splat(0);
    const c0 = <usize>b << 5;
    for (let j: usize = 0; j < 32; j += 4) {
      const c = c0 + j, wv = v128.load(w + (c << 2));
      let v = signed(wv, v128.load32_splat(hi + sg + c));
      h0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(hi + c), h0);
      l0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(hi + lo + c), l0);
      v = signed(wv, v128.load32_splat(x1 + sg + c));
      h1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x1 + c), h1);
      l1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x1 + lo + c), l1);
      v = signed(wv, v128.load32_splat(x2 + sg + c));
      h2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x2 + c), h2);
      l2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x2 + lo + c), l2);
      v = signed(wv, v128.load32_splat(x3 + sg + c));
      h3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x3 + c), h3);
      l3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v, v128.load32_splat(x3 + lo + c), l3);
    }
    const s = 3 * cols + (<usize>b << 2);
    f0 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h0, l0)), blockScale(ws, b, v128.load32_splat(hi + s)), f0);
    f1 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h1, l1)), blockScale(ws, b, v128.load32_splat(x1 + s)), f1);
    f2 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h2, l2)), blockScale(ws, b, v128.load32_splat(x2 + s)), f2);
    f3 = f32x4.relaxed_madd(f32x4.convert_i32x4_s(digits(h3, l3)), blockScale(ws, b, v128.load32_splat(x3 + s)), f3);
  }
  storeRows(y, f0, bias, r, valid);
  storeRows(y + yBytes, f1, bias, r, valid);
  storeRows(y + 2 * yBytes, f2, bias, r, valid);
  storeRows(y + 3 * yBytes, f3, bias, r, valid);
}

/**
 * y[t*yStride + r] = sum over 32-blocks b of ws[r, b] * xs[t, b] * (W[r, b] . q[t, b]) + bias[r] for
 * t < tokens, r < rows (bias 0: none). w: from pack_i8w_bf16 (i8w_bytes(rows, cols) bytes); xq: `tokens`
 * rows from quantize_i8_x. cols % 32 == 0. A lone token takes 16 rows at a time, several tokens one row
 * group by four tokens.
 */
export function f32_i8w_matmul(w: usize, bias: usize, rows: i32, cols: i32, xq: usize, tokens: i32, y: usize, yStride: i32): void {
  const nb = cols >> 5, gBytes = <usize>i8w_group_bytes(cols), xBytes = <usize>i8_xq_row_bytes(cols), yBytes = <usize>yStride << 2;
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
