// Attention with one learned sink logit per head and an optional sliding window, over a KV cache
// [ctx, kv_heads*head_dim] f32. Query t (position pos0 + t) sees keys max(0, pos-window+1) <= j <= pos
// (window 0: all j <= pos). Keys go in chunks of WG with an online softmax: per chunk, thread l scores
// key l, then thread d (d < head_dim <= 2*WG) rescales and accumulates output dims d and d + WG.
// Entries: `main`, one workgroup per (head, token) over all its keys (prefill, and decode over few keys);
// `split` + `combine` (flash-decoding, for long contexts): workgroup (head, token, s) runs the keys
// [start + s*split_keys, +split_keys) into a partial (max, sum, unnormalised output), and `combine` merges
// the partials of a (head, token) with the sink term.

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
  splits: u32, // split/combine: partials per (head, token)
  split_keys: u32, // split: keys per partial, a multiple of WG
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>; // [tokens, heads*head_dim]
@group(0) @binding(2) var<storage, read> k_cache: array<kv_t>;
@group(0) @binding(3) var<storage, read> v_cache: array<kv_t>;
@group(0) @binding(4) var<storage, read> sinks: array<f32>; // [heads]
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // [tokens, heads*head_dim]
// split/combine: [tokens, heads, splits, 2 + head_dim]: max, sum, then the output scaled by exp(-max)
@group(0) @binding(6) var<storage, read_write> part: array<f32>;

var<workgroup> score: array<f32, WG>;
var<workgroup> prob: array<f32, WG>;

const NO_SCORE: f32 = -3.4e38; // below every score, finite (so exp(NO_SCORE - m) is 0, never NaN)

/** Online-softmax state of one query: running max m, denominator l, output dims lid and lid + WG. */
struct Softmax {
  m: f32,
  l: f32,
  acc0: f32,
  acc1: f32,
}

/** First key query t sees. */
fn first_key(pos: u32) -> u32 {
  if (p.window > 0u && pos + 1u > p.window) {
    return pos + 1u - p.window;
  }
  return 0u;
}

/**
 * Runs keys [lo, end) of query head h of token t into the state `s`. Every thread of the workgroup calls
 * it with the same arguments (it has barriers).
 */
fn attend(lid: u32, t: u32, h: u32, lo: u32, end: u32, s0: Softmax) -> Softmax {
  var s = s0;
  let kvw = p.kv_heads * p.head_dim;
  let kvo = (h / (p.heads / p.kv_heads)) * p.head_dim;
  let qo = t * p.heads * p.head_dim + h * p.head_dim;
  for (var c = lo; c < end; c += WG) {
    let n = min(WG, end - c);
    var sc = NO_SCORE;
    if (lid < n) {
      let ko = (c + lid) * kvw + kvo;
      var d = 0.0;
      for (var i = 0u; i < p.head_dim; i++) {
        d += q[qo + i] * f32(k_cache[ko + i]);
      }
      sc = d * p.scale;
    }
    score[lid] = sc;
    workgroupBarrier();
    var cm = s.m;
    for (var j = 0u; j < n; j++) {
      cm = max(cm, score[j]);
    }
    prob[lid] = select(0.0, exp(sc - cm), lid < n);
    workgroupBarrier();
    let rescale = exp(s.m - cm);
    s.l *= rescale;
    s.acc0 *= rescale;
    s.acc1 *= rescale;
    for (var j = 0u; j < n; j++) {
      let pj = prob[j];
      s.l += pj;
      let vo = (c + j) * kvw + kvo;
      if (lid < p.head_dim) {
        s.acc0 += pj * f32(v_cache[vo + lid]);
      }
      if (lid + WG < p.head_dim) {
        s.acc1 += pj * f32(v_cache[vo + lid + WG]);
      }
    }
    s.m = cm;
    workgroupBarrier();
  }
  return s;
}

fn write_out(lid: u32, t: u32, h: u32, acc0: f32, acc1: f32) {
  let qo = t * p.heads * p.head_dim + h * p.head_dim;
  if (lid < p.head_dim) {
    out[qo + lid] = acc0;
  }
  if (lid + WG < p.head_dim) {
    out[qo + lid + WG] = acc1;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let pos = p.pos0 + t;
  // the sink starts the running max, with exp(sink - m) = 1 in the denominator
  let s = attend(lid, t, h, first_key(pos), pos + 1u, Softmax(sinks[h], 1.0, 0.0, 0.0));
  write_out(lid, t, h, s.acc0 / s.l, s.acc1 / s.l);
}

@compute @workgroup_size(WG)
fn split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let pos = p.pos0 + t;
  let lo = first_key(pos) + wid.z * p.split_keys;
  let end = min(pos + 1u, lo + p.split_keys); // lo >= end: an empty split (max NO_SCORE, sum 0)
  let s = attend(lid, t, h, lo, end, Softmax(NO_SCORE, 0.0, 0.0, 0.0));
  let po = ((t * p.heads + h) * p.splits + wid.z) * (p.head_dim + 2u);
  if (lid == 0u) {
    part[po] = s.m;
    part[po + 1u] = s.l;
  }
  if (lid < p.head_dim) {
    part[po + 2u + lid] = s.acc0;
  }
  if (lid + WG < p.head_dim) {
    part[po + 2u + lid + WG] = s.acc1;
  }
}

@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let base = (t * p.heads + h) * p.splits * (p.head_dim + 2u);
  var m = sinks[h];
  for (var s = 0u; s < p.splits; s++) {
    m = max(m, part[base + s * (p.head_dim + 2u)]);
  }
  var l = exp(sinks[h] - m);
  var acc0 = 0.0;
  var acc1 = 0.0;
  for (var s = 0u; s < p.splits; s++) {
    let po = base + s * (p.head_dim + 2u);
    let f = exp(part[po] - m);
    l += part[po + 1u] * f;
    if (lid < p.head_dim) {
      acc0 += part[po + 2u + lid] * f;
    }
    if (lid + WG < p.head_dim) {
      acc1 += part[po + 2u + lid + WG] * f;
    }
  }
  write_out(lid, t, h, acc0 / l, acc1 / l);
}
