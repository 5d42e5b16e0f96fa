// The reference Qwen3 / Qwen3-MoE forward pass in plain float32 TypeScript: RMSNorm, GQA with per-head
// QK-norm before RoPE, and per layer either a dense SwiGLU MLP or a softmax-then-top-k routed MoE.

import type { Qwen3Config, Qwen3DenseMlp, Qwen3MoeMlp, Qwen3Weights } from "../../model/qwen3.ts";
import { type Backend, checkTokens, type DebugSink, type ForwardOptions } from "../backend.ts";
import { linear, loadRow, rmsnorm, rope, type RopeTables, ropeTables } from "./kernels.ts";
import { attentionCausal, qkNorm, softmaxTopk, swiglu } from "./kernels_dense.ts";
import { LayerKvCache } from "./layer_kv_cache.ts";

export class Qwen3RefBackend implements Backend<Qwen3Config> {
  readonly name = "ref" as const;
  private readonly rope: RopeTables;
  private readonly cache: LayerKvCache;

  constructor(
    readonly config: Qwen3Config,
    private readonly w: Qwen3Weights,
    readonly maxContext = config.maxContext,
  ) {
    this.rope = ropeTables(config.rope);
    this.cache = new LayerKvCache(config.numLayers, config.numKvHeads * config.headDim, maxContext);
  }

  forward(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Promise<Float32Array> {
    return Promise.resolve(this.forwardSync(tokens, pos, opts));
  }

  forwardSync(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Float32Array {
    const c = this.config, w = this.w, T = tokens.length, H = c.hiddenSize, D = c.headDim, dbg = opts.debug;
    const qw = c.numHeads * D, kvw = c.numKvHeads * D;
    checkTokens(tokens, pos, this.maxContext, c.vocabSize);
    this.cache.ensure(pos + T);

    const x = new Float32Array(T * H); // residual stream
    const xn = new Float32Array(T * H);
    const q = new Float32Array(T * qw), k = new Float32Array(T * kvw), v = new Float32Array(T * kvw);
    const att = new Float32Array(T * qw), proj = new Float32Array(T * H), ffnOut = new Float32Array(T * H);

    // token embedding
    for (let t = 0; t < T; t++) {
      const id = tokens[t];
      loadRow(w.embed, id, x.subarray(t * H, (t + 1) * H), new Uint32Array(x.buffer, t * H * 4, H));
    }
    dbg?.("embedding", -1, T, x);

    for (let l = 0; l < c.numLayers; l++) {
      const L = w.layers[l], kc = this.cache.k[l], vc = this.cache.v[l];
      // attention rmsnorm
      rmsnorm(xn, x, L.attnNorm, c.rmsNormEps, T, H);
      dbg?.("attn_norm", l, T, xn);
      // q, k, v projections
      linear(q, xn, L.q, L.qBias, T);
      linear(k, xn, L.k, L.kBias, T);
      linear(v, xn, L.v, L.vBias, T);
      // per-head RMSNorm of q and k, then rope, then append k, v to the cache
      qkNorm(q, L.qNorm, c.rmsNormEps, T, c.numHeads, D);
      qkNorm(k, L.kNorm, c.rmsNormEps, T, c.numKvHeads, D);
      for (let t = 0; t < T; t++) {
        rope(q, t * qw, c.numHeads, D, pos + t, this.rope);
        rope(k, t * kvw, c.numKvHeads, D, pos + t, this.rope);
      }
      dbg?.("q_after_qk_norm_and_rope", l, T, q);
      dbg?.("k_after_qk_norm_and_rope", l, T, k);
      kc.set(k, pos * kvw);
      vc.set(v, pos * kvw);
      // causal grouped-query attention
      for (let t = 0; t < T; t++) {
        attentionCausal(
          att,
          t * qw,
          q,
          t * qw,
          kc,
          vc,
          pos + t,
          c.layerWindows[l],
          c.numHeads,
          c.numKvHeads,
          D,
        );
      }
      // output projection, residual
      linear(proj, att, L.o, L.oBias, T);
      dbg?.("attn_out", l, T, proj);
      for (let i = 0; i < T * H; i++) x[i] += proj[i];
      dbg?.("residual_after_attention", l, T, x);

      // mlp rmsnorm, the layer's FFN (dense SwiGLU or routed experts), residual
      rmsnorm(xn, x, L.mlpNorm, c.rmsNormEps, T, H);
      dbg?.("mlp_norm", l, T, xn);
      if (L.ffn.kind === "moe") this.moe(ffnOut, xn, L.ffn, T, l, dbg);
      else denseMlp(ffnOut, xn, L.ffn, T);
      dbg?.("mlp_out", l, T, ffnOut);
      for (let i = 0; i < T * H; i++) x[i] += ffnOut[i];
      dbg?.("residual_after_mlp", l, T, x);
    }

    if (opts.logits === "none") return new Float32Array(0);
    const first = opts.logits === "last" ? T - 1 : 0, rows = T - first;
    // final norm, unembedding
    const xf = new Float32Array(rows * H);
    rmsnorm(xf, x.subarray(first * H), w.finalNorm, c.rmsNormEps, rows, H);
    dbg?.("final_norm", -1, rows, xf);
    const logits = new Float32Array(rows * c.vocabSize);
    linear(logits, xf, w.unembed, null, rows);
    return logits;
  }

  /** Routed experts: softmax over all router logits, top-k, optional renormalisation, weighted SwiGLUs. */
  private moe(
    out: Float32Array,
    xn: Float32Array,
    m: Qwen3MoeMlp,
    T: number,
    l: number,
    dbg?: DebugSink,
  ): void {
    const H = this.config.hiddenSize,
      { numExperts: E, expertsPerToken: K, expertSize: F, normTopkProb } = this.config.moe!;
    const routerLogits = new Float32Array(T * E);
    linear(routerLogits, xn, m.router, null, T);
    dbg?.("router_logits", l, T, routerLogits);
    const chosen = new Float32Array(T * K), weights = new Float32Array(T * K);
    const gate = new Float32Array(F),
      up = new Float32Array(F),
      act = new Float32Array(F),
      down = new Float32Array(H);
    out.fill(0);
    for (let t = 0; t < T; t++) {
      const sel = softmaxTopk(routerLogits.subarray(t * E, (t + 1) * E), K, normTopkProb);
      const xt = xn.subarray(t * H, (t + 1) * H);
      for (let j = 0; j < K; j++) {
        const e = sel.experts[j];
        chosen[t * K + j] = e;
        weights[t * K + j] = sel.weights[j];
        linear(gate, xt, m.gate[e], null, 1);
        linear(up, xt, m.up[e], null, 1);
        swiglu(act, gate, up, F);
        linear(down, act, m.down[e], null, 1);
        for (let i = 0; i < H; i++) out[t * H + i] += sel.weights[j] * down[i];
      }
    }
    dbg?.("router_topk", l, T, chosen);
    dbg?.("expert_weights", l, T, weights);
  }

  dispose(): void {}
}

/** Dense SwiGLU MLP: down(silu(gate x) * up x) for T tokens. */
function denseMlp(out: Float32Array, xn: Float32Array, m: Qwen3DenseMlp, T: number): void {
  const F = m.gate.rows;
  const gate = new Float32Array(T * F), up = new Float32Array(T * F), act = new Float32Array(T * F);
  linear(gate, xn, m.gate, null, T);
  linear(up, xn, m.up, null, T);
  swiglu(act, gate, up, T * F);
  linear(out, act, m.down, null, T);
}
