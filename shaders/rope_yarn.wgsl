// In-place RoPE (YaRN frequencies) on `heads` vectors of width HD per row: pairs (i, i + HD/2) of row t
// rotate by the angle of position pos0 + t. cos_sin holds [position, HD/2] pairs (cos, sin), already scaled
// by the YaRN concentration, computed on the host so large angles lose no precision.

override WG: u32 = 64;

struct Params {
  tokens: u32,
  heads: u32,
  head_dim: u32,
  pos0: u32,
  offset: u32, // element offset of row 0 in v
  stride: u32, // elements between rows
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cos_sin: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.head_dim / 2u;
  let idx = gid.y * 65535u * WG + gid.x;
  if (idx >= p.tokens * p.heads * half) {
    return;
  }
  let i = idx % half;
  let h = (idx / half) % p.heads;
  let t = idx / (half * p.heads);
  let cs = cos_sin[(p.pos0 + t) * half + i];
  let b = p.offset + t * p.stride + h * p.head_dim;
  let x1 = v[b + i];
  let x2 = v[b + half + i];
  v[b + i] = x1 * cs.x - x2 * cs.y;
  v[b + half + i] = x2 * cs.x + x1 * cs.y;
}
