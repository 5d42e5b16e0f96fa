// The GPT-2 forward pass on the WASM SIMD kernels: token + learned position embeddings, pre-LayerNorm
// blocks, multi-head causal attention (the sink attention kernel with every sink at -inf), GELU (tanh)
// MLP, final LayerNorm and the (usually tied) head. Mirrors ref/gpt2_backend.ts step by step.

import { OssiError } from "../../io/errors.ts";
import type { Gpt2Config, Gpt2Weights } from "../../model/gpt2.ts";
import type { DebugSink } from "../backend.ts";
import { DensePlacer, type DenseRuntime, type PlacedMat } from "./dense_runtime.ts";
import { DEFAULT_MAX_TOKENS, DenseWasmBackend, type DenseWasmOptions } from "./dense_wasm_backend.ts";

interface Gpt2Layer {
  ln1W: number;
  ln1B: number;
  q: PlacedMat;
  qBias: number;
  k: PlacedMat;
  kBias: number;
  v: PlacedMat;
  vBias: number;
  o: PlacedMat;
  oBias: number;
  ln2W: number;
  ln2B: number;
  fc: PlacedMat;
  fcBias: number;
  proj: PlacedMat;
  projBias: number;
  kCache: number; // [maxContext, hidden]
  vCache: number;
}

/** Byte offsets of the weights and buffers; activations hold maxTokens rows. */
interface Gpt2Layout {
  tokenEmbed: PlacedMat;
  posEmbed: PlacedMat; // always F32
  finalW: number;
  finalB: number;
  unembed: PlacedMat;
  layers: Gpt2Layer[];
  x: number; // [T, hidden] residual stream
  xn: number;
  q: number;
  k: number;
  v: number;
  att: number;
  proj: number;
  hidden: number; // [T, ffn]
  logits: number; // [T, vocab]
  scores: number; // [maxContext]
  sinks: number; // [heads], all -inf
}

export class Gpt2WasmBackend extends DenseWasmBackend<Gpt2Config> {
  private constructor(
    config: Gpt2Config,
    maxContext: number,
    maxTokens: number,
    rt: DenseRuntime,
    ids: number,
    private readonly b: Gpt2Layout,
  ) {
    super(config, maxContext, maxTokens, rt, ids);
  }

  static create(config: Gpt2Config, w: Gpt2Weights, opts: DenseWasmOptions): Gpt2WasmBackend {
    const c = config, H = c.hiddenSize, F = c.ffnSize, V = c.vocabSize;
    // learned positions: there is no embedding past n_positions
    const ctx = Math.min(opts.maxContext, c.maxContext), T = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (c.headDim % 4 !== 0) {
      throw new OssiError(`wasm backend: needs head_dim % 4 == 0 (got ${c.headDim}); try --backend ref`);
    }
    const p = new DensePlacer();
    const layers = w.layers.map((L): Gpt2Layer => ({
      ln1W: p.vec(L.ln1W),
      ln1B: p.vec(L.ln1B),
      q: p.mat(L.q),
      qBias: p.vec(L.qBias),
      k: p.mat(L.k),
      kBias: p.vec(L.kBias),
      v: p.mat(L.v),
      vBias: p.vec(L.vBias),
      o: p.mat(L.o),
      oBias: p.vec(L.oBias),
      ln2W: p.vec(L.ln2W),
      ln2B: p.vec(L.ln2B),
      fc: p.mat(L.fc),
      fcBias: p.vec(L.fcBias),
      proj: p.mat(L.proj),
      projBias: p.vec(L.projBias),
      kCache: p.floats(ctx * H),
      vCache: p.floats(ctx * H),
    }));
    const b: Gpt2Layout = {
      tokenEmbed: p.mat(w.tokenEmbed),
      posEmbed: p.mat(w.posEmbed, true),
      finalW: p.vec(w.finalNormW),
      finalB: p.vec(w.finalNormB),
      unembed: p.mat(w.unembed),
      layers,
      x: p.floats(T * H),
      xn: p.floats(T * H),
      q: p.floats(T * H),
      k: p.floats(T * H),
      v: p.floats(T * H),
      att: p.floats(T * H),
      proj: p.floats(T * H),
      hidden: p.floats(T * F),
      logits: p.floats(T * V),
      scores: p.floats(ctx),
      sinks: p.vec(new Float32Array(c.numHeads).fill(-Infinity)),
    };
    const ids = p.floats(T);
    return new Gpt2WasmBackend(config, ctx, T, p.finish(T), ids, b);
  }

  protected chunk(T: number, pos: number, first: number, dbg: DebugSink | undefined): number {
    const c = this.config, rt = this.rt, k = rt.k, b = this.b, H = c.hiddenSize, eps = c.layerNormEps;
    const emit = (name: string, layer: number, rows: number, at: number, width: number) =>
      dbg?.(name, layer, rows, rt.read(at, rows * width));

    // token embedding + learned position embedding
    if (b.tokenEmbed.dtype === "BF16") k.gather_rows_bf16(b.tokenEmbed.at, this.ids, T, H, b.x);
    else k.gather_rows_f32(b.tokenEmbed.at, this.ids, T, H, b.x);
    k.add_position_rows(b.x, b.posEmbed.at, pos, T, H);
    emit("embedding", -1, T, b.x, H);

    for (let l = 0; l < c.numLayers; l++) {
      const L = b.layers[l];
      // attention layernorm, q, k, v, append k, v to the cache (positions >= pos are overwritten)
      k.layernorm(b.xn, b.x, L.ln1W, L.ln1B, eps, T, H);
      emit("attn_norm", l, T, b.xn, H);
      rt.linear(L.q, L.qBias, b.xn, T, b.q);
      rt.linear(L.k, L.kBias, b.xn, T, b.k);
      rt.linear(L.v, L.vBias, b.xn, T, b.v);
      rt.copy(L.kCache + pos * H * 4, b.k, T * H);
      rt.copy(L.vCache + pos * H * 4, b.v, T * H);
      // causal multi-head attention (no sinks, no window)
      k.sdpa_sink_window(
        b.att,
        b.q,
        L.kCache,
        L.vCache,
        pos,
        T,
        0,
        b.sinks,
        c.numHeads,
        c.numHeads,
        c.headDim,
        b.scores,
      );
      // output projection, residual
      rt.linear(L.o, L.oBias, b.att, T, b.proj);
      emit("attn_out", l, T, b.proj, H);
      k.add_inplace(b.x, b.proj, T * H);
      emit("residual_after_attention", l, T, b.x, H);

      // mlp layernorm, c_fc, gelu, c_proj, residual
      k.layernorm(b.xn, b.x, L.ln2W, L.ln2B, eps, T, H);
      emit("mlp_norm", l, T, b.xn, H);
      rt.linear(L.fc, L.fcBias, b.xn, T, b.hidden);
      k.gelu_tanh(b.hidden, T * c.ffnSize);
      rt.linear(L.proj, L.projBias, b.hidden, T, b.proj);
      emit("mlp_out", l, T, b.proj, H);
      k.add_inplace(b.x, b.proj, T * H);
      emit("residual_after_mlp", l, T, b.x, H);
    }

    const rows = T - first;
    if (rows > 0) {
      // final layernorm, head
      k.layernorm(b.xn, b.x + first * H * 4, b.finalW, b.finalB, eps, rows, H);
      emit("final_norm", -1, rows, b.xn, H);
      rt.linear(b.unembed, 0, b.xn, rows, b.logits);
    }
    return b.logits;
  }
}
