// f32-weight matmul (GPT-2's float32 checkpoints): y[t*yStride + r] = sum_c W[r, c] x[t, c] + b[r],
// W f32 [rows, cols], x [tokens, cols] contiguous. Any cols: the first cols & ~3 go four lanes at a time,
// the rest one by one. Prefill takes 2 rows x 4 tokens (each weight read once per 4 tokens); decode takes
// 4 rows at a time (four weight streams in flight).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

import { hsum4 } from "./simd_math";

@inline function biasAt(bias: usize, r: i32): f32 {
  return bias ? load<f32>(bias + (<usize>r << 2)) : 0;
}

/**
 * The scalar columns [c4, cols) of one (row, token) pair, added after the vector part's sum. Every dot
 * here is hsum4(one f32x4 chain over [0, c4) in order) + this tail + bias, whatever the tile, so a
 * token's result does not depend on how tokens and rows were grouped (chunked prefill equals one call).
 */
@inline function tail(wr: usize, xt: usize, c4: i32, cols: i32): f32 {
  let s: f32 = 0;
  for (let c = c4; c < cols; c++) s += load<f32>(wr + (<usize>c << 2)) * load<f32>(xt + (<usize>c << 2));
  return s;
}

function dot1(wr: usize, xt: usize, c4: i32, cols: i32): f32 {
  let a = f32x4.splat(0);
  const end = <usize>c4 << 2;
  for (let p: usize = 0; p < end; p += 16) a = f32x4.relaxed_madd(v128.load(wr + p), v128.load(xt + p), a);
  return hsum4(a) + tail(wr, xt, c4, cols);
}

/** Four consecutive rows against one token. */
function dot4rows(wr: usize, rowBytes: usize, xt: usize, c4: i32, cols: i32, y: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end = <usize>c4 << 2;
  for (let p: usize = 0; p < end; p += 16) {
    const x = v128.load(xt + p), w = wr + p;
    a0 = f32x4.relaxed_madd(v128.load(w), x, a0);
    a1 = f32x4.relaxed_madd(v128.load(w + rowBytes), x, a1);
    a2 = f32x4.relaxed_madd(v128.load(w + 2 * rowBytes), x, a2);
    a3 = f32x4.relaxed_madd(v128.load(w + 3 * rowBytes), x, a3);
  }
  const o = y + (<usize>r << 2);
  store<f32>(o, hsum4(a0) + tail(wr, xt, c4, cols) + biasAt(bias, r), 0);
  store<f32>(o, hsum4(a1) + tail(wr + rowBytes, xt, c4, cols) + biasAt(bias, r + 1), 4);
  store<f32>(o, hsum4(a2) + tail(wr + 2 * rowBytes, xt, c4, cols) + biasAt(bias, r + 2), 8);
  store<f32>(o, hsum4(a3) + tail(wr + 3 * rowBytes, xt, c4, cols) + biasAt(bias, r + 3), 12);
}

