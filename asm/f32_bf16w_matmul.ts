// bf16-weight matmul: y[t*yStride + r] = sum_c W[r, c] x[t, c] + b[r], W bf16 [rows, cols], x, y, b f32.
// Decode (one token) takes 8 rows at a time; prefill takes 4 tokens at a time so each weight is read once.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

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
 * Eight consecutive rows against one permuted token: eight weight streams in flight (decode is bound by
 * memory-level parallelism, not arithmetic). Same summation order as dot1; cols % 8 == 0.
 */
function dot8rows(wr: usize, rowBytes: usize, xt: usize, cols: i32, y: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let b4 = f32x4.splat(0), b5 = f32x4.splat(0), b6 = f32x4.splat(0), b7 = f32x4.splat(0);
  let p = wr, xo = xt;
  const end = xt + (<usize>cols << 2);
  for (; xo < end; xo += 32) {
    const xe = v128.load(xo), xd = v128.load(xo, 16);
    let w = v128.load(p);
    a0 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a0);
    b0 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b0);
    w = v128.load(p + rowBytes);
    a1 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a1);
    b1 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b1);
    w = v128.load(p + 2 * rowBytes);
    a2 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a2);
    b2 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b2);
    w = v128.load(p + 3 * rowBytes);
    a3 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a3);
    b3 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b3);
    w = v128.load(p + 4 * rowBytes);
    a4 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a4);
    b4 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b4);
    w = v128.load(p + 5 * rowBytes);
    a5 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a5);
    b5 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b5);
    w = v128.load(p + 6 * rowBytes);
    a6 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a6);
    b6 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b6);
    w = v128.load(p + 7 * rowBytes);
    a7 = f32x4.relaxed_madd(i32x4.shl(w, 16), xe, a7);
    b7 = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), xd, b7);
    p += 16;
  }
  const o = y + (<usize>r << 2);
  store<f32>(o, hsum(f32x4.add(a0, b0)) + biasAt(bias, r));
  store<f32>(o, hsum(f32x4.add(a1, b1)) + biasAt(bias, r + 1), 4);
  store<f32>(o, hsum(f32x4.add(a2, b2)) + biasAt(bias, r + 2), 8);
  store<f32>(o, hsum(f32x4.add(a3, b3)) + biasAt(bias, r + 3), 12);
  store<f32>(o, hsum(f32x4.add(a4, b4)) + biasAt(bias, r + 4), 16);
  store<f32>(o, hsum(f32x4.add(a5, b5)) + biasAt(bias, r + 5), 20);
  store<f32>(o, hsum(f32x4.add(a6, b6)) + biasAt(bias, r + 6), 24);
  store<f32>(o, hsum(f32x4.add(a7, b7)) + biasAt(bias, r + 7), 28);
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
  // remaining tokens one by one, eight rows at a time
  for (; t < tokens; t++) {
    const xt = xp + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    let r = 0;
    for (; r + 8 <= rows; r += 8) dot8rows(w + <usize>r * rowBytes, rowBytes, xt, cols, yt, bias, r);
    for (; r < rows; r++) store<f32>(yt + (<usize>r << 2), dot1(w + <usize>r * rowBytes, xt, cols) + biasAt(bias, r));
  }
}
