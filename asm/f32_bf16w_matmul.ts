// bf16-weight matmul: y[t*yStride + r] = sum_c W[r, c] x[t, c] + b[r], W bf16 [rows, cols], x, y, b f32.
// Decode (one token) takes 8 rows at a time; prefill takes 2 rows x 4 tokens, so each weight is read once
// per 4 tokens and each activation load feeds two rows; two or three tokens left (a batch of 2-3 decoding
// sequences) take 4 rows x 2 tokens, so the weights stream once per pair, not once per token.
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
 * acc + even(w) * x[0..4) + odd(w) * x[4..8) for 8 bf16 weights w and 8 permuted floats at xo. Every dot
 * in this file is a chain of these over the columns in order, one accumulator per (row, token), so a
 * token's result does not depend on how tokens and rows were tiled.
 */
@inline function step(w: v128, xo: usize, acc: v128): v128 {
  return f32x4.relaxed_madd(v128.and(w, HIGH_HALF), v128.load(xo, 16), f32x4.relaxed_madd(i32x4.shl(w, 16), v128.load(xo), acc));
}

/** One row against one permuted token. */
function dot1(wr: usize, xt: usize, cols: i32): f32 {
  let a = f32x4.splat(0);
  const end = xt + (<usize>cols << 2);
  for (let p = wr, xo = xt; xo < end; xo += 32, p += 16) a = step(v128.load(p), xo, a);
  return hsum(a);
}

/**
 * Eight consecutive rows against one permuted token: eight weight streams in flight (decode is bound by
 * memory-level parallelism, not arithmetic). cols % 8 == 0.
 */
function dot8rows(wr: usize, rowBytes: usize, xt: usize, cols: i32, y: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  const end = xt + (<usize>cols << 2);
  for (let p = wr, xo = xt; xo < end; xo += 32, p += 16) {
    a0 = step(v128.load(p), xo, a0);
    a1 = step(v128.load(p + 1 * rowBytes), xo, a1);
    a2 = step(v128.load(p + 2 * rowBytes), xo, a2);
    a3 = step(v128.load(p + 3 * rowBytes), xo, a3);
    a4 = step(v128.load(p + 4 * rowBytes), xo, a4);
    a5 = step(v128.load(p + 5 * rowBytes), xo, a5);
    a6 = step(v128.load(p + 6 * rowBytes), xo, a6);
    a7 = step(v128.load(p + 7 * rowBytes), xo, a7);
  }
  const o = y + (<usize>r << 2);
  store<f32>(o, hsum(a0) + biasAt(bias, r + 0), 0);
  store<f32>(o, hsum(a1) + biasAt(bias, r + 1), 4);
  store<f32>(o, hsum(a2) + biasAt(bias, r + 2), 8);
  store<f32>(o, hsum(a3) + biasAt(bias, r + 3), 12);
  store<f32>(o, hsum(a4) + biasAt(bias, r + 4), 16);
  store<f32>(o, hsum(a5) + biasAt(bias, r + 5), 20);
  store<f32>(o, hsum(a6) + biasAt(bias, r + 6), 24);
  store<f32>(o, hsum(a7) + biasAt(bias, r + 7), 28);
}

/** Two rows against four permuted tokens (xBytes apart); results go yBytes apart per token. */
function dot2x4(wr: usize, rowBytes: usize, xt: usize, xBytes: usize, cols: i32, y: usize, yBytes: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const end = xt + (<usize>cols << 2), x1 = xBytes, x2 = 2 * xBytes, x3 = 3 * xBytes;
  for (let p = wr, xo = xt; xo < end; xo += 32, p += 16) {
    const w = v128.load(p), v = v128.load(p + rowBytes);
    a0 = step(w, xo, a0);
    b0 = step(v, xo, b0);
    a1 = step(w, xo + x1, a1);
    b1 = step(v, xo + x1, b1);
    a2 = step(w, xo + x2, a2);
    b2 = step(v, xo + x2, b2);
    a3 = step(w, xo + x3, a3);
    b3 = step(v, xo + x3, b3);
  }
  const o = y + (<usize>r << 2), c0 = biasAt(bias, r), c1 = biasAt(bias, r + 1);
  store<f32>(o, hsum(a0) + c0);
  store<f32>(o, hsum(b0) + c1, 4);
  store<f32>(o + yBytes, hsum(a1) + c0);
  store<f32>(o + yBytes, hsum(b1) + c1, 4);
  store<f32>(o + 2 * yBytes, hsum(a2) + c0);
  store<f32>(o + 2 * yBytes, hsum(b2) + c1, 4);
  store<f32>(o + 3 * yBytes, hsum(a3) + c0);
  store<f32>(o + 3 * yBytes, hsum(b3) + c1, 4);
}

