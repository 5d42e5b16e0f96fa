// The GPT-2 forward pass on the WASM SIMD kernels: token + learned position embeddings, pre-LayerNorm
// blocks, multi-head causal attention (the sink attention kernel with every sink at -inf), GELU (tanh)
// MLP, final LayerNorm and the (usually tied) head. Mirrors ref/gpt2_backend.ts step by step.

import type { DebugSink } from "../backend.ts";
import type { Gpt2ViewConfig, Gpt2Weights } from "../legacy_views.ts";
import { DensePlacer, type PlacedMat } from "./dense_runtime.ts";
import {
  type DenseActivations,
  type DenseAttention,
  denseSizes,
  DenseWasmBackend,
  type DenseWasmOptions,
  type HeadShape,
  placeActivations,
} from "./dense_wasm_backend.ts";

interface Gpt2Layer extends DenseAttention {
  ln1W: number;
  ln1B: number;
  q: PlacedMat;
  qBias: number;
  k: PlacedMat;
  kBias: number;
  v: PlacedMat;
  vBias: number;
  ln2W: number;
  ln2B: number;
  fc: PlacedMat;
  fcBias: number;
  proj: PlacedMat;
  projBias: number;
}

/** Byte offsets of the weights and buffers; activations hold maxTokens rows. */
interface Gpt2Layout extends DenseActivations {
  tokenEmbed: PlacedMat;
  posEmbed: PlacedMat; // always F32
  finalW: number;
  finalB: number;
  unembed: PlacedMat;
  layers: Gpt2Layer[];
  hidden: number; // [T, ffn]
}

export class Gpt2WasmBackend extends DenseWasmBackend<Gpt2ViewConfig, Gpt2Layout> {
  static create(config: Gpt2ViewConfig, w: Gpt2Weights, opts: DenseWasmOptions): Gpt2WasmBackend {
    const c = config, H = c.hiddenSize;
    // learned positions: there is no embedding past n_positions
    const { ctx, T } = denseSizes(c.maxContext, c.headDim, opts);
    const heads: HeadShape = { heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim };
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
      ...placeActivations(p, T, ctx, H, c.vocabSize, heads),
      hidden: p.floats(T * c.ffnSize),
    };
    return new Gpt2WasmBackend(config, ctx, T, p.finish(T), b, heads);
  }

  protected chunk(T: number, pos: number, first: number, dbg: DebugSink | undefined): number {
    const c = this.config, rt = this.rt, k = rt.k, b = this.b, H = c.hiddenSize, eps = c.norm.eps;
    const emit = this.emitter(dbg);

    // token embedding + learned position embedding
    rt.gather(b.tokenEmbed, b.ids, T, b.x);
    k.add_position_rows(b.x, b.posEmbed.at, pos, T, H);
    emit("embedding", -1, T, b.x, H);

    for (let l = 0; l < c.numLayers; l++) {
      const L = b.layers[l];
      // attention layernorm, q, k, v, then causal multi-head attention (no sinks, no window), residual
      k.layernorm(b.xn, b.x, L.ln1W, L.ln1B, eps, T, H);
      emit("attn_norm", l, T, b.xn, H);
      rt.linear(L.q, L.qBias, b.xn, T, b.q);
      rt.linear(L.k, L.kBias, b.xn, T, b.k);
      rt.linear(L.v, L.vBias, b.xn, T, b.v);
      this.attend(L, l, T, pos, 0, emit);

      // mlp layernorm, c_fc, gelu, c_proj, residual
      k.layernorm(b.xn, b.x, L.ln2W, L.ln2B, eps, T, H);
      emit("mlp_norm", l, T, b.xn, H);
      rt.linear(L.fc, L.fcBias, b.xn, T, b.hidden);
      k.gelu_tanh(b.hidden, T * c.ffnSize);
      rt.linear(L.proj, L.projBias, b.hidden, T, b.proj);
      this.addMlp(l, T, H, emit);
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
