// Mixture of dense experts (Qwen3-MoE) over per-expert 16/32-bit weight matrices, two entry points in order:
//   gate_up_swiglu: act[t, j, i] = silu(gate_e row i . x[t]) * (up_e row i . x[t]) for the j-th chosen
//                   expert e of token t; each expert's matrix has gate and up rows interleaved (gate row i
//                   is row 2i, up row i is 2i+1), 2*ffn rows, as f32_mxfp4w_moe_gemm reads them too.
//   down:           out[t, r] (+)= sum_j sel_w[t, j] * (down_e row r . act[t, j, :]).
// Only the chosen experts' weights are read. Experts may be split into parts of whole experts [e0, e1);
// one dispatch per part handles the chosen experts that part holds (down overwrites `out` on the first part,
// so tokens with no expert there still get 0, and adds on later ones). WDT 0 = bf16, 1 = f16, 2 = f32 words.

override WG: u32 = 64;
override WDT: u32 = 0;

// struct Params: shaders/lib/moe_params.wgsl

@group(0) @binding(0) var<uniform> p: Params;
// binding numbers as in f32_mxfp4w_moe.wgsl (5 and 6 are its scales and biases); down reads act through x
@group(0) @binding(2) var<storage, read> sel: array<u32>; // [tokens, k]
@group(0) @binding(3) var<storage, read> sel_w: array<f32>; // [tokens, k]
@group(0) @binding(4) var<storage, read> weights: array<u32>; // [e1 - e0, rows, cols]
@group(0) @binding(7) var<storage, read> x: array<f32>; // gate_up: [tokens, cols]; down: act [tokens*k, cols]
@group(0) @binding(8) var<storage, read_write> act: array<f32>; // [tokens, k, rows/2]
@group(0) @binding(9) var<storage, read_write> out: array<f32>; // [tokens, rows]

var<workgroup> partial: array<vec2<f32>, WG>;

/** Component-wise sum over the workgroup (every thread calls it). */
fn reduce(lid: u32, v: vec2<f32>) -> vec2<f32> {
  partial[lid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
  }
  workgroupBarrier();
  return partial[0];
}

// Grid: x/y = row i < rows/2 (i = wid.y * 32768 + wid.x), z = t*k + j.
@compute @workgroup_size(WG)
fn gate_up_swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.y * 32768u + wid.x;
  let tj = wid.z;
  let e = sel[tj];
  let ffn = p.rows / 2u;
  // uniform per workgroup, so returning before the barriers is allowed
  if (i >= ffn || e < p.e0 || e >= p.e1) {
    return;
  }
  let xo = (tj / p.k) * p.cols;
  let gr = (e - p.e0) * p.rows + 2u * i;
  var acc = vec2<f32>(0.0);
  for (var c = lid; c < p.cols / 2u; c += WG) {
    let xv = vec2<f32>(x[xo + 2u * c], x[xo + 2u * c + 1u]);
    acc += vec2<f32>(dot(weight_pair(gr, c, p.cols), xv), dot(weight_pair(gr + 1u, c, p.cols), xv));
  }
  let gu = reduce(lid, acc);
  if (lid == 0u) {
    let g = gu.x;
    act[tj * ffn + i] = g / (1.0 + exp(min(-g, 80.0))) * gu.y;
  }
}

// Grid: x/y = row r < rows, z = token t.
@compute @workgroup_size(WG)
fn down(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.y * 32768u + wid.x;
  let t = wid.z;
  if (r >= p.rows) {
    return;
  }
  var acc = 0.0;
  for (var j = 0u; j < p.k; j++) {
    let e = sel[t * p.k + j];
    if (e < p.e0 || e >= p.e1) {
      continue;
    }
    let ao = (t * p.k + j) * p.cols;
    let wr = (e - p.e0) * p.rows + r;
    var d = 0.0;
    for (var c = lid; c < p.cols / 2u; c += WG) {
      d += dot(weight_pair(wr, c, p.cols), vec2<f32>(x[ao + 2u * c], x[ao + 2u * c + 1u]));
    }
    acc += sel_w[t * p.k + j] * d;
  }
  let s = reduce(lid, vec2<f32>(acc, 0.0)).x;
  if (lid == 0u) {
    if (p.first == 1u) {
      out[t * p.rows + r] = s;
    } else {
      out[t * p.rows + r] += s;
    }
  }
}

// weight_pair and the Params (last, so that compiler line numbers above match this file)
//! include float_words.wgsl
//! include moe_params.wgsl
