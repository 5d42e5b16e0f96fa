// The int8 panels shared by the fast path's integer matmuls (f32_i8w_matmul; f32_mxfp4w_matmul_q8 on its
// codes decoded into the same layout): up to four row pairs against chunks of up to four tokens, the
// compute-dense tile of several tokens. Weights: 4-row groups, lane r of v128 j holding columns 4j..4j+3 of
// row r as unsigned bytes (the relaxed dot's second operand), then per 32-column block the four rows' bf16
// scales. Activations: int8, in chunks of four tokens interleaved by four columns (int_common's
// quantizeQ8Rows with quads), each block's scale and the start of its dot chain (minus the weights' offset
// times the block's sum of q) beside them. Every (row, token) sums its blocks in one order, in f32, as the
// one-token tiles do: the same bits whatever the tile.
// What bounds a panel is not the dot (two per cycle on an AVX-VNNI core) but what V8 emits around it (each
// wasm load carries a bounds check; 15 xmm registers) and how the weight reads overlap the dots: per four
// columns a pair's two weight loads and one activation load feed eight dots (eight i32 chains in registers,
// the f32 block sums in the outputs), and the four pairs' weights stream side by side (with one pair the
// time was that of the reads plus that of the dots).
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/** The four rows' bf16 scales of block b of a group (its scales at ws) as f32. */
@inline export function weightScales(ws: usize, b: i32): v128 {
  return i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(ws + (<usize>b << 3))), 16);
}

/** d + the four row dots of the token's 4-byte splat a against weights v (4 columns per row, u8). */
@inline export function dot(a: v128, v: v128, d: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, v, d);
}

/** acc + f32(d) * (wsc * xsc): block b's exact dot d of a (row group, token) into its f32 sum. */
@inline export function blockSum(d: v128, wsc: v128, xsc: v128, acc: v128): v128 {
  return f32x4.relaxed_madd(f32x4.convert_i32x4_s(d), f32x4.mul(wsc, xsc), acc);
}

/** Lane l of v in every lane. */
@inline export function lane(v: v128, l: i32): v128 {
  switch (l) {
    case 0: return v128.shuffle<i32>(v, v, 0, 0, 0, 0);
    case 1: return v128.shuffle<i32>(v, v, 1, 1, 1, 1);
    case 2: return v128.shuffle<i32>(v, v, 2, 2, 2, 2);
    default: return v128.shuffle<i32>(v, v, 3, 3, 3, 3);
  }
}

/** f + the block sum at p (in place: the panel's running f32 sums live in its outputs). */
@inline export function addBlock(p: usize, d: v128, wsc: v128, xsc: v128): void {
  v128.store(p, blockSum(d, wsc, xsc, v128.load(p)));
}

/**
 * Block b of a row pair (two row groups: weights w, w + gBytes; their scales ws, ws + gBytes) against a
 * chunk of four tokens x (scales at sc, chain starts at sums), into the running sums of the pair's 8 rows
 * at y0, y0 + yBytes, ...: per four columns two weight loads and one v128 of the four tokens' bytes,
 * splat by shuffles, feed eight dots (eight i32 chains and the operands in 12 registers).
 */
