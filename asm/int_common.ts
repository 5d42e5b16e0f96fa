// Shared by the fast path's integer kernels (f32_i8w_matmul, f32_mxfp4w_matmul_q8): their int8 activation
// rows (one layout for both), a 32-value block's largest |x|, and storing a row group's four results.
// Imported, not exported.
// deno-fmt-ignore-file: AssemblyScript (@inline decorators on functions are not TypeScript)

/**
 * y[r..r+4) = f + bias[r..] (bias 0: none); rows at or past `valid` (a partial last group's padding) are not
 * stored. The bias is read as a whole v128: callers allocate it in whole v128s or accept reading up to 12
 * bytes past it (the lanes past `valid` are dropped).
 */
@inline export function storeRows(y: usize, f: v128, bias: usize, r: i32, valid: i32): void {
  const o = <usize>r << 2;
  const v = bias ? f32x4.add(f, v128.load(bias + o)) : f;
  if (valid >= 4) { v128.store(y + o, v); return; }
  store<f32>(y + o, f32x4.extract_lane(v, 0));
  if (valid > 1) store<f32>(y + o, f32x4.extract_lane(v, 1), 4);
  if (valid > 2) store<f32>(y + o, f32x4.extract_lane(v, 2), 8);
}

/** The largest |x| of the 32 floats at s (NaN if one is NaN). */
@inline export function blockMaxAbs(s: usize): f32 {
  let m = f32x4.abs(v128.load(s));
  for (let j = 1; j < 8; j++) m = f32x4.max(m, f32x4.abs(v128.load(s + (<usize>j << 4))));
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

/** Bytes of one int8 activation row (quantizeQ8Rows): cols int8 q, then per block an f32 scale and an i32 sum. */
@inline export function q8RowBytes(cols: i32): i32 {
  return (cols + (cols >> 5) * 8 + 15) & ~15;
}

/**
 * Quantizes `rows` rows of `cols` floats (x, contiguous) into rows of q8RowBytes(cols) at xq: per 32-value
 * block, scale = maxabs / qMax (0 for an all-zero block), q = round(x * (qMax / maxabs)) formed in f64, ties
 * to even, as int8; then per block scale * scaleMul (f32) and sumMul * (sum of the block's q) (i32): what a
 * kernel needs to remove its weights' offset. A block holding NaN or an infinity gets scale NaN and q 0, so
 * every dot with it is NaN (a non-finite activation never turns finite). qMax: 1..127; cols % 32 == 0.
 * Without quads each row is cols bytes q (column c at byte c), then nb = cols/32 scales, then nb sums. With
 * quads the rows go in chunks of four (the last one the n = rows % 4 left, if any), a chunk of n rows taking
 * the place of its n rows: q of row l (l < n), columns 4k..4k+3 at bytes 4nk + 4l.., so one v128 holds four
 * rows' four columns; then scale (b, l) at n*cols + 4(n*b + l), then sum (b, l) at n*cols + 4(n*nb + n*b + l)
 * A chunk of one row is a row without quads.
 */
@inline export function quantizeQ8Rows(x: usize, xq: usize, rows: i32, cols: i32, qMax: i32, scaleMul: f64, sumMul: i32, quads: bool): void {
  if (qMax < 1 || qMax > 127) unreachable();
  const nb = cols >> 5, rowBytes = <usize>q8RowBytes(cols);
  for (let t = 0; t < rows; t++) {
    // row t's place: lane l of its chunk of n rows
    const l = quads ? t & 3 : 0, n = quads ? min(4, rows - (t & ~3)) : 1, step = <usize>n << 2;
    const chunk = xq + <usize>(t - l) * rowBytes, xr = x + (<usize>t * <usize>cols << 2);
    const q = chunk + (<usize>l << 2), sc = chunk + <usize>n * <usize>cols + (<usize>l << 2);
    const off = sc + <usize>n * (<usize>nb << 2);
    for (let b = 0; b < nb; b++) {
      const s = xr + (<usize>b << 7);
      const maxAbs = blockMaxAbs(s);
      const finite = maxAbs < Infinity; // false for NaN too
      const inv: f64 = finite && maxAbs > 0 ? <f64>qMax / <f64>maxAbs : 0;
      store<f32>(sc + <usize>b * step, finite ? (maxAbs > 0 ? <f32>(<f64>maxAbs / <f64>qMax * scaleMul) : 0) : NaN);
      let sum = 0;
      for (let c = 0; c < 32; c++) {
        const v = finite ? <i32>nearest<f64>(<f64>load<f32>(s + (<usize>c << 2)) * inv) : 0;
        sum += v;
        store<i8>(q + <usize>((b << 3) + (c >> 2)) * step + <usize>(c & 3), <i8>v);
      }
      store<i32>(off + <usize>b * step, sum * sumMul);
    }
  }
}
