// Residual add: y[i] += x[i] for i < n.

override WG: u32 = 64;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * 65535u * WG + gid.x;
  if (i < p.n) {
    y[i] += x[i];
  }
}