@inline function block8x4(w: usize, gBytes: usize, b: i32, x: usize, ws: usize, sc: usize, sums: usize, y0: usize, yBytes: usize): void {
  const o = v128.load(sums + (<usize>b << 4));
  let d00 = lane(o, 0), d01 = lane(o, 1), d02 = lane(o, 2), d03 = lane(o, 3);
  let d10 = d00, d11 = d01, d12 = d02, d13 = d03;
  const wb = w + (<usize>b << 7), xb = x + (<usize>b << 7);
  for (let j: usize = 0; j < 128; j += 32) {
    let X = v128.load(xb + j), v = v128.load(wb + j), u = v128.load(wb + j + gBytes);
    let a = lane(X, 0); d00 = dot(a, v, d00); d10 = dot(a, u, d10);
    a = lane(X, 1); d01 = dot(a, v, d01); d11 = dot(a, u, d11);
    a = lane(X, 2); d02 = dot(a, v, d02); d12 = dot(a, u, d12);
    a = lane(X, 3); d03 = dot(a, v, d03); d13 = dot(a, u, d13);
    X = v128.load(xb + j, 16); v = v128.load(wb + j, 16); u = v128.load(wb + j + gBytes, 16);
    a = lane(X, 0); d00 = dot(a, v, d00); d10 = dot(a, u, d10);
    a = lane(X, 1); d01 = dot(a, v, d01); d11 = dot(a, u, d11);
    a = lane(X, 2); d02 = dot(a, v, d02); d12 = dot(a, u, d12);
    a = lane(X, 3); d03 = dot(a, v, d03); d13 = dot(a, u, d13);
  }
  const s0 = weightScales(ws, b), s1 = weightScales(ws + gBytes, b), xs = v128.load(sc + (<usize>b << 4));
  let xsc = lane(xs, 0), y = y0;
  addBlock(y, d00, s0, xsc); addBlock(y + 16, d10, s1, xsc);
  xsc = lane(xs, 1); y += yBytes;
  addBlock(y, d01, s0, xsc); addBlock(y + 16, d11, s1, xsc);
  xsc = lane(xs, 2); y += yBytes;
  addBlock(y, d02, s0, xsc); addBlock(y + 16, d12, s1, xsc);
  xsc = lane(xs, 3); y += yBytes;
  addBlock(y, d03, s0, xsc); addBlock(y + 16, d13, s1, xsc);
}

/** block8x4 for a chunk of three tokens (12 bytes per four columns: a v128 reads 4 bytes of the next step). */
@inline function block8x3(w: usize, gBytes: usize, b: i32, x: usize, ws: usize, sc: usize, sums: usize, y0: usize, yBytes: usize): void {
  const o = sums + 12 * <usize>b;
  let d00 = v128.load32_splat(o), d01 = v128.load32_splat(o, 4), d02 = v128.load32_splat(o, 8);
  let d10 = d00, d11 = d01, d12 = d02;
  const wb = w + (<usize>b << 7), xb = x + 96 * <usize>b;
  for (let j: usize = 0; j < 128; j += 32) {
    let X = v128.load(xb + 3 * (j >> 2)), v = v128.load(wb + j), u = v128.load(wb + j + gBytes);
    let a = lane(X, 0); d00 = dot(a, v, d00); d10 = dot(a, u, d10);
    a = lane(X, 1); d01 = dot(a, v, d01); d11 = dot(a, u, d11);
    a = lane(X, 2); d02 = dot(a, v, d02); d12 = dot(a, u, d12);
    X = v128.load(xb + 3 * (j >> 2), 12); v = v128.load(wb + j, 16); u = v128.load(wb + j + gBytes, 16);
    a = lane(X, 0); d00 = dot(a, v, d00); d10 = dot(a, u, d10);
    a = lane(X, 1); d01 = dot(a, v, d01); d11 = dot(a, u, d11);
    a = lane(X, 2); d02 = dot(a, v, d02); d12 = dot(a, u, d12);
  }
  const s0 = weightScales(ws, b), s1 = weightScales(ws + gBytes, b), xs = sc + 12 * <usize>b;
  let xsc = v128.load32_splat(xs), y = y0;
  addBlock(y, d00, s0, xsc); addBlock(y + 16, d10, s1, xsc);
  xsc = v128.load32_splat(xs, 4); y += yBytes;
  addBlock(y, d01, s0, xsc); addBlock(y + 16, d11, s1, xsc);
  xsc = v128.load32_splat(xs, 8); y += yBytes;
  addBlock(y, d02, s0, xsc); addBlock(y + 16, d12, s1, xsc);
}

