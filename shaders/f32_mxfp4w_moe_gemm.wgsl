// The MoE MLP of several tokens grouped by expert, so each active expert's weights are read once per tile
// of up to BT of its tokens (once for its whole group when the group fits a tile). A slot is one (token,
// chosen expert) pair, slot = t*k + j. Entries, run in order after routing (moe_router.wgsl):
//   group:          counts the slots of each expert, scans, and scatters the slot ids into `order` sorted
//                   by expert (in slot order within an expert); cuts each expert's run into tiles of BT.
//   gate_up_swiglu: per (64-row tile, token tile): act[slot, i] = SwiGLU of gate_up rows 2i (gate), 2i+1
//                   (up): gpt-oss's clamped form (CLAMPED) or plain silu(gate) * up.
//   down:           per (64-row tile, token tile): slot_out[slot, r] = w_slot * (down_e row r . act[slot] + b).
//   combine:        moe[t, r] = sum over j of slot_out[t*k + j, r].
// A tile stages 64 weight rows x 32 columns (decoded once) and BT inputs x 32 columns in workgroup memory,
// both as vec4 (4 rows, or 4 tokens, of one column): WebGPU zero-fills workgroup memory before the entry
// runs, and where that fill is compiled element by element (GL adapters) it costs per element, so the
// staging arrays keep as few elements as their bytes allow. Thread (tr, tt) owns rows tr*TM.. and tokens
// 4tt..4tt+3 of the tile. Experts may be split into parts
// [e0, e1) (one gate_up and one down dispatch per part; tiles of experts outside the part return at once).
// Weights (WDT): MXFP4 (3: blocks [experts, rows, cols/32, 16] u8 as u32 words, scales [experts, rows,
// cols/32] e8m0 bytes, cols a multiple of 32), or float words [experts, rows, cols] (0 bf16, 1 f16, 2 f32;
// cols even, columns past cols read as 0). Biases [experts, rows] where HAS_BIAS.

override BT: u32 = 64; // tokens per tile: 16, 32 or 64 (4 <= BT <= 64, a multiple of 4)
override TM: u32 = 4; // rows per thread: 2 or 4 (even: a thread owns whole gate/up pairs)
override WG: u32 = (64u / TM) * (BT / 4u);
override WDT: u32 = 3u; // weights: 3 MXFP4, else float words (0 bf16, 1 f16, 2 f32)
override CLAMPED: bool = true; // gate_up: clamped SwiGLU with limit and alpha (gpt-oss), else silu(g) * u
override HAS_BIAS: bool = true;
const GM: u32 = 64u; // rows per tile
const GK: u32 = 32u; // columns per slice: one MXFP4 block

// struct Params: shaders/lib/moe_params.wgsl

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sel: array<u32>; // [tokens*k] chosen experts
@group(0) @binding(2) var<storage, read> sel_w: array<f32>; // [tokens*k] their weights
@group(0) @binding(3) var<storage, read_write> order_out: array<u32>; // group: [tokens*k]
@group(0) @binding(4) var<storage, read_write> tiles_out: array<u32>; // group: count, then (e, start, n)
@group(0) @binding(5) var<storage, read> order: array<u32>; // the same buffers, read by the tiles
@group(0) @binding(6) var<storage, read> tiles: array<u32>;
@group(0) @binding(7) var<storage, read> weights: array<u32>; // MXFP4 blocks, or float words
@group(0) @binding(8) var<storage, read> scales: array<u32>; // MXFP4 only
@group(0) @binding(9) var<storage, read> bias: array<f32>; // HAS_BIAS only
// gate_up: normed x [tokens, cols]; down: act [tokens*k, cols]; as column pairs (cols is even)
@group(0) @binding(10) var<storage, read> x: array<vec2<f32>>;
@group(0) @binding(11) var<storage, read_write> act: array<f32>; // [tokens*k, rows/2]
@group(0) @binding(12) var<storage, read_write> slot_out: array<f32>; // [tokens*k, rows]
@group(0) @binding(13) var<storage, read_write> moe: array<f32>; // [tokens, rows]

const MAX_EXPERTS: u32 = 256u;

var<workgroup> counts: array<u32, MAX_EXPERTS>;
var<workgroup> slot_base: array<u32, MAX_EXPERTS>;
var<workgroup> tile_base: array<u32, MAX_EXPERTS>;

