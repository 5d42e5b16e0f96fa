// Embedding rows to f32: the host knows the token ids (and positions), so it gathers each row of the
// embedding matrix with a buffer copy (from whichever part holds it) into `weights` [tokens, n], in the
// matrix's dtype; this widens them: y[t, :] = row t (entry `main`), or y[t, :] += row t (entry `add`:
// learned positions added to the token embedding). WDT 0 = bf16, 1 = f16, 2 = f32 (n even).

override WG: u32 = 64;
override WDT: u32 = 0;

struct Params {
  tokens: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weights: array<u32>; // [tokens, n] the gathered rows
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  for (var i = lid; i < p.n / 2u; i += WG) {
    let v = weight_pair(t, i, p.n);
    y[t * p.n + 2u * i] = v.x;
    y[t * p.n + 2u * i + 1u] = v.y;
  }
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  for (var i = lid; i < p.n / 2u; i += WG) {
    let v = weight_pair(t, i, p.n);
    y[t * p.n + 2u * i] += v.x;
    y[t * p.n + 2u * i + 1u] += v.y;
  }
}

// weight_pair (last, so that compiler line numbers above match this file)
//! include float_words.wgsl
