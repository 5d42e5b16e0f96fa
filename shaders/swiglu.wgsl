// Plain SwiGLU (Qwen3 dense MLP): y[t, i] = silu(g) * u with g = x[t, i], u = x[t, n + i], where each row of
// x is one fused projection [gate | up] of 2n floats. silu(g) = g / (1 + exp(-g)) with -g clamped to 80
// (exp stays finite; silu of g < -80 is then g * 1.8e-35, i.e. 0 within f32 of any later sum).

override WG: u32 = 64;

struct Params {
  tokens: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [tokens, 2n]
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // [tokens, n]

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * 65535u * WG + gid.x;
  if (idx >= p.tokens * p.n) {
    return;
  }
  let t = idx / p.n;
  let i = idx % p.n;
  let g = x[t * 2u * p.n + i];
  let u = x[t * 2u * p.n + p.n + i];
  y[idx] = g / (1.0 + exp(min(-g, 80.0))) * u;
}
