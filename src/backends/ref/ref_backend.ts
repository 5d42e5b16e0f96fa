// The reference backend: one forward pass over the plan in plain float32 TypeScript, for every
// architecture. Slow and obviously correct; every other backend is checked against it. A batch runs as
// one stack of rows (each row with its sequence's KV slot and position), exactly as one sequence would.

import { OssiError } from "../../errors.ts";
import type { ModelConfig } from "../../model/config.ts";
import { loadRow } from "../../model/dtypes.ts";
import type { ModelPlan } from "../../model/plan.ts";
import { type RopeTables, ropeTables } from "../../model/rope.ts";
import type { ModelWeights } from "../../model/weights.ts";
import {
  type Backend,
  checkBatch,
  checkFinite,
  checkPickBatch,
  checkTopK,
  ForwardAbortedError,
  type ForwardOptions,
  logitRows,
  type PickSequence,
  type Sequence,
} from "../backend.ts";
import { denseMlp, routedExperts, unsupportedFfn } from "./ffn.ts";
import { f32Bf16wMatmul, rmsnorm, rope, rowTopkArgmax, sdpaSinkWindow } from "./kernels.ts";
import { layernorm, qkRmsnorm } from "./kernels_dense.ts";
import { LayerKvCache } from "./layer_kv_cache.ts";

export interface RefBackendOptions {
  /** KV-cache capacity of each slot in tokens (at most the model's context). */
  readonly maxContext: number;
  /** KV caches (default 1). */
  readonly slots?: number;
}

/** The rows of a batch: each token with its sequence's slot and its position. */
interface Rows {
  readonly tokens: number[];
  readonly slot: number[];
  readonly pos: number[];
}

export class RefBackend implements Backend {
  readonly name = "ref" as const;
  readonly maxContext: number;
  readonly slots: number;
  /** Any chunking gives the same bits here; prefill chunks only bound how late an abort is seen. */
  readonly chunkTokens = 64;
  private readonly rope: RopeTables | null;
  private readonly caches: LayerKvCache[];
  /** -inf sinks: attention without a sink adds exp(-inf) = 0 to the softmax denominator. */
  private readonly noSinks: Float32Array;

  constructor(
    readonly config: ModelConfig,
    private readonly plan: ModelPlan,
    private readonly w: ModelWeights,
    opts: RefBackendOptions,
  ) {
    for (const p of plan.layers) {
      const no = unsupportedFfn(p.mlp);
      if (no) throw new OssiError(`ref backend: ${no} is not implemented`);
    }
    this.maxContext = Math.min(opts.maxContext, config.maxContext);
    this.slots = opts.slots ?? 1;
    this.rope = config.rope && ropeTables(config.rope);
    const kvw = config.numKvHeads * config.headDim;
    this.caches = Array.from(
      { length: this.slots },
      () => new LayerKvCache(config.numLayers, kvw, this.maxContext),
    );
    this.noSinks = new Float32Array(config.numHeads).fill(-Infinity);
  }

