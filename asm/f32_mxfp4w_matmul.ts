// MXFP4-weight matmul with integer block dots: a 16-entry i8x16.swizzle table turns each e2m1 code into
// 2*value + 12, an integer in [0, 24] (the i7 operand of relaxed_dot_i8x16_i7x16, one pmaddubsw on x86).
// Activations are quantized once per matmul (quantize_mxfp4_x), per 32-column block, to q = round(x /
// scale) with scale = maxabs / (2^22 - 1), stored as three signed base-256 digits (q = d2*65536 + d1*256 +
// d0, each an i8). A block is three pairs of 8-bit dots summed exactly in i32, minus the +12 offset
// (12 * the sum of q, precomputed per lane), then scaled by scale/2 * 2^(e-127) in f32; f32 accumulation
// across blocks. The error is f32-like (2^-22 of the block's largest |x| per activation); one int16 level
// (2^-16) is too coarse for the clamped SwiGLU outputs, whose blocks carry outliers (1.3e-3 logits error
// on gpt-oss-tiny against 1e-5). This is the exact path's kernel; the fast path's int8 activations use
// f32_mxfp4w_matmul_q8.ts on a four-row packing of the same weights.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * Constant vectors, read from static data: V8 rebuilds a v128.const from immediates at every use inside a
 * loop, which costs more than a load. At +0: 2 x e2m1 value + 12 for each code (bit 3 sign, bits 0-2 index
 * [0, .5, 1, 1.5, 2, 3, 4, 6]), looked up with nibbles 0..15 so relaxed_swizzle (one pshufb) is exact. At
 * +16: the low-nibble mask. At +32: the low-byte mask of i32 lanes. At +48: i16 ones. At +64: i16 256s.
 */
const CONSTS: usize = memory.data<u8>([
  12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0,
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
  0xff, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0,
  1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
  0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
], 16);

/** Largest |q|: 2^22 - 1, so d2 stays within [-64, 64] and every i16 and i32 sum below is exact. */
const Q_MAX: f64 = 4194303;

/**
 * A quantized block is d2, d1, d0 (32 i8 each: the 16 even columns, then the 16 odd ones), scale/2 in 4 f32
 * lanes, then 12 * (sum of q over columns 8l..8l+7) in i32 lane l: 128 bytes.
 */
const XQ_BLOCK: i32 = 128;

/** Bytes of one quantized row of `cols` activations (cols/32 blocks of 128 bytes). */
export function mxfp4_xq_row_bytes(cols: i32): i32 {
  return (cols >> 5) * XQ_BLOCK;
}

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into xq rows of mxfp4_xq_row_bytes(cols): per
 * block of 32, scale = maxabs / Q_MAX (0 and all-zero digits for an all-zero block), q = round(x / scale)
 * formed in f64 (so |x - q * scale| <= scale/2 + f32 rounding of the scale), split into digits. Column c of
 * the block sits at byte (c & 1) * 16 + (c >> 1) of each digit plane: a code byte's low nibble is the even
 * column, its high nibble the odd one. cols % 32 == 0.
 */