// One workgroup of 256 threads, thread e for expert e (num_experts <= 256).
@compute @workgroup_size(256)
fn group(@builtin(local_invocation_index) e: u32) {
  let slots = p.tokens * p.k;
  var n = 0u;
  if (e < p.num_experts) {
    for (var s = 0u; s < slots; s++) {
      n += select(0u, 1u, sel[s] == e);
    }
  }
  counts[e] = n;
  workgroupBarrier();
  if (e == 0u) {
    var so = 0u;
    var to = 0u;
    for (var i = 0u; i < p.num_experts; i++) {
      slot_base[i] = so;
      tile_base[i] = to;
      so += counts[i];
      to += (counts[i] + BT - 1u) / BT;
    }
    tiles_out[0] = to;
  }
  workgroupBarrier();
  if (e < p.num_experts) {
    var o = slot_base[e];
    for (var s = 0u; s < slots; s++) {
      if (sel[s] == e) {
        order_out[o] = s;
        o++;
      }
    }
    for (var i = 0u; i * BT < n; i++) {
      let at = 1u + 3u * (tile_base[e] + i);
      tiles_out[at] = e;
      tiles_out[at + 1u] = slot_base[e] + i * BT;
      tiles_out[at + 2u] = min(BT, n - i * BT);
    }
  }
}

var<workgroup> w_tile: array<vec4<f32>, GK * GM / 4u>; // [GK][GM/4]: rows 4i..4i+3 of one column, scaled
var<workgroup> x_tile: array<vec4<f32>, GK * BT / 4u>; // [GK][BT/4]: 4 tokens of one column

/** One token tile: its expert, its first index into `order` and its token count (0: nothing to do). */
struct Tile {
  e: u32,
  start: u32,
  n: u32,
}

fn tile_of(i: u32) -> Tile {
  if (i >= tiles[0]) {
    return Tile(0u, 0u, 0u);
  }
  let t = Tile(tiles[1u + 3u * i], tiles[2u + 3u * i], tiles[3u + 3u * i]);
  if (t.e < p.e0 || t.e >= p.e1) {
    return Tile(0u, 0u, 0u);
  }
  return t;
}

/**
 * Weights at columns c..c+7 of row r of expert e (el within this part): 8 MXFP4 codes times their block's
 * scale, or 8 floats widened (columns past cols: 0).
 */
fn weights8(el: u32, e: u32, r: u32, c: u32) -> array<f32, 8> {
  if (WDT == 3u) {
    let si = ((e * p.rows + r) * p.cols + c) / 32u;
    var v = codes8(weights[(el * p.rows + r) * (p.cols / 8u) + c / 8u]);
    let s = e8m0(byte_of(scales[si / 4u], si));
    for (var i = 0u; i < 8u; i++) {
      v[i] *= s;
    }
    return v;
  }
  var v: array<f32, 8>;
  for (var i = 0u; i < 4u; i++) {
    if (c + 2u * i < p.cols) {
      let w = weight_pair(el * p.rows + r, c / 2u + i, p.cols);
      v[2u * i] = w.x;
      v[2u * i + 1u] = w.y;
    }
  }
  return v;
}

/**
 * Rows r0.. of expert tile.e times the tile's inputs: acc[i][j] = row r0 + tr*TM + i . x[row of token
 * 4tt + j], where the input row of tile token j is order[start + j] / x_div (gate_up reads tokens, down
 * reads slots). Every thread of the workgroup calls it (barriers).
 */
