// The reference backend: the gpt-oss forward pass in plain float32 TypeScript over the scalar kernels.
// Slow and obviously correct; every other backend is checked against it.

import type { ModelConfig } from "../../model/config.ts";
import type { GptOssWeights } from "../../model/gpt_oss.ts";
import { type Backend, checkTokens, type ForwardOptions } from "../backend.ts";
import {
  attentionSink,
  expertLinear,
  linear,
  loadRow,
  rmsnorm,
  rope,
  type RopeTables,
  ropeTables,
  swigluClamped,
  topkSoftmax,
} from "./kernels.ts";

/** Per-layer key/value caches [capacity, kvHeads*headDim], grown on demand up to maxContext. */
class KvCache {
  k: Float32Array[];
  v: Float32Array[];
  capacity = 0;
  constructor(readonly layers: number, readonly width: number, readonly maxContext: number) {
    this.k = [];
    this.v = [];
  }
  ensure(tokens: number): void {
    if (tokens <= this.capacity) return;
    const cap = Math.min(this.maxContext, Math.max(tokens, this.capacity * 2, 64));
    for (let l = 0; l < this.layers; l++) {
      const k = new Float32Array(cap * this.width), v = new Float32Array(cap * this.width);
      if (this.k[l]) (k.set(this.k[l]), v.set(this.v[l]));
      this.k[l] = k;
      this.v[l] = v;
    }
    this.capacity = cap;
  }
}

export class RefBackend implements Backend {
  readonly name = "ref" as const;
  private readonly rope: RopeTables;
  private readonly cache: KvCache;

  constructor(
    readonly config: ModelConfig,
    private readonly w: GptOssWeights,
    readonly maxContext = config.maxContext,
  ) {
    this.rope = ropeTables(config.rope);
    this.cache = new KvCache(config.numLayers, config.numKvHeads * config.headDim, maxContext);
  }

  forward(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Promise<Float32Array> {
    return Promise.resolve(this.forwardSync(tokens, pos, opts));
  }

  forwardSync(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Float32Array {
    const c = this.config, w = this.w, T = tokens.length, H = c.hiddenSize, dbg = opts.debug;
    const qw = c.numHeads * c.headDim, kvw = c.numKvHeads * c.headDim, F = c.intermediateSize;
    checkTokens(tokens, pos, this.maxContext, c.vocabSize);
    this.cache.ensure(pos + T);

    const x = new Float32Array(T * H); // residual stream
    const xn = new Float32Array(T * H);
    const q = new Float32Array(T * qw), k = new Float32Array(T * kvw), v = new Float32Array(T * kvw);
    const att = new Float32Array(T * qw), proj = new Float32Array(T * H);
    const routerLogits = new Float32Array(T * c.numExperts);
    const gateUp = new Float32Array(2 * F), act = new Float32Array(F), down = new Float32Array(H);
    const moe = new Float32Array(T * H);

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
      // q, k, v projections with biases
      linear(q, xn, L.q, L.qBias, T);
      linear(k, xn, L.k, L.kBias, T);
      linear(v, xn, L.v, L.vBias, T);
      // rope on q and k, then append k, v to the cache
      for (let t = 0; t < T; t++) {
        rope(q, t * qw, c.numHeads, c.headDim, pos + t, this.rope);
        rope(k, t * kvw, c.numKvHeads, c.headDim, pos + t, this.rope);
      }
      kc.set(k, pos * kvw);
      vc.set(v, pos * kvw);
      // attention with sinks (sliding window on the layers that have one)
      for (let t = 0; t < T; t++) {
        attentionSink(
          att,
          t * qw,
          q,
          t * qw,
          kc,
          vc,
          pos + t,
          c.layerWindows[l],
          L.sinks,
          c.numHeads,
          c.numKvHeads,
          c.headDim,
        );
      }
      dbg?.("attn_core", l, T, att);
      // output projection, residual
      linear(proj, att, L.o, L.oBias, T);
      dbg?.("attn_out", l, T, proj);
      for (let i = 0; i < T * H; i++) x[i] += proj[i];
      dbg?.("residual_after_attention", l, T, x);

      // mlp rmsnorm, router top-k then softmax over the chosen experts
      rmsnorm(xn, x, L.mlpNorm, c.rmsNormEps, T, H);
      dbg?.("mlp_norm", l, T, xn);
      linear(routerLogits, xn, L.router, L.routerBias, T);
      dbg?.("router_logits", l, T, routerLogits);
      moe.fill(0);
      const topk = new Float32Array(T * c.expertsPerToken);
      for (let t = 0; t < T; t++) {
        const sel = topkSoftmax(
          routerLogits.subarray(t * c.numExperts, (t + 1) * c.numExperts),
          c.expertsPerToken,
        );
        for (let j = 0; j < c.expertsPerToken; j++) {
          const e = sel.experts[j];
          topk[t * c.expertsPerToken + j] = e;
          // gate_up, clamped SwiGLU, down, weighted sum
          expertLinear(gateUp, xn, t * H, L.gateUp, e);
          swigluClamped(act, gateUp, F, c.swigluLimit, c.swigluAlpha);
          expertLinear(down, act, 0, L.down, e);
          for (let i = 0; i < H; i++) moe[t * H + i] += sel.weights[j] * down[i];
        }
      }
      dbg?.("router_topk", l, T, topk);
      dbg?.("moe_out", l, T, moe);
      // residual
      for (let i = 0; i < T * H; i++) x[i] += moe[i];
      dbg?.("residual_after_moe", l, T, x);
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

  dispose(): void {}
}