export function quantize_mxfp4_x(x: usize, xq: usize, rows: i32, cols: i32): void {
  const nb = cols >> 5, qMax = Q_MAX, blockBytes = <usize>XQ_BLOCK;
  for (let t = 0; t < rows; t++) {
    const xr = x + (<usize>t * <usize>cols << 2), qr = xq + <usize>t * <usize>nb * blockBytes;
    for (let g = 0; g < nb; g++) {
      const s = xr + (<usize>g << 7), d = qr + <usize>g * blockBytes;
      let m = f32x4.abs(v128.load(s));
      for (let j = 1; j < 8; j++) m = f32x4.max(m, f32x4.abs(v128.load(s + (<usize>j << 4))));
      const maxAbs = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const inv: f64 = maxAbs > 0 ? qMax / <f64>maxAbs : 0;
      v128.store(d + blockBytes - 32, f32x4.splat(maxAbs > 0 ? <f32>(<f64>maxAbs / qMax * 0.5) : 0));
      for (let lane = 0; lane < 4; lane++) {
        let sum = 0;
        for (let c = lane << 3; c < (lane + 1) << 3; c++) {
          const q = <i32>nearest<f64>(<f64>load<f32>(s + (<usize>c << 2)) * inv);
          sum += q;
          const at = d + <usize>((c & 1) << 4) + <usize>(c >> 1);
          const d0 = ((q + 128) & 255) - 128, q1 = (q - d0) >> 8;
          const d1 = ((q1 + 128) & 255) - 128, d2 = (q1 - d1) >> 8;
          store<i8>(at, <i8>d2);
          store<i8>(at, <i8>d1, 32);
          store<i8>(at, <i8>d0, 64);
        }
        store<i32>(d + blockBytes - 16 + (<usize>lane << 2), sum * 12);
      }
    }
  }
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** 2 x value + 12 of the even columns (low nibbles) of a block's 16 code bytes. */
@inline function evenCodes(bv: v128): v128 {
  return i8x16.relaxed_swizzle(v128.load(CONSTS), v128.and(bv, v128.load(CONSTS, 16)));
}

/** 2 x value + 12 of the odd columns (high nibbles). */
@inline function oddCodes(bv: v128): v128 {
  return i8x16.relaxed_swizzle(v128.load(CONSTS), v128.and(i16x8.shr_u(bv, 4), v128.load(CONSTS, 16)));
}

/** 2^(e-127) in 4 f32 lanes from the e8m0 byte at sc (e = 0 gives 0 instead of 2^-127). */
@inline function blockScale(sc: usize): v128 {
  return i32x4.shl(v128.and(v128.load32_splat(sc), v128.load(CONSTS, 32)), 23);
}

/** i16 lane j: digit plane at p (even, odd halves) against the codes, columns 4j..4j+3; |lane| <= 12288. */
@inline function digitDot(p: usize, ev: v128, od: v128): v128 {
  return i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(p), ev), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(p, 16), od));
}

/**
 * One block (ev, od: offset codes; ws: its 2^(e-127)) against the quantized block at q, added to acc:
 * acc + (q . w) * scale/2 * ws, as 4 f32 partial sums. i32 lane l is the exact dot over columns 8l..8l+7
 * (|q . (2w+12)| <= 8 * 24 * 2^22 < 2^31 before the offset is taken off).
 */
@inline function blockDot(ev: v128, od: v128, ws: v128, q: usize, acc: v128): v128 {
  const ones = v128.load(CONSTS, 48);
  const hi = i32x4.shl(i32x4.dot_i16x8_s(digitDot(q, ev, od), ones), 16);
  const mid = i32x4.dot_i16x8_s(digitDot(q + 32, ev, od), v128.load(CONSTS, 64));
  const lo = i32x4.dot_i16x8_s(digitDot(q + 64, ev, od), ones);
  const dot = i32x4.sub(i32x4.add(hi, i32x4.add(mid, lo)), v128.load(q, 112));
  return f32x4.relaxed_madd(f32x4.convert_i32x4_s(dot), f32x4.mul(v128.load(q, XQ_BLOCK - 32), ws), acc);
}

@inline function yAt(y: usize, yRows: usize, i: i32, yBytes: usize, r: i32): usize {
  return y + <usize>load<i32>(yRows + (<usize>i << 2)) * yBytes + (<usize>r << 2);
}

@inline function biasAt(bias: usize, r: i32): f32 {
  return bias ? load<f32>(bias + (<usize>r << 2)) : 0;
}

@inline function xAt(xq: usize, xRows: usize, i: i32, xBytes: usize): usize {
  return xq + <usize>load<i32>(xRows + (<usize>i << 2)) * xBytes;
}