fn tile_matmul(lid: u32, r0: u32, tile: Tile, x_div: u32) -> array<vec4<f32>, 4> {
  var acc: array<vec4<f32>, 4>;
  let el = tile.e - p.e0;
  // loading x: thread lid < BT*4 fetches column pair cp of tile tokens 4quad..4quad+3
  let quad = lid / 16u;
  let cp = lid % 16u;
  var xrow: array<u32, 4>;
  var xlive: array<bool, 4>;
  for (var j = 0u; j < 4u; j++) {
    let tj = 4u * quad + j;
    xlive[j] = quad < BT / 4u && tj < tile.n;
    xrow[j] = select(0u, order[tile.start + min(tj, tile.n - 1u)] / x_div, xlive[j]);
  }
  let tr = lid / (BT / 4u);
  let tt = lid % (BT / 4u);
  for (var k0 = 0u; k0 < p.cols; k0 += GK) {
    // weights: 64 rows x 32 columns as 64 pieces of 4 rows x 8 columns (WG >= 128 threads: one pass)
    if (lid < GM) {
      let rq = lid / 4u;
      let wq = lid % 4u;
      var v: array<array<f32, 8>, 4>;
      for (var q = 0u; q < 4u; q++) {
        let r = r0 + 4u * rq + q;
        if (r < p.rows) {
          v[q] = weights8(el, tile.e, r, k0 + 8u * wq);
        }
      }
      for (var c = 0u; c < 8u; c++) {
        w_tile[(8u * wq + c) * (GM / 4u) + rq] = vec4<f32>(v[0][c], v[1][c], v[2][c], v[3][c]);
      }
    }
    if (quad < BT / 4u) {
      var xa = vec4<f32>(0.0);
      var xb = vec4<f32>(0.0);
      for (var j = 0u; j < 4u; j++) {
        if (xlive[j] && k0 + 2u * cp < p.cols) {
          let v = x[(xrow[j] * p.cols + k0) / 2u + cp];
          xa[j] = v.x;
          xb[j] = v.y;
        }
      }
      x_tile[2u * cp * (BT / 4u) + quad] = xa;
      x_tile[(2u * cp + 1u) * (BT / 4u) + quad] = xb;
    }
    workgroupBarrier();
    // rows tr*TM.. lie in one vec4 of w_tile (TM is 2 or 4), from component o on
    let o = tr * TM % 4u;
    for (var c = 0u; c < GK; c++) {
      let b = x_tile[c * (BT / 4u) + tt];
      let w = w_tile[c * (GM / 4u) + tr * TM / 4u];
      for (var i = 0u; i < TM; i++) {
        acc[i] += w[o + i] * b;
      }
    }
    workgroupBarrier();
  }
  return acc;
}

/** SwiGLU of a gate and an up value: clamped (gpt-oss) or plain (-g clamped to 80: exp stays finite). */
fn swiglu(g: f32, u: f32) -> f32 {
  if (CLAMPED) {
    let gate = min(g, p.limit);
    let up = clamp(u, -p.limit, p.limit);
    return (up + 1.0) * (gate / (1.0 + exp(-p.alpha * gate)));
  }
  return g / (1.0 + exp(min(-g, 80.0))) * u;
}

// Workgroup (row tile, token tile); act rows are slots.
@compute @workgroup_size(WG)
fn gate_up_swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = tile_of(wid.y);
  if (tile.n == 0u) {
    return;
  }
  let r0 = wid.x * GM;
  let acc = tile_matmul(lid, r0, tile, p.k);
  let tr = lid / (BT / 4u);
  let tt = lid % (BT / 4u);
  let ffn = p.rows / 2u;
  for (var i = 0u; i < TM; i += 2u) {
    let r = r0 + tr * TM + i; // even: the gate row, r + 1 the up row
    if (r >= p.rows) {
      break;
    }
    var bg = 0.0;
    var bu = 0.0;
    if (HAS_BIAS) {
      bg = bias[tile.e * p.rows + r];
      bu = bias[tile.e * p.rows + r + 1u];
    }
    for (var j = 0u; j < 4u; j++) {
      let tj = 4u * tt + j;
      if (tj < tile.n) {
        act[order[tile.start + tj] * ffn + r / 2u] = swiglu(acc[i][j] + bg, acc[i + 1u][j] + bu);
      }
    }
  }
}

// Workgroup (row tile, token tile); inputs and outputs are slots.
@compute @workgroup_size(WG)
fn down(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = tile_of(wid.y);
  if (tile.n == 0u) {
    return;
  }
  let r0 = wid.x * GM;
  let acc = tile_matmul(lid, r0, tile, 1u);
  let tr = lid / (BT / 4u);
  let tt = lid % (BT / 4u);
  for (var i = 0u; i < TM; i++) {
    let r = r0 + tr * TM + i;
    if (r >= p.rows) {
      break;
    }
    var b = 0.0;
    if (HAS_BIAS) {
      b = bias[tile.e * p.rows + r];
    }
    for (var j = 0u; j < 4u; j++) {
      let tj = 4u * tt + j;
      if (tj < tile.n) {
        let slot = order[tile.start + tj];
        slot_out[slot * p.rows + r] = sel_w[slot] * (acc[i][j] + b);
      }
    }
  }
}

// One thread per output element; the k slots of a token are added in order j = 0, 1, ...
@compute @workgroup_size(64)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * 65535u * 64u + gid.x;
  if (i >= p.tokens * p.rows) {
    return;
  }
  let t = i / p.rows;
  let r = i % p.rows;
  var sum = 0.0;
  for (var j = 0u; j < p.k; j++) {
    sum += slot_out[(t * p.k + j) * p.rows + r];
  }
  moe[i] = sum;
}

// e2m1, e8m0, codes8, weight_pair and the Params (last: compiler line numbers above match this file)
//! include mxfp4.wgsl
//! include float_words.wgsl
//! include moe_params.wgsl
