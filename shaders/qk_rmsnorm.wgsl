// QK-norm: RMSNorm over each head's head_dim values, in place, in fused projection rows
// [q heads | k heads | v] of `stride` floats per token, before RoPE. Query heads share weight q_w, key heads
// k_w; v is untouched. One workgroup per (head, token): wid.x < heads is a query head, the rest key heads.

override WG: u32 = 64;

struct Params {
  tokens: u32,
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  stride: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> q_w: array<f32>; // [head_dim]
@group(0) @binding(3) var<storage, read> k_w: array<f32>; // [head_dim]

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let o = wid.y * p.stride + h * p.head_dim; // q heads then k heads are contiguous in the row
  var ss = 0.0;
  for (var i = lid; i < p.head_dim; i += WG) {
    ss += x[o + i] * x[o + i];
  }
  partial[lid] = ss;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
  }
  workgroupBarrier();
  let inv = 1.0 / sqrt(partial[0] / f32(p.head_dim) + p.eps);
  for (var i = lid; i < p.head_dim; i += WG) {
    var wi: f32;
    if (h < p.heads) {
      wi = q_w[i];
    } else {
      wi = k_w[i];
    }
    x[o + i] = x[o + i] * inv * wi;
  }
}
