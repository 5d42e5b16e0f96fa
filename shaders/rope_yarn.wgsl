// In-place RoPE (YaRN frequencies) on `heads` vectors of width HD per row: pairs (i, i + HD/2) of row t
// rotate by the angle of position pos0 + t. cos_sin holds [position, HD/2] pairs (cos, sin), already scaled
// by the YaRN concentration, computed on the host so large angles lose no precision.
// Entry `qkv_main` splits a fused projection row [q | k | v] of each token: rotated q to `q_out`, rotated k
// and plain v to row pos0 + t of the KV caches (the cache append of attention).

// The KV cache element type; the host's "f16kv" variant makes it f16 (see pipelines.ts).
alias kv_t = f32;

override WG: u32 = 64;
// qkv_main without rotation (GPT-2: learned positions): q copied, k and v appended to the caches as they are.
override ROPE: bool = true;

struct Params {
  tokens: u32,
  heads: u32,
  kv_heads: u32, // qkv_main only
  head_dim: u32,
  pos0: u32,
  offset: u32, // element offset of row 0 in v
  stride: u32, // elements between rows
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cos_sin: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> qkv: array<f32>; // [tokens, stride], stride = (heads + 2 kv_heads) hd
@group(0) @binding(4) var<storage, read_write> q_out: array<f32>; // [tokens, heads*head_dim]
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv_t>; // [ctx, kv_heads*head_dim]
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv_t>;

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

@compute @workgroup_size(WG)
fn qkv_main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.head_dim / 2u;
  let nq = p.heads * half;
  let nk = p.kv_heads * half;
  let kvw = p.kv_heads * p.head_dim;
  let per = nq + nk + kvw; // work items per token: q pairs, k pairs, v elements
  let idx = gid.y * 65535u * WG + gid.x;
  if (idx >= p.tokens * per) {
    return;
  }
  let t = idx / per;
  let j = idx % per;
  let row = t * p.stride;
  let cache_row = (p.pos0 + t) * kvw;
  if (j >= nq + nk) {
    let e = j - nq - nk;
    v_cache[cache_row + e] = kv_t(qkv[row + p.heads * p.head_dim + kvw + e]);
    return;
  }
  let i = j % half;
  var cs = vec2<f32>(1.0, 0.0);
  if (ROPE) {
    cs = cos_sin[(p.pos0 + t) * half + i];
  }
  if (j < nq) {
    let b = (j / half) * p.head_dim;
    let x1 = qkv[row + b + i];
    let x2 = qkv[row + b + half + i];
    q_out[t * p.heads * p.head_dim + b + i] = x1 * cs.x - x2 * cs.y;
    q_out[t * p.heads * p.head_dim + b + half + i] = x2 * cs.x + x1 * cs.y;
  } else {
    let b = ((j - nq) / half) * p.head_dim;
    let x1 = qkv[row + p.heads * p.head_dim + b + i];
    let x2 = qkv[row + p.heads * p.head_dim + b + half + i];
    k_cache[cache_row + b + i] = kv_t(x1 * cs.x - x2 * cs.y);
    k_cache[cache_row + b + half + i] = kv_t(x2 * cs.x + x1 * cs.y);
  }
}
