// Attention with one learned sink logit per head and an optional sliding window, over a KV cache
// [ctx, kv_heads*head_dim] f32. Query t (position pos0 + t) sees keys max(0, pos-window+1) <= j <= pos
// (window 0: all j <= pos). One workgroup per (token, head); keys go in chunks of WG with an online
// softmax: per chunk, thread l scores key l, then thread d (d < head_dim <= 2*WG) rescales and
// accumulates output dims d and d + WG. Serves decode (tokens = 1) and prefill alike.

// The KV cache element type; the host's "f16kv" variant makes it f16 (see pipelines.ts).
alias kv_t = f32;

override WG: u32 = 64;

struct Params {
  tokens: u32,
  pos0: u32,
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  window: u32,
  scale: f32, // 1/sqrt(head_dim)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>; // [tokens, heads*head_dim]
@group(0) @binding(2) var<storage, read> k_cache: array<kv_t>;
@group(0) @binding(3) var<storage, read> v_cache: array<kv_t>;
@group(0) @binding(4) var<storage, read> sinks: array<f32>; // [heads]
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // [tokens, heads*head_dim]

var<workgroup> score: array<f32, WG>;
var<workgroup> prob: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let pos = p.pos0 + t;
  var start = 0u;
  if (p.window > 0u && pos + 1u > p.window) {
    start = pos + 1u - p.window;
  }
  let kvw = p.kv_heads * p.head_dim;
  let kvo = (h / (p.heads / p.kv_heads)) * p.head_dim;
  let qo = t * p.heads * p.head_dim + h * p.head_dim;
  var m = sinks[h]; // running max, starting with the sink
  var l = 1.0; // running denominator: exp(sink - m)
  var acc0 = 0.0; // output dim lid
  var acc1 = 0.0; // output dim lid + WG
  for (var c = start; c <= pos; c += WG) {
    let n = min(WG, pos + 1u - c);
    var s = -3.4e38;
    if (lid < n) {
      let ko = (c + lid) * kvw + kvo;
      var d = 0.0;
      for (var i = 0u; i < p.head_dim; i++) {
        d += q[qo + i] * f32(k_cache[ko + i]);
      }
      s = d * p.scale;
    }
    score[lid] = s;
    workgroupBarrier();
    var cm = m;
    for (var j = 0u; j < n; j++) {
      cm = max(cm, score[j]);
    }
    prob[lid] = select(0.0, exp(s - cm), lid < n);
    workgroupBarrier();
    let rescale = exp(m - cm);
    l *= rescale;
    acc0 *= rescale;
    acc1 *= rescale;
    for (var j = 0u; j < n; j++) {
      let pj = prob[j];
      l += pj;
      let vo = (c + j) * kvw + kvo;
      if (lid < p.head_dim) {
        acc0 += pj * f32(v_cache[vo + lid]);
      }
      if (lid + WG < p.head_dim) {
        acc1 += pj * f32(v_cache[vo + lid + WG]);
      }
    }
    m = cm;
    workgroupBarrier();
  }
  if (lid < p.head_dim) {
    out[qo + lid] = acc0 / l;
  }
  if (lid + WG < p.head_dim) {
    out[qo + lid + WG] = acc1 / l;
  }
}
