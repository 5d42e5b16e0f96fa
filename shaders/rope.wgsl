// RoPE and the KV-cache append of attention, on fused projection rows: row t of `qkv` is [q | k | v] of one
// token of the batch, at position rows[t].x of KV slot rows[t].y. Pairs (i, i + HD/2) of each q and k head
// rotate by the angle of the row's position; rotated q goes to row t of `q_out`, rotated k and plain v to
// cache row rows[t].y * ctx + rows[t].x. cos_sin holds [position, HD/2] pairs (cos, sin), already scaled by
// the YaRN concentration, computed on the host so large angles lose no precision.

// The KV cache element type; the host's "f16kv" variant makes it f16 (see pipelines.ts).
alias kv_t = f32;

override WG: u32 = 64;
// Without rotation (GPT-2: learned positions): q copied, k and v appended to the caches as they are.
override ROPE: bool = true;

struct Params {
  tokens: u32,
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  ctx: u32, // cache rows per slot
  stride: u32, // elements between qkv rows: (heads + 2 kv_heads) head_dim
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cos_sin: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> rows: array<vec2<u32>>; // [tokens]: (position, KV slot)
@group(0) @binding(3) var<storage, read> qkv: array<f32>; // [tokens, stride]
@group(0) @binding(4) var<storage, read_write> q_out: array<f32>; // [tokens, heads*head_dim]
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv_t>; // [slots, ctx, kv_heads*head_dim]
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv_t>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
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
  let pos = rows[t].x;
  let cache_row = (rows[t].y * p.ctx + pos) * kvw;
  if (j >= nq + nk) {
    let e = j - nq - nk;
    v_cache[cache_row + e] = kv_t(qkv[row + p.heads * p.head_dim + kvw + e]);
    return;
  }
  let i = j % half;
  var cs = vec2<f32>(1.0, 0.0);
  if (ROPE) {
    cs = cos_sin[pos * half + i];
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
