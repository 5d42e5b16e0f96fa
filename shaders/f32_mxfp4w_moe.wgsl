// The mixture-of-experts MLP over MXFP4 experts, slot by slot (a token or a few: decode), after routing
// (shaders/moe_router.wgsl) chose each token's k experts and their weights; two entry points in order:
//   gate_up_swiglu: act[t, j, i] = clamped SwiGLU of rows (2i, 2i+1) of gate_up of the j-th chosen expert.
//   down:           moe[t, r] (+)= sum_j weight_j * (down_e row r . act[t, j, :] + bias_e[r]).
// Only the chosen experts' weights are read. Expert blocks may be split into parts of whole experts
// [e0, e1); one dispatch per part handles the chosen experts that part holds (down overwrites moe on the
// first part and adds on later ones). Blocks: [experts, rows, cols/32, 16] u8 read as u32 words, each
// word 8 e2m1 codes (low nibble first); scales: [experts, rows, cols/32] e8m0 bytes.

override WG: u32 = 64;

// struct Params: shaders/lib/moe_params.wgsl

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> sel: array<u32>; // [tokens, k] chosen experts
@group(0) @binding(3) var<storage, read> sel_w: array<f32>; // [tokens, k] their weights
@group(0) @binding(4) var<storage, read> blocks: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
// gate_up: normed x [tokens, cols]; down: act [tokens*k, cols]; as vec4s (cols is a multiple of 32)
@group(0) @binding(7) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> act: array<f32>; // [tokens, k, rows/2]
@group(0) @binding(9) var<storage, read_write> moe: array<f32>; // [tokens, rows]

var<workgroup> partial: array<vec2<f32>, WG>;

/** The scale of block g of row r of expert e. */
fn scale(e: u32, r: u32, g: u32) -> f32 {
  let i = (e * p.rows + r) * (p.cols / 32u) + g;
  return e8m0(byte_of(scales[i / 4u], i));
}

/** Word q (8 codes, input columns 8q..8q+7) of row r of part-local expert el. */
fn word(el: u32, r: u32, q: u32) -> u32 {
  return blocks[(el * p.rows + r) * (p.cols / 8u) + q];
}

// One workgroup per (output i of ffn, slot t*k + j).
@compute @workgroup_size(WG)
fn gate_up_swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.y * 32768u + wid.x;
  let slot = wid.z;
  let t = slot / p.k;
  let e = sel[slot];
  let ffn = p.rows / 2u;
  let live = i < ffn && e >= p.e0 && e < p.e1;
  var acc = vec2<f32>(0.0);
  if (live) {
    let el = e - p.e0;
    for (var q = lid; q < p.cols / 8u; q += WG) {
      let g = q / 4u;
      let xa = x[(t * p.cols) / 4u + 2u * q];
      let xb = x[(t * p.cols) / 4u + 2u * q + 1u];
      acc.x += dot8(word(el, 2u * i, q), xa, xb) * scale(e, 2u * i, g);
      acc.y += dot8(word(el, 2u * i + 1u, q), xa, xb) * scale(e, 2u * i + 1u, g);
    }
  }
  partial[lid] = acc;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
  }
  if (live && lid == 0u) {
    let gate = min(partial[0].x + bias[e * p.rows + 2u * i], p.limit);
    let up = clamp(partial[0].y + bias[e * p.rows + 2u * i + 1u], -p.limit, p.limit);
    act[slot * ffn + i] = (up + 1.0) * (gate / (1.0 + exp(-p.alpha * gate)));
  }
}

// One workgroup per (output row r of hidden, token t): all k chosen experts of t that this part holds.
@compute @workgroup_size(WG)
fn down(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.y * 32768u + wid.x;
  let t = wid.z;
  let valid = r < p.rows;
  var acc = 0.0;
  var b = 0.0;
  if (valid) {
    for (var j = 0u; j < p.k; j++) {
      let slot = t * p.k + j;
      let e = sel[slot];
      if (e < p.e0 || e >= p.e1) {
        continue;
      }
      var d = 0.0;
      for (var q = lid; q < p.cols / 8u; q += WG) {
        let xo = (slot * p.cols) / 4u + 2u * q;
        d += dot8(word(e - p.e0, r, q), x[xo], x[xo + 1u]) * scale(e, r, q / 4u);
      }
      acc += sel_w[slot] * d;
      b += sel_w[slot] * bias[e * p.rows + r];
    }
  }
  partial[lid] = vec2<f32>(acc, 0.0);
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
  }
  if (valid && lid == 0u) {
    let prev = select(moe[t * p.rows + r], 0.0, p.first == 1u);
    moe[t * p.rows + r] = prev + partial[0].x + b;
  }
}

// e2m1, e8m0, dot8 and the Params (last, so that compiler line numbers above match this file)
//! include mxfp4.wgsl
//! include moe_params.wgsl
