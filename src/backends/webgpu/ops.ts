// Thin host wrappers, one per WGSL kernel: check shapes, fill Params, pick the variant, dispatch.
// They allocate nothing; every buffer is passed in.

import type { GpuExperts, GpuMat } from "./gpu_weights.ts";
import type { Recorder } from "./recorder.ts";

const WG = 64;
/** Rows and the 2-D grid that covers them (row = wid.y * 32768 + wid.x in the shaders). */
const rowGrid = (rows: number): [number, number] => [Math.min(rows, 32768), Math.ceil(rows / 32768)];
/** Workgroups for one thread per element (index = gid.y * 65535 * WG + gid.x). */
const elemGrid = (n: number): [number, number] => {
  const g = Math.max(1, Math.ceil(n / WG));
  return [Math.min(g, 65535), Math.ceil(g / 65535)];
};

function check(ok: boolean, what: string): void {
  if (!ok) throw new RangeError(`webgpu kernel: ${what}`);
}

export interface MatmulArgs {
  readonly w: GpuMat;
  readonly bias: GPUBuffer | null;
  /** Placeholder bound where a kernel has no bias (bindings must be complete). */
  readonly dummy: GPUBuffer;
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  readonly xStride?: number;
  readonly y: GPUBuffer;
  readonly yOffset?: number;
  readonly yStride?: number;
  readonly tokens: number;
}

/** y[t, yOffset + r] = W x[t] + b over every part of W. Decode (1 token) uses the TT = 1 variant. */
export function matmul(rec: Recorder, a: MatmulArgs): void {
  const { w } = a;
  check(a.tokens > 0 && w.cols % 2 === 0, `matmul tokens ${a.tokens}, cols ${w.cols}`);
  const TT = a.tokens === 1 ? 1 : 8;
  for (const part of w.parts) {
    rec.dispatch(
      "f32_bf16w_matmul",
      "main",
      { WG, TT, WDT: w.wdt, HAS_BIAS: a.bias !== null },
      { 1: part.buffer, 2: a.x, 3: a.bias ?? a.dummy, 4: a.y },
      {
        rows: part.rows,
        cols: w.cols,
        tokens: a.tokens,
        row0: part.row0,
        x_stride: a.xStride ?? w.cols,
        x_offset: a.xOffset ?? 0,
        y_stride: a.yStride ?? w.rows,
        y_offset: a.yOffset ?? 0,
      },
      [...rowGrid(part.rows), Math.ceil(a.tokens / TT)],
    );
  }
}

export function rmsnorm(
  rec: Recorder,
  x: GPUBuffer,
  xOffset: number,
  w: GPUBuffer,
  y: GPUBuffer,
  tokens: number,
  n: number,
  eps: number,
): void {
  rec.dispatch("rmsnorm", "main", { WG }, { 1: x, 2: w, 3: y }, { tokens, n, x_offset: xOffset, eps }, [
    tokens,
  ]);
}

/** x += r (in place), then y = rmsnorm(x) * w, row by row: the residual add fused with the next norm. */
export function addRmsnorm(
  rec: Recorder,
  x: GPUBuffer,
  r: GPUBuffer,
  w: GPUBuffer,
  y: GPUBuffer,
  tokens: number,
  n: number,
  eps: number,
): void {
  rec.dispatch("rmsnorm", "add_main", { WG }, { 2: w, 3: y, 4: x, 5: r }, { tokens, n, x_offset: 0, eps }, [
    tokens,
  ]);
}

/** Rotates `tokens` rows (at `offset`, `stride` apart) of `heads` vectors for positions pos0, pos0+1, ... */
export function rope(
  rec: Recorder,
  v: GPUBuffer,
  offset: number,
  stride: number,
  tokens: number,
  heads: number,
  headDim: number,
  pos0: number,
  cosSin: GPUBuffer,
): void {
  rec.dispatch(
    "rope_yarn",
    "main",
    { WG },
    { 1: cosSin, 2: v },
    { tokens, heads, kv_heads: 0, head_dim: headDim, pos0, offset, stride },
    elemGrid((tokens * heads * headDim) / 2),
  );
}

export interface RopeQkvArgs {
  readonly qkv: GPUBuffer; // [tokens, (heads + 2 kvHeads) headDim] fused projection output
  readonly q: GPUBuffer; // [tokens, heads*headDim] rotated q
  readonly kCache: GPUBuffer; // rows pos0.. get the rotated k
  readonly vCache: GPUBuffer; // rows pos0.. get v
  readonly cosSin: GPUBuffer;
  readonly tokens: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly pos0: number;
  /** The caches hold f16 (the "f16kv" shader variant). */
  readonly kvF16?: boolean;
  /** false: no rotation (learned positions); q, k, v are only split and appended. Default true. */
  readonly rope?: boolean;
}

/** Splits fused q|k|v rows: rope on q and k, k and v appended to the KV caches at positions pos0.. */
export function ropeQkv(rec: Recorder, a: RopeQkvArgs): void {
  const half = a.headDim / 2, kvw = a.kvHeads * a.headDim;
  rec.dispatch(
    "rope_yarn",
    "qkv_main",
    a.rope === false ? { WG, ROPE: false } : { WG },
    { 1: a.cosSin, 3: a.qkv, 4: a.q, 5: a.kCache, 6: a.vCache },
    {
      tokens: a.tokens,
      heads: a.heads,
      kv_heads: a.kvHeads,
      head_dim: a.headDim,
      pos0: a.pos0,
      offset: 0,
      stride: (a.heads + 2 * a.kvHeads) * a.headDim,
    },
    elemGrid(a.tokens * ((a.heads + a.kvHeads) * half + kvw)),
    a.kvF16 ? "f16kv" : "f32",
  );
}