/** Tokens [i, n) of one row r (blocks at br, scales at sr): four, then two, then one at a time. */
function rowTokens(
  br: usize, sr: usize, b: f32, nb: i32, xq: usize, xRows: usize, xBytes: usize, i: i32, n: i32,
  y: usize, yRows: usize, yBytes: usize, r: i32,
): void {
  for (; i + 4 <= n; i += 4) {
    const x0 = xAt(xq, xRows, i, xBytes), x1 = xAt(xq, xRows, i + 1, xBytes);
    const x2 = xAt(xq, xRows, i + 2, xBytes), x3 = xAt(xq, xRows, i + 3, xBytes);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let g = 0; g < nb; g++) {
      const bv = v128.load(br + (<usize>g << 4));
      const ev = evenCodes(bv), od = oddCodes(bv), ws = blockScale(sr + g), off = <usize>g * <usize>XQ_BLOCK;
      a0 = blockDot(ev, od, ws, x0 + off, a0);
      a1 = blockDot(ev, od, ws, x1 + off, a1);
      a2 = blockDot(ev, od, ws, x2 + off, a2);
      a3 = blockDot(ev, od, ws, x3 + off, a3);
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
      const bv = v128.load(br + (<usize>g << 4));
      const ev = evenCodes(bv), od = oddCodes(bv), ws = blockScale(sr + g), off = <usize>g * <usize>XQ_BLOCK;
      a0 = blockDot(ev, od, ws, x0 + off, a0);
      a1 = blockDot(ev, od, ws, x1 + off, a1);
    }
    store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
    store<f32>(yAt(y, yRows, i + 1, yBytes, r), hsum(a1) + b);
  }
  if (i < n) {
    const x0 = xAt(xq, xRows, i, xBytes);
    let a0 = f32x4.splat(0);
    for (let g = 0; g < nb; g++) {
      const bv = v128.load(br + (<usize>g << 4));
      a0 = blockDot(evenCodes(bv), oddCodes(bv), blockScale(sr + g), x0 + <usize>g * <usize>XQ_BLOCK, a0);
    }
    store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b);
  }
}

/**
 * Rows r and r+1 against tokens in fours: each activation block is read once for both rows (four tokens'
 * blocks are 512 bytes, and a row's sweep over all of them outgrows L1). Returns the first token left.
 */
function rowPairTokens4(
  br: usize, sr: usize, bias: usize, nb: i32, xq: usize, xRows: usize, xBytes: usize, n: i32,
  y: usize, yRows: usize, yBytes: usize, r: i32,
): i32 {
  const rowBytes = <usize>nb << 4, b0 = biasAt(bias, r), b1 = biasAt(bias, r + 1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x0 = xAt(xq, xRows, i, xBytes), x1 = xAt(xq, xRows, i + 1, xBytes);
    const x2 = xAt(xq, xRows, i + 2, xBytes), x3 = xAt(xq, xRows, i + 3, xBytes);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
    for (let g = 0; g < nb; g++) {
      const p = br + (<usize>g << 4), off = <usize>g * <usize>XQ_BLOCK;
      const bv = v128.load(p), bw = v128.load(p + rowBytes);
      const ev = evenCodes(bv), od = oddCodes(bv), ws = blockScale(sr + g);
      const ew = evenCodes(bw), ow = oddCodes(bw), wt = blockScale(sr + nb + g);
      a0 = blockDot(ev, od, ws, x0 + off, a0);
      c0 = blockDot(ew, ow, wt, x0 + off, c0);
      a1 = blockDot(ev, od, ws, x1 + off, a1);
      c1 = blockDot(ew, ow, wt, x1 + off, c1);
      a2 = blockDot(ev, od, ws, x2 + off, a2);
      c2 = blockDot(ew, ow, wt, x2 + off, c2);
      a3 = blockDot(ev, od, ws, x3 + off, a3);
      c3 = blockDot(ew, ow, wt, x3 + off, c3);
    }
    store<f32>(yAt(y, yRows, i, yBytes, r), hsum(a0) + b0);
    store<f32>(yAt(y, yRows, i + 1, yBytes, r), hsum(a1) + b0);
    store<f32>(yAt(y, yRows, i + 2, yBytes, r), hsum(a2) + b0);
    store<f32>(yAt(y, yRows, i + 3, yBytes, r), hsum(a3) + b0);
    store<f32>(yAt(y, yRows, i, yBytes, r + 1), hsum(c0) + b1);
    store<f32>(yAt(y, yRows, i + 1, yBytes, r + 1), hsum(c1) + b1);
    store<f32>(yAt(y, yRows, i + 2, yBytes, r + 1), hsum(c2) + b1);
    store<f32>(yAt(y, yRows, i + 3, yBytes, r + 1), hsum(c3) + b1);
  }
  return i;
}

