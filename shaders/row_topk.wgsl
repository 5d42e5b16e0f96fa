// Greedy token choice on the GPU (row_topk): entry `argmax` writes out[t] = index of the largest of row t
// of [rows, n] logits (ties: lowest index), so decoding reads back 4 bytes per token instead of the whole
// vocabulary. Entry `main` writes the k largest (value desc, index asc) to out / out_v for a sampler:
// k rounds, each taking the best element ordered after the previous pick, so no chosen-set is kept. Either
// entry sets bit 31 (NONFINITE) of a row's first index when the row holds a NaN or infinite logit.

override WG: u32 = 64;

struct Params {
  n: u32,
  k: u32, // main only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_v: array<f32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;
/** Set by any thread that saw a non-finite logit in the row (workgroup memory starts zeroed). */
var<workgroup> nonfinite: atomic<u32>;

const NONFINITE: u32 = 0x80000000u;

/** NaN or +-inf: every exponent bit set. Tested on the bits, which no float optimisation may skip. */
fn is_nonfinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

/**
 * Leaves in best_v[0], best_i[0] the largest of every thread's (v, i), ties to the lower index; index
 * 0xffffffff is "none" and loses to anything. All threads must call it; slot 0 is read by thread 0 as is,
 * by the others after a barrier.
 */
fn reduce_best(lid: u32, v: f32, i: u32) {
  best_v[lid] = v;
  best_i[lid] = i;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      let ov = best_v[lid + s];
      let oi = best_i[lid + s];
      let mine = best_i[lid];
      if (oi != 0xffffffffu && (mine == 0xffffffffu || ov > best_v[lid] || (ov == best_v[lid] && oi < mine))) {
        best_v[lid] = ov;
        best_i[lid] = oi;
      }
    }
  }
}

/** Whether (v, i) comes after (pv, pi) in the order value desc, index asc. */
fn after(v: f32, i: u32, pv: f32, pi: u32) -> bool {
  return v < pv || (v == pv && i > pi);
}

struct Pick {
  v: f32,
  i: u32, // 0xffffffff: none
}

/**
 * This invocation's first in the order value desc, index asc among its share of the row (columns lid,
 * lid + WG, ...) that come after the previous pick (pv, pi), or among all of them when `first`; the first
 * scan flags a non-finite logit.
 */
fn scan_share(base: u32, lid: u32, first: bool, pv: f32, pi: u32) -> Pick {
  var best = Pick(-3.4e38, 0xffffffffu);
  var bad = false;
  for (var i = lid; i < p.n; i += WG) {
    let v = logits[base + i];
    bad = bad || (first && is_nonfinite(v));
    if ((first || after(v, i, pv, pi)) && (best.i == 0xffffffffu || v > best.v)) {
      best = Pick(v, i);
    }
  }
  if (bad) {
    atomicStore(&nonfinite, 1u);
  }
  return best;
}

@compute @workgroup_size(WG)
fn argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let mine = scan_share(wid.x * p.n, lid, true, 0.0, 0u);
  reduce_best(lid, mine.v, mine.i);
  workgroupBarrier();
  if (lid == 0u) {
    out[wid.x] = best_i[0] | select(0u, NONFINITE, atomicLoad(&nonfinite) != 0u);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * p.n;
  var pv = 3.4e38; // the previous pick; the first round takes anything
  var pi = 0xffffffffu;
  var first = true;
  for (var j = 0u; j < p.k; j++) {
    let mine = scan_share(base, lid, first, pv, pi);
    reduce_best(lid, mine.v, mine.i);
    workgroupBarrier();
    pv = best_v[0];
    pi = best_i[0];
    if (lid == 0u) {
      out[wid.x * p.k + j] = pi | select(0u, NONFINITE, first && atomicLoad(&nonfinite) != 0u);
      out_v[wid.x * p.k + j] = pv;
    }
    first = false;
    workgroupBarrier();
  }
}
