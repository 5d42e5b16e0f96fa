// bf16-weight matmul: y[t*yStride + r] = sum_c W[r, c] x[t, c] + b[r], W bf16 [rows, cols], x, y, b f32.
// Decode (one token) takes 4 rows at a time; prefill takes 4 tokens at a time so each weight is read once.

/** Mask keeping the high bf16 of each 32-bit lane, already in f32 position. */
const HIGH_HALF: v128 = i32x4(0xffff0000, 0xffff0000, 0xffff0000, 0xffff0000);

/**
 * Reorders `n` floats of x into xp so that every 8 read [0,2,4,6,1,3,5,7]: a v128 of 8 bf16 splits into
 * its even lanes (shift left 16) and odd lanes (mask) with no widening. n % 8 == 0.
 */
export function permute_bf16_x(x: usize, xp: usize, n: i32): void {
  for (let i = 0; i < n; i += 8) {
    const p = <usize>i << 2;
    const a = v128.load(x + p), b = v128.load(x + p, 16);
    v128.store(xp + p, v128.shuffle<i32>(a, b, 0, 2, 4, 6));
    v128.store(xp + p, v128.shuffle<i32>(a, b, 1, 3, 5, 7), 16);
  }
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline function biasAt(bias: usize, r: i32): f32 {
  return bias ? load<f32>(bias + (<usize>r << 2)) : 0;
}

/**
 * One row against one permuted token. Every dot in this file sums in the same order (even lanes into a,
 * odd lanes into b, 16 columns per step, then an 8-column tail), so results do not depend on how
 * tokens are batched.
 */
function dot1(wr: usize, xt: usize, cols: i32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let p = wr, xo = xt;
  const end16 = xt + (<usize>(cols & ~15) << 2), end = xt + (<usize>cols << 2);
  for (; xo < end16; xo += 64) {
    const w = v128.load(p), v = v128.load(p, 16);
    a = f32x4.relaxed_madd(i32x4.shl(w, 16), v128.load(xo), a);
    b = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), v128.load(xo, 16), b);
    a = f32x4.relaxed_madd(i32x4.shl(v, 16), v128.load(xo, 32), a);
    b = f32x4.relaxed_madd(v128.and(v, HIGH_HALF), v128.load(xo, 48), b);
    p += 32;
  }
  if (xo < end) {
    const w = v128.load(p);
    a = f32x4.relaxed_madd(i32x4.shl(w, 16), v128.load(xo), a);
    b = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), v128.load(xo, 16), b);
  }
  return hsum(f32x4.add(a, b));
}

/**
 * Four consecutive rows against one permuted token: x is read once for four rows. Pointers advance by
 * 16 columns per iteration (two v128 per row) with an 8-column tail; cols % 8 == 0.
 */
function dot4rows(wr: usize, rowBytes: usize, xt: usize, cols: i32, y: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let p0 = wr, p1 = wr + rowBytes, p2 = wr + 2 * rowBytes, p3 = wr + 3 * rowBytes, xo = xt;
  const end16 = xt + (<usize>(cols & ~15) << 2), end = xt + (<usize>cols << 2);
  for (; xo < end16; xo += 64) {
    const xe = v128.load(xo), xd = v128.load(xo, 16), ye = v128.load(xo, 32), yd = v128.load(xo, 48);
    const w0 = v128.load(p0), w1 = v128.load(p1), w2 = v128.load(p2), w3 = v128.load(p3);
    const v0 = v128.load(p0, 16), v1 = v128.load(p1, 16), v2 = v128.load(p2, 16), v3 = v128.load(p3, 16);
    a0 = f32x4.relaxed_madd(i32x4.shl(w0, 16), xe, a0);
    a1 = f32x4.relaxed_madd(i32x4.shl(w1, 16), xe, a1);
    a2 = f32x4.relaxed_madd(i32x4.shl(w2, 16), xe, a2);
    a3 = f32x4.relaxed_madd(i32x4.shl(w3, 16), xe, a3);
    b0 = f32x4.relaxed_madd(v128.and(w0, HIGH_HALF), xd, b0);
    b1 = f32x4.relaxed_madd(v128.and(w1, HIGH_HALF), xd, b1);
    b2 = f32x4.relaxed_madd(v128.and(w2, HIGH_HALF), xd, b2);
    b3 = f32x4.relaxed_madd(v128.and(w3, HIGH_HALF), xd, b3);
    a0 = f32x4.relaxed_madd(i32x4.shl(v0, 16), ye, a0);
    a1 = f32x4.relaxed_madd(i32x4.shl(v1, 16), ye, a1);
    a2 = f32x4.relaxed_madd(i32x4.shl(v2, 16), ye, a2);
    a3 = f32x4.relaxed_madd(i32x4.shl(v3, 16), ye, a3);
    b0 = f32x4.relaxed_madd(v128.and(v0, HIGH_HALF), yd, b0);
    b1 = f32x4.relaxed_madd(v128.and(v1, HIGH_HALF), yd, b1);
    b2 = f32x4.relaxed_madd(v128.and(v2, HIGH_HALF), yd, b2);
    b3 = f32x4.relaxed_madd(v128.and(v3, HIGH_HALF), yd, b3);
    p0 += 32;
    p1 += 32;
    p2 += 32;
    p3 += 32;
  }
  if (xo < end) {
    const xe = v128.load(xo), xd = v128.load(xo, 16);
    const w0 = v128.load(p0), w1 = v128.load(p1), w2 = v128.load(p2), w3 = v128.load(p3);
    a0 = f32x4.relaxed_madd(i32x4.shl(w0, 16), xe, a0);
    a1 = f32x4.relaxed_madd(i32x4.shl(w1, 16), xe, a1);
    a2 = f32x4.relaxed_madd(i32x4.shl(w2, 16), xe, a2);
    a3 = f32x4.relaxed_madd(i32x4.shl(w3, 16), xe, a3);
    b0 = f32x4.relaxed_madd(v128.and(w0, HIGH_HALF), xd, b0);
    b1 = f32x4.relaxed_madd(v128.and(w1, HIGH_HALF), xd, b1);
    b2 = f32x4.relaxed_madd(v128.and(w2, HIGH_HALF), xd, b2);
    b3 = f32x4.relaxed_madd(v128.and(w3, HIGH_HALF), xd, b3);
  }
  const o = y + (<usize>r << 2);
  store<f32>(o, hsum(f32x4.add(a0, b0)) + biasAt(bias, r));
  store<f32>(o, hsum(f32x4.add(a1, b1)) + biasAt(bias, r + 1), 4);
  store<f32>(o, hsum(f32x4.add(a2, b2)) + biasAt(bias, r + 2), 8);
  store<f32>(o, hsum(f32x4.add(a3, b3)) + biasAt(bias, r + 3), 12);
}