/** A lone token (decode) against rows r..r+3: four independent chains share each activation block. */
function fourRows1(br: usize, sr: usize, bias: usize, nb: i32, x0: usize, y: usize, r: i32): void {
  const rowBytes = <usize>nb << 4;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let g = 0; g < nb; g++) {
    const p = br + (<usize>g << 4), sc = sr + g, q = x0 + <usize>g * <usize>XQ_BLOCK;
    const v0 = v128.load(p), v1 = v128.load(p + rowBytes), v2 = v128.load(p + 2 * rowBytes), v3 = v128.load(p + 3 * rowBytes);
    a0 = blockDot(evenCodes(v0), oddCodes(v0), blockScale(sc), q, a0);
    a1 = blockDot(evenCodes(v1), oddCodes(v1), blockScale(sc + nb), q, a1);
    a2 = blockDot(evenCodes(v2), oddCodes(v2), blockScale(sc + 2 * nb), q, a2);
    a3 = blockDot(evenCodes(v3), oddCodes(v3), blockScale(sc + 3 * nb), q, a3);
  }
  // y is the token's output row (yAt with r = 0)
  store<f32>(y + (<usize>r << 2), hsum(a0) + biasAt(bias, r));
  store<f32>(y + (<usize>(r + 1) << 2), hsum(a1) + biasAt(bias, r + 1));
  store<f32>(y + (<usize>(r + 2) << 2), hsum(a2) + biasAt(bias, r + 2));
  store<f32>(y + (<usize>(r + 3) << 2), hsum(a3) + biasAt(bias, r + 3));
}

/**
 * For i < n and r < rows: y[yRows[i]*yStride + r] = W[r] . xq[xRows[i]] + bias[r] (bias 0: none).
 * W: blocks [rows, cols/32, 16] u8 and scales [rows, cols/32] u8; xq rows from quantize_mxfp4_x (stride
 * mxfp4_xq_row_bytes(cols)); xRows, yRows: i32 lists. cols % 32 == 0. A lone token (decode) takes four
 * rows at a time; several tokens go two rows by four tokens, then four, two and one tokens of a row, each
 * decoded block shared by its tile. Every (row, token) sums its blocks in the same order, in one f32x4
 * chain, whatever its tile. Reads up to 3 bytes past the last scale (a 4-byte splat load).
 */
export function f32_mxfp4w_matmul(
  blocks: usize, scales: usize, bias: usize, rows: i32, cols: i32,
  xq: usize, xRows: usize, n: i32, y: usize, yRows: usize, yStride: i32,
): void {
  const nb = cols >> 5, xBytes = <usize>nb * <usize>XQ_BLOCK, yBytes = <usize>yStride << 2;
  const rowBytes = <usize>nb << 4;
  let r = 0;
  if (n == 1) {
    const x0 = xAt(xq, xRows, 0, xBytes), y0 = yAt(y, yRows, 0, yBytes, 0);
    for (; r + 4 <= rows; r += 4) fourRows1(blocks + <usize>r * rowBytes, scales + <usize>r * <usize>nb, bias, nb, x0, y0, r);
  } else if (n >= 4) {
    for (; r + 2 <= rows; r += 2) {
      const br = blocks + <usize>r * rowBytes, sr = scales + <usize>r * <usize>nb;
      const i = rowPairTokens4(br, sr, bias, nb, xq, xRows, xBytes, n, y, yRows, yBytes, r);
      rowTokens(br, sr, biasAt(bias, r), nb, xq, xRows, xBytes, i, n, y, yRows, yBytes, r);
      rowTokens(br + rowBytes, sr + nb, biasAt(bias, r + 1), nb, xq, xRows, xBytes, i, n, y, yRows, yBytes, r + 1);
    }
  }
  for (; r < rows; r++) {
    rowTokens(blocks + <usize>r * rowBytes, scales + <usize>r * <usize>nb, biasAt(bias, r), nb, xq, xRows, xBytes, 0, n, y, yRows, yBytes, r);
  }
}