export interface AttentionArgs {
  readonly q: GPUBuffer;
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly sinks: GPUBuffer;
  readonly out: GPUBuffer;
  readonly tokens: number;
  readonly pos0: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly window: number;
  /** The caches hold f16 (the "f16kv" shader variant). */
  readonly kvF16?: boolean;
}

export function attention(rec: Recorder, a: AttentionArgs): void {
  check(
    a.headDim <= 2 * WG && a.heads % a.kvHeads === 0,
    `attention head_dim ${a.headDim}, heads ${a.heads}/${a.kvHeads}`,
  );
  rec.dispatch(
    "sdpa_sink_window",
    "main",
    { WG },
    { 1: a.q, 2: a.k, 3: a.v, 4: a.sinks, 5: a.out },
    {
      tokens: a.tokens,
      pos0: a.pos0,
      heads: a.heads,
      kv_heads: a.kvHeads,
      head_dim: a.headDim,
      window: a.window,
      scale: 1 / Math.sqrt(a.headDim),
    },
    [a.heads, a.tokens],
    a.kvF16 ? "f16kv" : "f32",
  );
}

export interface MoeArgs {
  readonly routerLogits: GPUBuffer; // [tokens, experts]
  readonly sel: GPUBuffer; // [tokens, k] u32
  readonly selW: GPUBuffer; // [tokens, k]
  readonly x: GPUBuffer; // [tokens, hidden] normed input
  readonly act: GPUBuffer; // [tokens, k, ffn] scratch
  readonly out: GPUBuffer; // [tokens, hidden]
  readonly gateUp: GpuExperts; // [experts, 2*ffn, hidden]
  readonly down: GpuExperts; // [experts, hidden, ffn]
  readonly tokens: number;
  readonly k: number;
  readonly limit: number;
  readonly alpha: number;
}

/** Router top-k + softmax, gate_up + clamped SwiGLU, down and the weighted sum, for the chosen experts only. */
export function moe(rec: Recorder, a: MoeArgs): void {
  const { gateUp, down, tokens, k } = a;
  check(gateUp.numExperts <= 256 && gateUp.cols % 32 === 0 && down.cols % 32 === 0, "moe shapes");
  check(down.cols * 2 === gateUp.rows && down.rows === gateUp.cols, "moe gate_up/down shapes disagree");
  const base = { tokens, k, num_experts: gateUp.numExperts, limit: a.limit, alpha: a.alpha, first: 0 };
  rec.dispatch("f32_mxfp4w_moe", "router_topk", { WG }, { 1: a.routerLogits, 2: a.sel, 3: a.selW }, {
    ...base,
    rows: 0,
    cols: 0,
    e0: 0,
    e1: 0,
  }, [Math.ceil(tokens / WG)]);
  for (const part of gateUp.parts) {
    rec.dispatch(
      "f32_mxfp4w_moe",
      "gate_up_swiglu",
      { WG },
      { 2: a.sel, 4: part.buffer, 5: gateUp.scales, 6: gateUp.bias, 7: a.x, 8: a.act },
      { ...base, rows: gateUp.rows, cols: gateUp.cols, e0: part.e0, e1: part.e1 },
      [...rowGrid(gateUp.rows / 2), tokens * k],
    );
  }
  down.parts.forEach((part, i) => {
    rec.dispatch(
      "f32_mxfp4w_moe",
      "down",
      { WG },
      { 2: a.sel, 3: a.selW, 4: part.buffer, 5: down.scales, 6: down.bias, 7: a.act, 9: a.out },
      { ...base, rows: down.rows, cols: down.cols, e0: part.e0, e1: part.e1, first: i === 0 ? 1 : 0 },
      [...rowGrid(down.rows), tokens],
    );
  });
}

/** y[t] = row ids[t] of the embedding matrix. */
export function embed(rec: Recorder, ids: GPUBuffer, w: GpuMat, y: GPUBuffer, tokens: number): void {
  for (const part of w.parts) {
    rec.dispatch("embedding_gather", "main", { WG, WDT: w.wdt }, { 1: ids, 2: part.buffer, 3: y }, {
      tokens,
      n: w.cols,
      row0: part.row0,
      rows: part.rows,
    }, [tokens]);
  }
}

/** y[i] += x[i], i < n. */
export function addInplace(rec: Recorder, x: GPUBuffer, y: GPUBuffer, n: number): void {
  rec.dispatch("add_inplace", "main", { WG }, { 1: x, 2: y }, { n }, elemGrid(n));
}

/** out[t] = argmax of row t of [rows, n] logits. */
export function argmax(rec: Recorder, logits: GPUBuffer, out: GPUBuffer, rows: number, n: number): void {
  rec.dispatch("argmax", "main", { WG }, { 1: logits, 2: out }, { n, k: 1 }, [rows]);
}

/** ids[t, :k] and vals[t, :k]: the k largest of row t (value desc, index asc), k <= n. */
export function topk(
  rec: Recorder,
  logits: GPUBuffer,
  ids: GPUBuffer,
  vals: GPUBuffer,
  rows: number,
  n: number,
  k: number,
): void {
  check(k >= 1 && k <= n, `topk k ${k} of ${n}`);
  rec.dispatch("argmax", "topk_main", { WG: 256 }, { 1: logits, 2: ids, 3: vals }, { n, k }, [rows]);
}
