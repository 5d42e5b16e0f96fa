// y[t, yOffset + row0 + r] = sum_c W[r, c] * x[t, xOffset + c] + b[row0 + r]: a 16/32-bit-weight matmul.
// W is one row-range part of a [rows, cols] matrix stored as u32 words: WDT 0 = bf16 (top half of an f32,
// unpacked by shifts), 1 = f16, 2 = f32. cols is even, so a word never straddles two rows.

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
