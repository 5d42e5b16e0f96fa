// MoE routing (moe_router), one thread per token; both entries, one per routing order, pick the k largest
// router logits (highest first, ties: lower expert first) and write the chosen experts and their weights:
//   softmax_topk (Qwen3-MoE): p = softmax over all num_experts logits, the k largest p (softmax keeps
//        the logits' order), divided by their sum when norm_topk is 1.
//   topk_softmax (gpt-oss): the softmax of the k chosen logits only.

override WG: u32 = 64;

struct Params {
  tokens: u32,
  k: u32,
  num_experts: u32,
  norm_topk: u32, // softmax_topk only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> router_logits: array<f32>; // [tokens, num_experts]
@group(0) @binding(2) var<storage, read_write> sel: array<u32>; // [tokens, k]
@group(0) @binding(3) var<storage, read_write> sel_w: array<f32>; // [tokens, k]

const MAX_EXPERTS: u32 = 512u;

/** An expert and its router logit. */
struct Choice {
  e: u32,
  v: f32,
}

/** The largest logit of the row at `base` not yet taken (ties: the lower expert), then marked taken. */
fn take_best(base: u32, taken: ptr<function, array<u32, MAX_EXPERTS / 32u>>) -> Choice {
  var best = 0xffffffffu;
  var bv = 0.0;
  for (var e = 0u; e < p.num_experts; e++) {
    if (((*taken)[e / 32u] & (1u << (e % 32u))) != 0u) {
      continue;
    }
    let v = router_logits[base + e];
    if (best == 0xffffffffu || v > bv) {
      best = e;
      bv = v;
    }
  }
  (*taken)[best / 32u] |= 1u << (best % 32u);
  return Choice(best, bv);
}

@compute @workgroup_size(WG)
fn softmax_topk(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= p.tokens) {
    return;
  }
  let base = t * p.num_experts;
  var m = router_logits[base];
  for (var e = 1u; e < p.num_experts; e++) {
    m = max(m, router_logits[base + e]);
  }
  var total = 0.0;
  for (var e = 0u; e < p.num_experts; e++) {
    total += exp(router_logits[base + e] - m);
  }
  var taken: array<u32, MAX_EXPERTS / 32u>;
  var kept = 0.0;
  for (var j = 0u; j < p.k; j++) {
    let c = take_best(base, &taken);
    let pj = exp(c.v - m) / total;
    sel[t * p.k + j] = c.e;
    sel_w[t * p.k + j] = pj;
    kept += pj;
  }
  if (p.norm_topk == 1u) {
    for (var j = 0u; j < p.k; j++) {
      sel_w[t * p.k + j] /= kept;
    }
  }
}

@compute @workgroup_size(WG)
fn topk_softmax(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= p.tokens) {
    return;
  }
  var taken: array<u32, MAX_EXPERTS / 32u>;
  let base = t * p.num_experts;
  var m = 0.0;
  for (var j = 0u; j < p.k; j++) {
    let c = take_best(base, &taken);
    sel[t * p.k + j] = c.e;
    if (j == 0u) {
      m = c.v;
    }
    sel_w[t * p.k + j] = exp(c.v - m);
  }
  var sum = 0.0;
  for (var j = 0u; j < p.k; j++) {
    sum += sel_w[t * p.k + j];
  }
  for (var j = 0u; j < p.k; j++) {
    sel_w[t * p.k + j] /= sum;
  }
}
