// Embedding gather: y[t, :] = row tokens[t] of a [vocab, n] weight matrix, widened to f32. The matrix may
// be split into row-range parts; a dispatch over one part writes only the tokens whose row it holds.
// WDT 0 = bf16, 1 = f16, 2 = f32 (n even).

override WG: u32 = 64;
override WDT: u32 = 0;

struct Params {
  tokens: u32,
  n: u32,
  row0: u32, // rows [row0, row0 + rows) are in this part
  rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let id = ids[t];
  if (id < p.row0 || id >= p.row0 + p.rows) {
    return;
  }
  let r = id - p.row0;
  for (var i = lid; i < p.n / 2u; i += WG) {
    var v: vec2<f32>;
    if (WDT == 2u) {
      v = vec2<f32>(bitcast<f32>(w[r * p.n + 2u * i]), bitcast<f32>(w[r * p.n + 2u * i + 1u]));
    } else if (WDT == 1u) {
      v = unpack2x16float(w[r * (p.n / 2u) + i]);
    } else {
      let word = w[r * (p.n / 2u) + i];
      v = vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
    }
    y[t * p.n + 2u * i] = v.x;
    y[t * p.n + 2u * i + 1u] = v.y;
  }
}