/** block8x4 for a chunk of two tokens: a v128 of the chunk's bytes holds both tokens' columns for two steps. */
@inline function block8x2(w: usize, gBytes: usize, b: i32, x: usize, ws: usize, sc: usize, sums: usize, y0: usize, yBytes: usize): void {
  const o = sums + (<usize>b << 3);
  let d00 = v128.load32_splat(o), d01 = v128.load32_splat(o, 4), d10 = d00, d11 = d01;
  const wb = w + (<usize>b << 7), xb = x + (<usize>b << 6);
  for (let j: usize = 0; j < 128; j += 32) {
    const X = v128.load(xb + (j >> 1));
    let v = v128.load(wb + j), u = v128.load(wb + j + gBytes);
    let a = lane(X, 0); d00 = dot(a, v, d00); d10 = dot(a, u, d10);
    a = lane(X, 1); d01 = dot(a, v, d01); d11 = dot(a, u, d11);
    v = v128.load(wb + j, 16); u = v128.load(wb + j + gBytes, 16);
    a = lane(X, 2); d00 = dot(a, v, d00); d10 = dot(a, u, d10);
    a = lane(X, 3); d01 = dot(a, v, d01); d11 = dot(a, u, d11);
  }
  const s0 = weightScales(ws, b), s1 = weightScales(ws + gBytes, b), xs = sc + (<usize>b << 3);
  let xsc = v128.load32_splat(xs);
  addBlock(y0, d00, s0, xsc); addBlock(y0 + 16, d10, s1, xsc);
  xsc = v128.load32_splat(xs, 4);
  addBlock(y0 + yBytes, d01, s0, xsc); addBlock(y0 + yBytes + 16, d11, s1, xsc);
}

/** block8x4 for one token (a chunk of one: a plain row); two chains per row group hide the dot's latency. */
@inline function block8x1(w: usize, gBytes: usize, b: i32, x: usize, ws: usize, sc: usize, sums: usize, y0: usize): void {
  let d0 = v128.load32_splat(sums + (<usize>b << 2)), d1 = d0, e0 = i32x4.splat(0), e1 = e0;
  const wb = w + (<usize>b << 7), xb = x + (<usize>b << 5);
  for (let j: usize = 0; j < 128; j += 64) {
    const X = v128.load(xb + (j >> 2));
    let a = lane(X, 0); d0 = dot(a, v128.load(wb + j), d0); d1 = dot(a, v128.load(wb + j + gBytes), d1);
    a = lane(X, 1); e0 = dot(a, v128.load(wb + j, 16), e0); e1 = dot(a, v128.load(wb + j + gBytes, 16), e1);
    a = lane(X, 2); d0 = dot(a, v128.load(wb + j, 32), d0); d1 = dot(a, v128.load(wb + j + gBytes, 32), d1);
    a = lane(X, 3); e0 = dot(a, v128.load(wb + j, 48), e0); e1 = dot(a, v128.load(wb + j + gBytes, 48), e1);
  }
  const xsc = v128.load32_splat(sc + (<usize>b << 2));
  addBlock(y0, i32x4.add(d0, e0), weightScales(ws, b), xsc);
  addBlock(y0 + 16, i32x4.add(d1, e1), weightScales(ws + gBytes, b), xsc);
}

/** Block b of a row pair (weights w, scales ws, outputs y) against a chunk of n tokens: block8x4 or a smaller form. */
@inline function blockN(n: i32, w: usize, gBytes: usize, b: i32, x: usize, ws: usize, sc: usize, sums: usize, y: usize, yBytes: usize): void {
  if (n == 4) block8x4(w, gBytes, b, x, ws, sc, sums, y, yBytes);
  else if (n == 3) block8x3(w, gBytes, b, x, ws, sc, sums, y, yBytes);
  else if (n == 2) block8x2(w, gBytes, b, x, ws, sc, sums, y, yBytes);
  else block8x1(w, gBytes, b, x, ws, sc, sums, y);
}

/**
 * Up to four row pairs (`pairs`: 8 rows each, from group pointer w; outputs from row r) against a chunk of
 * n tokens x (outputs y, yBytes apart), the multi-token tile: per 32-column block, each pair in turn, so
 * the pairs' weights stream side by side (eight read streams: what lets the memory reads overlap the dots;
 * with two the tile took the time of the reads plus that of the dots). The f32 block sums run in the
 * outputs, zeroed first: the same sums, in the same order, as in registers.
 */