  forward(batch: readonly Sequence[], opts: ForwardOptions = {}): Promise<Float32Array[]> {
    try {
      checkBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
      return Promise.resolve(this.run(batch, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async greedy(batch: readonly PickSequence[], opts: ForwardOptions = {}): Promise<number[]> {
    checkPickBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
    const rows = await this.forward(batch.map((s) => ({ ...s, logits: "last" })), opts);
    return rows.map((r) => rowTopkArgmax(r));
  }

  async topk(
    batch: readonly PickSequence[],
    k: number,
    opts: ForwardOptions = {},
  ): Promise<{ ids: Uint32Array; logits: Float32Array }[]> {
    checkTopK(k, this.config.vocabSize);
    checkPickBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
    const rows = await this.forward(batch.map((s) => ({ ...s, logits: "last" })), opts);
    return rows.map((r) => {
      const ids = Uint32Array.from(r.keys()).sort((a, b) => r[b] - r[a] || a - b).slice(0, k);
      return { ids, logits: Float32Array.from(ids, (i) => r[i]) };
    });
  }

  dispose(): void {}

  private run(batch: readonly Sequence[], opts: ForwardOptions): Float32Array[] {
    const c = this.config, w = this.w, H = c.hiddenSize, D = c.headDim, eps = c.norm.eps;
    const qw = c.numHeads * D, kvw = c.numKvHeads * D, dbg = opts.debug, stop = opts.shouldStop;
    const r = batchRows(batch), T = r.tokens.length;
    for (const s of batch) this.caches[s.slot].ensure(s.pos + s.tokens.length);

    const x = new Float32Array(T * H); // residual stream
    const xn = new Float32Array(T * H);
    const q = new Float32Array(T * qw), k = new Float32Array(T * kvw), v = new Float32Array(T * kvw);
    const att = new Float32Array(T * qw), proj = new Float32Array(T * H), ffn = new Float32Array(T * H);
    const row = new Float32Array(H);

    // token embedding (+ learned position embedding)
    for (let t = 0; t < T; t++) {
      loadRow(w.embed, r.tokens[t], x.subarray(t * H, (t + 1) * H), new Uint32Array(x.buffer, t * H * 4, H));
      if (!w.posEmbed) continue;
      loadRow(w.posEmbed, r.pos[t], row);
      for (let i = 0; i < H; i++) x[t * H + i] += row[i];
    }
    dbg?.("embedding", -1, T, x);

    for (let l = 0; l < c.numLayers; l++) {
      if (stop?.()) throw new ForwardAbortedError();
      const p = this.plan.layers[l], a = p.attention, L = w.layers[l];
      // attention norm
      norm(xn, x, L.attnNorm, L.attnNormBias, p.norm, eps, T, H);
      dbg?.("attn_norm", l, T, xn);
      // q, k, v projections
      f32Bf16wMatmul(q, xn, L.q, L.qBias, T);
      f32Bf16wMatmul(k, xn, L.k, L.kBias, T);
      f32Bf16wMatmul(v, xn, L.v, L.vBias, T);
      // per-head RMSNorm of q and k
      if (a.qkNorm) {
        qkRmsnorm(q, L.qNorm!, eps, T, c.numHeads, D);
        qkRmsnorm(k, L.kNorm!, eps, T, c.numKvHeads, D);
      }
      // rope on q and k
      if (a.rope) {
        for (let t = 0; t < T; t++) {
          rope(q, t * qw, c.numHeads, D, r.pos[t], this.rope!);
          rope(k, t * kvw, c.numKvHeads, D, r.pos[t], this.rope!);
        }
        const what = a.qkNorm ? "qk_norm_and_rope" : "rope";
        dbg?.(`q_after_${what}`, l, T, q);
        dbg?.(`k_after_${what}`, l, T, k);
      }
      // append k, v to each row's cache
      for (let t = 0; t < T; t++) {
        const cache = this.caches[r.slot[t]];
        cache.k[l].set(k.subarray(t * kvw, (t + 1) * kvw), r.pos[t] * kvw);
        cache.v[l].set(v.subarray(t * kvw, (t + 1) * kvw), r.pos[t] * kvw);
      }
      // causal attention over the row's cache (sinks, sliding window where the layer has them)
      for (let t = 0; t < T; t++) {
        const cache = this.caches[r.slot[t]], sinks = L.sinks ?? this.noSinks;
        sdpaSinkWindow(
          att,
          t * qw,
          q,
          t * qw,
          cache.k[l],
          cache.v[l],
          r.pos[t],
          a.window,
          sinks,
          c.numHeads,
          c.numKvHeads,
          D,
        );
      }
      dbg?.("attn_core", l, T, att);
      // output projection, residual
      f32Bf16wMatmul(proj, att, L.o, L.oBias, T);
      dbg?.("attn_out", l, T, proj);
      for (let i = 0; i < T * H; i++) x[i] += proj[i];
      dbg?.("residual_after_attention", l, T, x);

      // mlp norm
      norm(xn, x, L.mlpNorm, L.mlpNormBias, p.norm, eps, T, H);
      dbg?.("mlp_norm", l, T, xn);
      // feed-forward: dense MLP, or routed experts
      if (L.ffn.kind === "dense") denseMlp(ffn, xn, L.ffn, p.mlp.act, T);
      else {routedExperts(ffn, xn, L.ffn, p.mlp as Extract<typeof p.mlp, { kind: "moe" }>, T, (n, vs) =>
          dbg?.(n, l, T, vs));}
      dbg?.(`${this.plan.ffnTap}_out`, l, T, ffn);
      // residual
      for (let i = 0; i < T * H; i++) x[i] += ffn[i];
      dbg?.(`residual_after_${this.plan.ffnTap}`, l, T, x);
    }

    // rows whose logits are wanted: each sequence's all, last or none
    if (stop?.()) throw new ForwardAbortedError();
    const wanted: number[] = [];
    let t0 = 0;
    for (const s of batch) {
      const n = logitRows(s);
      for (let i = s.tokens.length - n; i < s.tokens.length; i++) wanted.push(t0 + i);
      t0 += s.tokens.length;
    }
    if (wanted.length === 0) return batch.map(() => new Float32Array(0));
    // final norm, unembedding
    const m = wanted.length, V = c.vocabSize, xf = new Float32Array(m * H);
    const picked = wanted.length === T
      ? x
      : Float32Array.from(wanted.flatMap((t) => [...x.subarray(t * H, (t + 1) * H)]));
    norm(xf, picked, w.finalNorm, w.finalNormBias, c.norm.kind, eps, m, H);
    dbg?.("final_norm", -1, m, xf);
    const logits = new Float32Array(m * V);
    f32Bf16wMatmul(logits, xf, w.unembed, null, m);
    let at = 0;
    return batch.map((s) => {
      const n = logitRows(s), out = logits.slice(at * V, (at + n) * V);
      checkFinite(out, V, s.pos + s.tokens.length - n);
      at += n;
      return out;
    });
  }
}

/** The batch's tokens as rows, in sequence order. */
function batchRows(batch: readonly Sequence[]): Rows {
  const r: Rows = { tokens: [], slot: [], pos: [] };
  for (const s of batch) {
    for (let i = 0; i < s.tokens.length; i++) {
      (r.tokens.push(s.tokens[i]), r.slot.push(s.slot), r.pos.push(s.pos + i));
    }
  }
  return r;
}

/** The plan's norm of T rows: RMSNorm, or LayerNorm with its bias. */
function norm(
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  kind: "rmsnorm" | "layernorm",
  eps: number,
  T: number,
  H: number,
): void {
  if (kind === "layernorm") layernorm(y, x, w, b!, eps, T, H);
  else rmsnorm(y, x, w, eps, T, H);
}