/** Four rows against two permuted tokens (xBytes apart); results go yBytes apart per token. */
function dot4x2(wr: usize, rowBytes: usize, xt: usize, xBytes: usize, cols: i32, y: usize, yBytes: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const end = xt + (<usize>cols << 2);
  for (let p = wr, xo = xt; xo < end; xo += 32, p += 16) {
    const w0 = v128.load(p), w1 = v128.load(p + rowBytes), w2 = v128.load(p + 2 * rowBytes), w3 = v128.load(p + 3 * rowBytes);
    a0 = step(w0, xo, a0);
    b0 = step(w0, xo + xBytes, b0);
    a1 = step(w1, xo, a1);
    b1 = step(w1, xo + xBytes, b1);
    a2 = step(w2, xo, a2);
    b2 = step(w2, xo + xBytes, b2);
    a3 = step(w3, xo, a3);
    b3 = step(w3, xo + xBytes, b3);
  }
  const o0 = y + (<usize>r << 2), o1 = o0 + yBytes;
  const c0 = biasAt(bias, r), c1 = biasAt(bias, r + 1), c2 = biasAt(bias, r + 2), c3 = biasAt(bias, r + 3);
  store<f32>(o0, hsum(a0) + c0);
  store<f32>(o0, hsum(a1) + c1, 4);
  store<f32>(o0, hsum(a2) + c2, 8);
  store<f32>(o0, hsum(a3) + c3, 12);
  store<f32>(o1, hsum(b0) + c0);
  store<f32>(o1, hsum(b1) + c1, 4);
  store<f32>(o1, hsum(b2) + c2, 8);
  store<f32>(o1, hsum(b3) + c3, 12);
}

/** One row against four permuted tokens (xBytes apart). */
function dot1x4(wr: usize, xt: usize, xBytes: usize, cols: i32, y: usize, yBytes: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end = xt + (<usize>cols << 2), x1 = xBytes, x2 = 2 * xBytes, x3 = 3 * xBytes;
  for (let p = wr, xo = xt; xo < end; xo += 32, p += 16) {
    const w = v128.load(p);
    a0 = step(w, xo, a0);
    a1 = step(w, xo + x1, a1);
    a2 = step(w, xo + x2, a2);
    a3 = step(w, xo + x3, a3);
  }
  const o = y + (<usize>r << 2), c = biasAt(bias, r);
  store<f32>(o, hsum(a0) + c);
  store<f32>(o + yBytes, hsum(a1) + c);
  store<f32>(o + 2 * yBytes, hsum(a2) + c);
  store<f32>(o + 3 * yBytes, hsum(a3) + c);
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
    let r = 0;
    for (; r + 2 <= rows; r += 2) dot2x4(w + <usize>r * rowBytes, rowBytes, xt, xBytes, cols, yt, yBytes, bias, r);
    if (r < rows) dot1x4(w + <usize>r * rowBytes, xt, xBytes, cols, yt, yBytes, bias, r);
  }
  // two at a time (a pair of decoding sequences): each weight row streams once per pair
  for (; t + 2 <= tokens; t += 2) {
    const xt = xp + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    let r = 0;
    for (; r + 4 <= rows; r += 4) dot4x2(w + <usize>r * rowBytes, rowBytes, xt, xBytes, cols, yt, yBytes, bias, r);
    for (; r < rows; r++) {
      store<f32>(yt + (<usize>r << 2), dot1(w + <usize>r * rowBytes, xt, cols) + biasAt(bias, r));
      store<f32>(yt + yBytes + (<usize>r << 2), dot1(w + <usize>r * rowBytes, xt + xBytes, cols) + biasAt(bias, r));
    }
  }
  // the last token alone, eight rows at a time
  for (; t < tokens; t++) {
    const xt = xp + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    let r = 0;
    for (; r + 8 <= rows; r += 8) dot8rows(w + <usize>r * rowBytes, rowBytes, xt, cols, yt, bias, r);
    for (; r < rows; r++) store<f32>(yt + (<usize>r << 2), dot1(w + <usize>r * rowBytes, xt, cols) + biasAt(bias, r));
  }
}