@inline function panel(n: i32, w: usize, gBytes: usize, nb: i32, pairs: i32, x: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32): void {
  const y0 = y + (<usize>r << 2), rowBytes = <usize>pairs << 5, zero = f32x4.splat(0);
  for (let t = 0; t < n; t++) {
    const yt = y0 + <usize>t * yBytes;
    for (let i: usize = 0; i < rowBytes; i += 16) v128.store(yt + i, zero);
  }
  const pb = gBytes << 1, ws = w + (cols << 2), sc = x + <usize>n * cols, sums = sc + (<usize>n * cols >> 3);
  for (let b = 0; b < nb; b++) {
    blockN(n, w, gBytes, b, x, ws, sc, sums, y0, yBytes);
    if (pairs > 1) blockN(n, w + pb, gBytes, b, x, ws + pb, sc, sums, y0 + 32, yBytes);
    if (pairs > 2) blockN(n, w + 2 * pb, gBytes, b, x, ws + 2 * pb, sc, sums, y0 + 64, yBytes);
    if (pairs > 3) blockN(n, w + 3 * pb, gBytes, b, x, ws + 3 * pb, sc, sums, y0 + 96, yBytes);
  }
  if (!bias) return;
  const o = bias + (<usize>r << 2);
  for (let t = 0; t < n; t++) {
    const yt = y0 + <usize>t * yBytes;
    for (let i: usize = 0; i < rowBytes; i += 16) v128.store(yt + i, f32x4.add(v128.load(yt + i), v128.load(o + i)));
  }
}

function panel4(w: usize, gBytes: usize, nb: i32, pairs: i32, x: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32): void {
  panel(4, w, gBytes, nb, pairs, x, cols, y, yBytes, bias, r);
}

function panel3(w: usize, gBytes: usize, nb: i32, pairs: i32, x: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32): void {
  panel(3, w, gBytes, nb, pairs, x, cols, y, yBytes, bias, r);
}

function panel2(w: usize, gBytes: usize, nb: i32, pairs: i32, x: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32): void {
  panel(2, w, gBytes, nb, pairs, x, cols, y, yBytes, bias, r);
}

function panel1(w: usize, gBytes: usize, nb: i32, pairs: i32, x: usize, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32): void {
  panel(1, w, gBytes, nb, pairs, x, cols, y, yBytes, bias, r);
}

/**
 * Rows [r, r + 8 * pairs) (pairs <= 4 row pairs of 4-row groups from group pointer w, gBytes apart: weights
 * u8 as the i8w packing stores them, bf16 scales after) against `tokens` tokens: xq holds them in chunks of
 * four (quantizeQ8Rows with quads, whose per-block sums are the dot chains' starts), xBytes per token; token
 * t's outputs at y + t * yBytes, row r at byte 4r, plus bias[r] (bias 0: none). The panel of each chunk in
 * turn: its weights then come from cache for every chunk but the first.
 */
export function panels(w: usize, gBytes: usize, nb: i32, pairs: i32, xq: usize, xBytes: usize, tokens: i32, cols: usize, y: usize, yBytes: usize, bias: usize, r: i32): void {
  for (let t = 0; t < tokens; t += 4) {
    const n = min(4, tokens - t), x = xq + <usize>t * xBytes, yt = y + <usize>t * yBytes;
    if (n == 4) panel4(w, gBytes, nb, pairs, x, cols, yt, yBytes, bias, r);
    else if (n == 3) panel3(w, gBytes, nb, pairs, x, cols, yt, yBytes, bias, r);
    else if (n == 2) panel2(w, gBytes, nb, pairs, x, cols, yt, yBytes, bias, r);
    else panel1(w, gBytes, nb, pairs, x, cols, yt, yBytes, bias, r);
  }
}