/** Two rows against four tokens (xBytes apart); results go yBytes apart per token. */
function dot2x4(wr: usize, rowBytes: usize, xt: usize, xBytes: usize, c4: i32, cols: i32, y: usize, yBytes: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const end = <usize>c4 << 2, wr2 = wr + rowBytes;
  for (let p: usize = 0; p < end; p += 16) {
    const w = v128.load(wr + p), v = v128.load(wr2 + p), xo = xt + p;
    const x0 = v128.load(xo), x1 = v128.load(xo + xBytes), x2 = v128.load(xo + 2 * xBytes), x3 = v128.load(xo + 3 * xBytes);
    a0 = f32x4.relaxed_madd(w, x0, a0);
    b0 = f32x4.relaxed_madd(v, x0, b0);
    a1 = f32x4.relaxed_madd(w, x1, a1);
    b1 = f32x4.relaxed_madd(v, x1, b1);
    a2 = f32x4.relaxed_madd(w, x2, a2);
    b2 = f32x4.relaxed_madd(v, x2, b2);
    a3 = f32x4.relaxed_madd(w, x3, a3);
    b3 = f32x4.relaxed_madd(v, x3, b3);
  }
  const o = y + (<usize>r << 2), c0 = biasAt(bias, r), c1 = biasAt(bias, r + 1);
  store<f32>(o, hsum4(a0) + tail(wr, xt, c4, cols) + c0);
  store<f32>(o, hsum4(b0) + tail(wr2, xt, c4, cols) + c1, 4);
  store<f32>(o + yBytes, hsum4(a1) + tail(wr, xt + xBytes, c4, cols) + c0);
  store<f32>(o + yBytes, hsum4(b1) + tail(wr2, xt + xBytes, c4, cols) + c1, 4);
  store<f32>(o + 2 * yBytes, hsum4(a2) + tail(wr, xt + 2 * xBytes, c4, cols) + c0);
  store<f32>(o + 2 * yBytes, hsum4(b2) + tail(wr2, xt + 2 * xBytes, c4, cols) + c1, 4);
  store<f32>(o + 3 * yBytes, hsum4(a3) + tail(wr, xt + 3 * xBytes, c4, cols) + c0);
  store<f32>(o + 3 * yBytes, hsum4(b3) + tail(wr2, xt + 3 * xBytes, c4, cols) + c1, 4);
}

/** One row against four tokens. */
function dot1x4(wr: usize, xt: usize, xBytes: usize, c4: i32, cols: i32, y: usize, yBytes: usize, bias: usize, r: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end = <usize>c4 << 2;
  for (let p: usize = 0; p < end; p += 16) {
    const w = v128.load(wr + p), xo = xt + p;
    a0 = f32x4.relaxed_madd(w, v128.load(xo), a0);
    a1 = f32x4.relaxed_madd(w, v128.load(xo + xBytes), a1);
    a2 = f32x4.relaxed_madd(w, v128.load(xo + 2 * xBytes), a2);
    a3 = f32x4.relaxed_madd(w, v128.load(xo + 3 * xBytes), a3);
  }
  const o = y + (<usize>r << 2), c = biasAt(bias, r);
  store<f32>(o, hsum4(a0) + tail(wr, xt, c4, cols) + c);
  store<f32>(o + yBytes, hsum4(a1) + tail(wr, xt + xBytes, c4, cols) + c);
  store<f32>(o + 2 * yBytes, hsum4(a2) + tail(wr, xt + 2 * xBytes, c4, cols) + c);
  store<f32>(o + 3 * yBytes, hsum4(a3) + tail(wr, xt + 3 * xBytes, c4, cols) + c);
}

/**
 * y[t*yStride + r] = W[r] . x[t] + bias[r] for t < tokens, r < rows; bias 0 means none. Any rows, cols,
 * tokens. Weight rows and x rows need no alignment beyond 4 bytes.
 */
export function f32_f32w_matmul(w: usize, bias: usize, rows: i32, cols: i32, x: usize, tokens: i32, y: usize, yStride: i32): void {
  const rowBytes = <usize>cols << 2, xBytes = <usize>cols << 2, yBytes = <usize>yStride << 2, c4 = cols & ~3;
  let t = 0;
  for (; t + 4 <= tokens; t += 4) {
    const xt = x + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    let r = 0;
    for (; r + 2 <= rows; r += 2) dot2x4(w + <usize>r * rowBytes, rowBytes, xt, xBytes, c4, cols, yt, yBytes, bias, r);
    if (r < rows) dot1x4(w + <usize>r * rowBytes, xt, xBytes, c4, cols, yt, yBytes, bias, r);
  }
  for (; t < tokens; t++) {
    const xt = x + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    let r = 0;
    for (; r + 4 <= rows; r += 4) dot4rows(w + <usize>r * rowBytes, rowBytes, xt, c4, cols, yt, bias, r);
    for (; r < rows; r++) store<f32>(yt + (<usize>r << 2), dot1(w + <usize>r * rowBytes, xt, c4, cols) + biasAt(bias, r));
  }
}
