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

/** One row against one permuted token. */
function dot1(wr: usize, xt: usize, cols: i32): f32 {
  let ae = f32x4.splat(0), ao = f32x4.splat(0);
  for (let c = 0; c < cols; c += 8) {
    const w = v128.load(wr + (<usize>c << 1));
    const xo = xt + (<usize>c << 2);
    ae = f32x4.relaxed_madd(i32x4.shl(w, 16), v128.load(xo), ae);
    ao = f32x4.relaxed_madd(v128.and(w, HIGH_HALF), v128.load(xo, 16), ao);
  }
  return hsum(f32x4.add(ae, ao));
}

/** Four consecutive rows against one permuted token: x is read once for four rows. */
function dot4rows(wr: usize, rowBytes: usize, xt: usize, cols: i32, y: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let c = 0; c < cols; c += 8) {
    const xo = xt + (<usize>c << 2);
    const xe = v128.load(xo), xd = v128.load(xo, 16);
    const p = wr + (<usize>c << 1);
    const w0 = v128.load(p), w1 = v128.load(p + rowBytes);
    const w2 = v128.load(p + 2 * rowBytes), w3 = v128.load(p + 3 * rowBytes);
    a0 = f32x4.relaxed_madd(v128.and(w0, HIGH_HALF), xd, f32x4.relaxed_madd(i32x4.shl(w0, 16), xe, a0));
    a1 = f32x4.relaxed_madd(v128.and(w1, HIGH_HALF), xd, f32x4.relaxed_madd(i32x4.shl(w1, 16), xe, a1));
    a2 = f32x4.relaxed_madd(v128.and(w2, HIGH_HALF), xd, f32x4.relaxed_madd(i32x4.shl(w2, 16), xe, a2));
    a3 = f32x4.relaxed_madd(v128.and(w3, HIGH_HALF), xd, f32x4.relaxed_madd(i32x4.shl(w3, 16), xe, a3));
  }
  const o = y + (<usize>r << 2);
  store<f32>(o, hsum(a0) + biasAt(bias, r));
  store<f32>(o, hsum(a1) + biasAt(bias, r + 1), 4);
  store<f32>(o, hsum(a2) + biasAt(bias, r + 2), 8);
  store<f32>(o, hsum(a3) + biasAt(bias, r + 3), 12);
}

/** One row against four permuted tokens (rows xBytes apart): the weight row is read once. */
function dot4tok(wr: usize, xt: usize, xBytes: usize, cols: i32, y: usize, yBytes: usize, b: f32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let c = 0; c < cols; c += 8) {
    const w = v128.load(wr + (<usize>c << 1));
    const we = i32x4.shl(w, 16), wo = v128.and(w, HIGH_HALF);
    const xo = xt + (<usize>c << 2);
    a0 = f32x4.relaxed_madd(wo, v128.load(xo, 16), f32x4.relaxed_madd(we, v128.load(xo), a0));
    a1 = f32x4.relaxed_madd(wo, v128.load(xo + xBytes, 16), f32x4.relaxed_madd(we, v128.load(xo + xBytes), a1));
    a2 = f32x4.relaxed_madd(wo, v128.load(xo + 2 * xBytes, 16), f32x4.relaxed_madd(we, v128.load(xo + 2 * xBytes), a2));
    a3 = f32x4.relaxed_madd(wo, v128.load(xo + 3 * xBytes, 16), f32x4.relaxed_madd(we, v128.load(xo + 3 * xBytes), a3));
  }
  store<f32>(y, hsum(a0) + b);
  store<f32>(y + yBytes, hsum(a1) + b);
  store<f32>(y + 2 * yBytes, hsum(a2) + b);
  store<f32>(y + 3 * yBytes, hsum(a3) + b);
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
