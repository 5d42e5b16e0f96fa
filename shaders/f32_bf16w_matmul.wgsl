// y[t, yOffset + row0 + r] = sum_c W[r, c] * x[t, xOffset + c] + b[row0 + r]: a 16/32-bit-weight matmul.
// W is one row-range part of a [rows, cols] matrix stored as u32 words: WDT 0 = bf16 (top half of an f32,
// unpacked by shifts), 1 = f16, 2 = f32. cols is even, so a word never straddles two rows.
// Two entries: `main` (one row per workgroup for TT <= 8 tokens: decode and small batches) and `gemm`
// (prefill: 64 rows x 64 tokens per workgroup through workgroup-memory tiles, each weight read once per
// 64 tokens).

override WG: u32 = 64; // threads per workgroup: one workgroup computes one row for TT tokens
override TT: u32 = 4; // tokens per workgroup, at most MAX_TT
const MAX_TT: u32 = 8u;
override WDT: u32 = 0;
override HAS_BIAS: bool = true;

struct Params {
  rows: u32, // rows in this part
  cols: u32,
  tokens: u32,
  row0: u32, // first row of this part in the whole matrix
  x_stride: u32,
  x_offset: u32,
  y_stride: u32,
  y_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG * TT>;

/** Weights at columns 2i and 2i+1 of row r. */
fn pair(r: u32, i: u32) -> vec2<f32> {
  if (WDT == 2u) {
    let k = r * p.cols + 2u * i;
    return vec2<f32>(bitcast<f32>(w[k]), bitcast<f32>(w[k + 1u]));
  }
  let word = w[r * (p.cols / 2u) + i];
  if (WDT == 1u) {
    return unpack2x16float(word);
  }
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.y * 32768u + wid.x;
  let t0 = wid.z * TT;
  let valid = r < p.rows;
  var acc: array<f32, MAX_TT>;
  for (var t = 0u; t < TT; t++) {
    acc[t] = 0.0;
  }
  if (valid) {
    let nt = min(TT, p.tokens - t0);
    for (var i = lid; i < p.cols / 2u; i += WG) {
      let wv = pair(r, i);
      // constant trip count TT (unrollable, so acc stays in registers); tokens past the end are skipped
      for (var t = 0u; t < TT; t++) {
        if (t < nt) {
          let xo = (t0 + t) * p.x_stride + p.x_offset + 2u * i;
          acc[t] += wv.x * x[xo] + wv.y * x[xo + 1u];
        }
      }
    }
  }
  for (var t = 0u; t < TT; t++) {
    partial[t * WG + lid] = acc[t];
  }
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      for (var t = 0u; t < TT; t++) {
        partial[t * WG + lid] += partial[t * WG + lid + s];
      }
    }
  }
  if (valid && lid < TT && t0 + lid < p.tokens) {
    var b = 0.0;
    if (HAS_BIAS) {
      b = bias[p.row0 + r];
    }
    y[(t0 + lid) * p.y_stride + p.y_offset + p.row0 + r] = partial[lid * WG] + b;
  }
}

// gemm: the tile is GM rows x GT tokens; the columns go in slices of GK, each slice of W and of x staged in
// workgroup memory once (16 KiB: fits WebGPU's default limit). 256 threads, thread (quad, cp) = (lid/16,
// lid%16): it loads column pair cp of rows (and tokens) 4quad..4quad+3, consecutive threads reading
// consecutive words, then accumulates rows 4quad..4quad+3 x tokens 4cp..4cp+3 of the tile.
const GM: u32 = 64u;
const GT: u32 = 64u;
const GK: u32 = 32u;
var<workgroup> w_tile: array<vec4<f32>, 512>; // [GK][GM/4]: rows 4i..4i+3 of one column
var<workgroup> x_tile: array<vec4<f32>, 512>; // [GK][GT/4]: tokens 4i..4i+3 of one column

/** Writes 4 tokens (t, t+1, ...) of part-local row r; rows and tokens past the end are skipped. */
fn store_row(r: u32, t: u32, v: vec4<f32>) {
  if (r >= p.rows) {
    return;
  }
  var b = 0.0;
  if (HAS_BIAS) {
    b = bias[p.row0 + r];
  }
  for (var j = 0u; j < 4u; j++) {
    if (t + j < p.tokens) {
      y[(t + j) * p.y_stride + p.y_offset + p.row0 + r] = v[j] + b;
    }
  }
}

@compute @workgroup_size(256)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r0 = wid.x * GM;
  let t0 = wid.y * GT;
  let quad = lid / 16u;
  let cp = lid % 16u;
  var acc0 = vec4<f32>(0.0); // row 4quad, tokens 4cp..4cp+3
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.cols; k0 += GK) {
    let c = k0 + 2u * cp; // cols is even: c < cols means c + 1 < cols too
    var wa = vec4<f32>(0.0);
    var wb = vec4<f32>(0.0);
    var xa = vec4<f32>(0.0);
    var xb = vec4<f32>(0.0);
    if (c < p.cols) {
      for (var i = 0u; i < 4u; i++) {
        let r = r0 + 4u * quad + i;
        if (r < p.rows) {
          let v = pair(r, c / 2u);
          wa[i] = v.x;
          wb[i] = v.y;
        }
        let t = t0 + 4u * quad + i;
        if (t < p.tokens) {
          let xo = t * p.x_stride + p.x_offset + c;
          xa[i] = x[xo];
          xb[i] = x[xo + 1u];
        }
      }
    }
    w_tile[2u * cp * 16u + quad] = wa;
    w_tile[(2u * cp + 1u) * 16u + quad] = wb;
    x_tile[2u * cp * 16u + quad] = xa;
    x_tile[(2u * cp + 1u) * 16u + quad] = xb;
    workgroupBarrier();
    for (var k = 0u; k < GK; k++) {
      let a = w_tile[k * 16u + quad];
      let b = x_tile[k * 16u + cp];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }
  let r = r0 + 4u * quad;
  let t = t0 + 4u * cp;
  store_row(r, t, acc0);
  store_row(r + 1u, t, acc1);
  store_row(r + 2u, t, acc2);
  store_row(r + 3u, t, acc3);
}
