// The reference GPT-2 forward pass in plain float32 TypeScript: learned positions, pre-LayerNorm blocks,
// multi-head causal attention, GELU (tanh) MLP, tied LM head.

import type { Gpt2Config, Gpt2Weights } from "../../model/gpt2.ts";
import { type Backend, checkTokens, type ForwardOptions } from "../backend.ts";
import { linear, loadRow } from "./kernels.ts";
import { attentionCausal, geluTanh, layerNorm } from "./kernels_dense.ts";
import { LayerKvCache } from "./layer_kv_cache.ts";

export class Gpt2RefBackend implements Backend<Gpt2Config> {
  readonly name = "ref" as const;
  private readonly cache: LayerKvCache;

  constructor(
    readonly config: Gpt2Config,
    private readonly w: Gpt2Weights,
    readonly maxContext = config.maxContext,
  ) {
    // Learned positions: there is no embedding for a position past n_positions.
    this.maxContext = Math.min(maxContext, config.maxContext);
    this.cache = new LayerKvCache(config.numLayers, config.hiddenSize, this.maxContext);
  }

  forward(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Promise<Float32Array> {
    return Promise.resolve(this.forwardSync(tokens, pos, opts));
  }

  forwardSync(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Float32Array {
    const c = this.config, w = this.w, T = tokens.length, H = c.hiddenSize, F = c.ffnSize, dbg = opts.debug;
    checkTokens(tokens, pos, this.maxContext, c.vocabSize);
    this.cache.ensure(pos + T);

    const x = new Float32Array(T * H); // residual stream
    const xn = new Float32Array(T * H);
    const q = new Float32Array(T * H), k = new Float32Array(T * H), v = new Float32Array(T * H);
    const att = new Float32Array(T * H), proj = new Float32Array(T * H);
    const hidden = new Float32Array(T * F);
    const row = new Float32Array(H), bits = new Uint32Array(row.buffer);

    // token embedding + learned position embedding
    for (let t = 0; t < T; t++) {
      const id = tokens[t];
      loadRow(w.tokenEmbed, id, row, bits);
      x.set(row, t * H);
      loadRow(w.posEmbed, pos + t, row, bits);
      for (let i = 0; i < H; i++) x[t * H + i] += row[i];
    }
    dbg?.("embedding", -1, T, x);

    for (let l = 0; l < c.numLayers; l++) {
      const L = w.layers[l], kc = this.cache.k[l], vc = this.cache.v[l];
      // attention layernorm
      layerNorm(xn, x, L.ln1W, L.ln1B, c.layerNormEps, T, H);
      dbg?.("attn_norm", l, T, xn);
      // q, k, v (from the fused c_attn), append k, v to the cache
      linear(q, xn, L.q, L.qBias, T);
      linear(k, xn, L.k, L.kBias, T);
      linear(v, xn, L.v, L.vBias, T);
      kc.set(k, pos * H);
      vc.set(v, pos * H);
      // causal multi-head attention
      for (let t = 0; t < T; t++) {
        attentionCausal(att, t * H, q, t * H, kc, vc, pos + t, 0, c.numHeads, c.numHeads, c.headDim);
      }
      // output projection, residual
      linear(proj, att, L.o, L.oBias, T);
      dbg?.("attn_out", l, T, proj);
      for (let i = 0; i < T * H; i++) x[i] += proj[i];
      dbg?.("residual_after_attention", l, T, x);

      // mlp layernorm, c_fc, gelu, c_proj, residual
      layerNorm(xn, x, L.ln2W, L.ln2B, c.layerNormEps, T, H);
      dbg?.("mlp_norm", l, T, xn);
      linear(hidden, xn, L.fc, L.fcBias, T);
      geluTanh(hidden);
      linear(proj, hidden, L.proj, L.projBias, T);
      dbg?.("mlp_out", l, T, proj);
      for (let i = 0; i < T * H; i++) x[i] += proj[i];
      dbg?.("residual_after_mlp", l, T, x);
    }

    if (opts.logits === "none") return new Float32Array(0);
    const first = opts.logits === "last" ? T - 1 : 0, rows = T - first;
    // final layernorm, tied unembedding
    const xf = new Float32Array(rows * H);
    layerNorm(xf, x.subarray(first * H), w.finalNormW, w.finalNormB, c.layerNormEps, rows, H);
    dbg?.("final_norm", -1, rows, xf);
    const logits = new Float32Array(rows * c.vocabSize);
    linear(logits, xf, w.unembed, null, rows);
    return logits;
  }

  dispose(): void {}
}
