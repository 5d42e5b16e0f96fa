// RMSNorm of each row: y[t, :] = x[x_offset + t*n, :] / sqrt(mean(x^2) + eps) * w. One workgroup per row.
// Entry `add_main` first adds a residual in place (x += r, with x_offset 0), saving a dispatch per add.

override WG: u32 = 64;

struct Params {
  tokens: u32,
  n: u32,
  x_offset: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// The binding numbers are layernorm.wgsl's (3 is its bias), so one host wrapper binds either.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> xa: array<f32>; // add_main: the residual stream, updated
@group(0) @binding(6) var<storage, read> r: array<f32>; // add_main: what is added to it

var<workgroup> partial: array<f32, WG>;

/** Sum of every thread's `v` (all threads must call it; once per dispatch, as partial is not released). */
fn workgroup_sum(lid: u32, v: f32) -> f32 {
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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let xo = p.x_offset + t * p.n;
  var ss = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    ss += x[xo + i] * x[xo + i];
  }
  let inv = 1.0 / sqrt(workgroup_sum(lid, ss) / f32(p.n) + p.eps);
  for (var i = lid; i < p.n; i += WG) {
    y[t * p.n + i] = x[xo + i] * inv * w[i];
  }
}

@compute @workgroup_size(WG)
fn add_main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let xo = wid.x * p.n;
  var ss = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let v = xa[xo + i] + r[xo + i];
    xa[xo + i] = v;
    ss += v * v;
  }
  let inv = 1.0 / sqrt(workgroup_sum(lid, ss) / f32(p.n) + p.eps);
  for (var i = lid; i < p.n; i += WG) {
    y[xo + i] = xa[xo + i] * inv * w[i];
  }
}