/** One row against four permuted tokens (rows xBytes apart): the weight row is read once. */
function dot4tok(wr: usize, xt: usize, xBytes: usize, cols: i32, y: usize, yBytes: usize, bias: f32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let p = wr, x0 = xt;
  const x1 = xBytes, x2 = 2 * xBytes, x3 = 3 * xBytes;
  const end = xt + (<usize>cols << 2);
  // 8 columns per step; the order per token matches dot1 (even lanes into a, odd into b)
  for (; x0 < end; x0 += 32) {
    const w = v128.load(p);
    const we = i32x4.shl(w, 16), wo = v128.and(w, HIGH_HALF);
    a0 = f32x4.relaxed_madd(we, v128.load(x0), a0);
    b0 = f32x4.relaxed_madd(wo, v128.load(x0, 16), b0);
    a1 = f32x4.relaxed_madd(we, v128.load(x0 + x1), a1);
    b1 = f32x4.relaxed_madd(wo, v128.load(x0 + x1, 16), b1);
    a2 = f32x4.relaxed_madd(we, v128.load(x0 + x2), a2);
    b2 = f32x4.relaxed_madd(wo, v128.load(x0 + x2, 16), b2);
    a3 = f32x4.relaxed_madd(we, v128.load(x0 + x3), a3);
    b3 = f32x4.relaxed_madd(wo, v128.load(x0 + x3, 16), b3);
    p += 16;
  }
  store<f32>(y, hsum(f32x4.add(a0, b0)) + bias);
  store<f32>(y + yBytes, hsum(f32x4.add(a1, b1)) + bias);
  store<f32>(y + 2 * yBytes, hsum(f32x4.add(a2, b2)) + bias);
  store<f32>(y + 3 * yBytes, hsum(f32x4.add(a3, b3)) + bias);
}

/**
 * y[t*yStride + r] = W[r] . x[t] + bias[r] for t < tokens, r < rows; bias 0 means none.
 * xp: tokens rows of `cols` floats in permute_bf16_x order. cols % 8 == 0; rows and tokens any.
 */
export function f32_bf16w_matmul(w: usize, bias: usize, rows: i32, cols: i32, xp: usize, tokens: i32, y: usize, yStride: i32): void {
  const rowBytes = <usize>cols << 1, xBytes = <usize>cols << 2, yBytes = <usize>yStride << 2;
  let t = 0;
  // four tokens at a time: each weight row streams once per four tokens
  for (; t + 4 <= tokens; t += 4) {
    const xt = xp + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    for (let r = 0; r < rows; r++) {
      dot4tok(w + <usize>r * rowBytes, xt, xBytes, cols, yt + (<usize>r << 2), yBytes, biasAt(bias, r));
    }
  }
  // remaining tokens one by one, four rows at a time
  for (; t < tokens; t++) {
    const xt = xp + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    let r = 0;
    for (; r + 4 <= rows; r += 4) dot4rows(w + <usize>r * rowBytes, rowBytes, xt, cols, yt, bias, r);
    for (; r < rows; r++) store<f32>(yt + (<usize>r << 2), dot1(w + <usize>r * rowBytes, xt, cols) + biasAt(bias, r));
  }
}
