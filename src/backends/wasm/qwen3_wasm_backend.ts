// The forward pass of dense RoPE models (Qwen3, Qwen3-MoE, Llama) on the WASM SIMD kernels: RMSNorm, GQA
// with per-head QK-norm before RoPE where the model has it, attention through the sink kernel with every
// sink at -inf (sliding windows where the layer has one), and per layer a dense SwiGLU MLP (optional
// biases) or softmax-then-top-k routed experts. Mirrors the reference pass step by step.

import { ropeTables } from "../../model/rope.ts";
import type { DebugSink } from "../backend.ts";
import type { RopeDenseConfig, RopeDenseWeights } from "../legacy_views.ts";
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
import { ropeCosSin } from "./rope_tables.ts";

type Ffn =
  // biases: byte offsets, 0 for none
  | {
    kind: "dense";
    gate: PlacedMat;
    up: PlacedMat;
    down: PlacedMat;
    gateBias: number;
    upBias: number;
    downBias: number;
  }
  | { kind: "moe"; router: PlacedMat; gate: PlacedMat[]; up: PlacedMat[]; down: PlacedMat[] };

interface Qwen3Layer extends DenseAttention {
  attnNorm: number;
  q: PlacedMat;
  k: PlacedMat;
  v: PlacedMat;
  qBias: number; // 0: none
  kBias: number;
  vBias: number;
  qNorm: number; // 0: no QK-norm
  kNorm: number;
  mlpNorm: number;
  ffn: Ffn;
}

/** Byte offsets of the weights and buffers; activations hold maxTokens rows. */
interface Qwen3Layout extends DenseActivations {
  embed: PlacedMat;
  finalNorm: number;
  unembed: PlacedMat;
  layers: Qwen3Layer[];
  gate: number; // [T, widest FFN]
  up: number;
  cos: number; // [maxContext, headDim/2]
  sin: number;
  // MoE only (0 otherwise)
  router: number; // [T, experts]
  sel: number; // [T, k] i32
  selW: number; // [T, k]
  xg: number; // [T, hidden]: the rows routed to one expert
  down: number; // [T, hidden]: that expert's outputs
  slots: number; // [T*k, hidden]: each (token, choice)'s expert output
}

export class Qwen3WasmBackend extends DenseWasmBackend<RopeDenseConfig, Qwen3Layout> {
  static create(config: RopeDenseConfig, w: RopeDenseWeights, opts: DenseWasmOptions): Qwen3WasmBackend {
    const c = config, H = c.hiddenSize, D = c.headDim, kvw = c.numKvHeads * D;
    const { ctx, T } = denseSizes(c.maxContext, D, opts);
    const heads: HeadShape = { heads: c.numHeads, kvHeads: c.numKvHeads, headDim: D };
    const p = new DensePlacer();
    let ffnWidth = 0;
    const layers = w.layers.map((L): Qwen3Layer => {
      let ffn: Ffn;
      if (L.ffn.kind === "moe") {
        ffnWidth = Math.max(ffnWidth, c.moe!.expertSize);
        ffn = {
          kind: "moe",
          router: p.mat(L.ffn.router),
          gate: L.ffn.gate.map((m) => p.mat(m)),
          up: L.ffn.up.map((m) => p.mat(m)),
          down: L.ffn.down.map((m) => p.mat(m)),
        };
      } else {
        ffnWidth = Math.max(ffnWidth, L.ffn.gate.rows);
        const f = L.ffn;
        ffn = {
          kind: "dense",
          gate: p.mat(f.gate),
          up: p.mat(f.up),
          down: p.mat(f.down),
          gateBias: p.vec(f.gateBias),
          upBias: p.vec(f.upBias),
          downBias: p.vec(f.downBias),
        };
      }
      return {
        attnNorm: p.vec(L.attnNorm),
        q: p.mat(L.q),
        k: p.mat(L.k),
        v: p.mat(L.v),
        o: p.mat(L.o),
        qBias: p.vec(L.qBias),
        kBias: p.vec(L.kBias),
        vBias: p.vec(L.vBias),
        oBias: p.vec(L.oBias),
        qNorm: p.vec(L.qNorm),
        kNorm: p.vec(L.kNorm),
        mlpNorm: p.vec(L.mlpNorm),
        ffn,
        kCache: p.floats(ctx * kvw),
        vCache: p.floats(ctx * kvw),
      };
    });
    const moe = c.moe && c.layerIsMoe.some((m) => m) ? c.moe : null, K = moe?.expertsPerToken ?? 0;
    const tables = ropeCosSin(ropeTables(c.rope), D, ctx);
    const b: Qwen3Layout = {
      embed: p.mat(w.embed),
      finalNorm: p.vec(w.finalNorm),
      unembed: p.mat(w.unembed),
      layers,
      ...placeActivations(p, T, ctx, H, c.vocabSize, heads),
      gate: p.floats(T * ffnWidth),
      up: p.floats(T * ffnWidth),
      cos: p.vec(tables.cos),
      sin: p.vec(tables.sin),
      router: moe ? p.floats(T * moe.numExperts) : 0,
      sel: moe ? p.floats(T * K) : 0,
      selW: moe ? p.floats(T * K) : 0,
      xg: moe ? p.floats(T * H) : 0,
      down: moe ? p.floats(T * H) : 0,
      slots: moe ? p.floats(T * K * H) : 0,
    };
    return new Qwen3WasmBackend(config, ctx, T, p.finish(T), b, heads);
  }

  protected chunk(T: number, pos: number, first: number, dbg: DebugSink | undefined): number {
    const c = this.config, rt = this.rt, k = rt.k, b = this.b, H = c.hiddenSize, D = c.headDim;
    const qw = c.numHeads * D, kvw = c.numKvHeads * D, eps = c.norm.eps;
    const emit = this.emitter(dbg);

    // token embedding
    rt.gather(b.embed, b.ids, T, b.x);
    emit("embedding", -1, T, b.x, H);

    for (let l = 0; l < c.numLayers; l++) {
      const L = b.layers[l];
      // attention rmsnorm, q, k, v projections
      k.rmsnorm(b.xn, b.x, L.attnNorm, eps, T, H);
      emit("attn_norm", l, T, b.xn, H);
      rt.linear(L.q, L.qBias, b.xn, T, b.q);
      rt.linear(L.k, L.kBias, b.xn, T, b.k);
      rt.linear(L.v, L.vBias, b.xn, T, b.v);
      // per-head RMSNorm of q and k (models with QK-norm), then rope
      if (L.qNorm) {
        k.qk_rmsnorm(b.q, L.qNorm, eps, T, c.numHeads, D);
        k.qk_rmsnorm(b.k, L.kNorm, eps, T, c.numKvHeads, D);
      }
      k.rope(b.q, T, qw, c.numHeads, D, b.cos, b.sin, pos);
      k.rope(b.k, T, kvw, c.numKvHeads, D, b.cos, b.sin, pos);
      const what = L.qNorm ? "qk_norm_and_rope" : "rope";
      emit(`q_after_${what}`, l, T, b.q, qw);
      emit(`k_after_${what}`, l, T, b.k, kvw);
      // causal grouped-query attention (no sinks; the layer's window), residual
      this.attend(L, l, T, pos, c.layerWindows[l], emit);

      // mlp rmsnorm, the layer's FFN (dense SwiGLU or routed experts) into proj, residual
      k.rmsnorm(b.xn, b.x, L.mlpNorm, eps, T, H);
      emit("mlp_norm", l, T, b.xn, H);
      if (L.ffn.kind === "moe") this.moe(L.ffn, T, l, dbg);
      else {
        const F = L.ffn.gate.rows;
        rt.linear(L.ffn.gate, L.ffn.gateBias, b.xn, T, b.gate);
        rt.linear(L.ffn.up, L.ffn.upBias, b.xn, T, b.up);
        k.swiglu(b.gate, b.gate, b.up, T * F);
        rt.linear(L.ffn.down, L.ffn.downBias, b.gate, T, b.proj);
      }
      this.addMlp(l, T, H, emit);
    }

    const rows = T - first;
    if (rows > 0) {
      // final norm, head
      k.rmsnorm(b.xn, b.x + first * H * 4, b.finalNorm, eps, rows, H);
      emit("final_norm", -1, rows, b.xn, H);
      rt.linear(b.unembed, 0, b.xn, rows, b.logits);
    }
    return b.logits;
  }

  /**
   * Routed experts into proj: router logits, softmax over all experts then top-k, then expert by expert
   * over the rows routed to it (gathered), SwiGLU, each output put in its (token, choice) slot, and the
   * slots summed per token in choice order with their weights.
   */
  private moe(m: Extract<Ffn, { kind: "moe" }>, T: number, l: number, dbg: DebugSink | undefined): void {
    const rt = this.rt, k = rt.k, b = this.b, H = this.config.hiddenSize;
    const { numExperts: E, expertsPerToken: K, expertSize: F, normTopkProb } = this.config.moe!;
    rt.linear(m.router, 0, b.xn, T, b.router);
    dbg?.("router_logits", l, T, rt.read(b.router, T * E));
    k.softmax_topk(b.router, T, E, K, normTopkProb ? 1 : 0, b.sel, b.selW);
    const sel = rt.i32.subarray(b.sel / 4, b.sel / 4 + T * K);
    if (dbg) {
      dbg("router_topk", l, T, Float32Array.from(sel));
      dbg("expert_weights", l, T, rt.read(b.selW, T * K));
    }
    // slots routed to each expert, in (token, choice) order
    const routed: number[][] = Array.from({ length: E }, () => []);
    sel.forEach((e, s) => routed[e].push(s));
    routed.forEach((slots, e) => {
      const n = slots.length;
      if (n === 0) return;
      slots.forEach((s, i) => rt.copy(b.xg + i * H * 4, b.xn + Math.floor(s / K) * H * 4, H));
      rt.linear(m.gate[e], 0, b.xg, n, b.gate);
      rt.linear(m.up[e], 0, b.xg, n, b.up);
      k.swiglu(b.gate, b.gate, b.up, n * F);
      rt.linear(m.down[e], 0, b.gate, n, b.down);
      slots.forEach((s, i) => rt.copy(b.slots + s * H * 4, b.down + i * H * 4, H));
    });
    k.weighted_row_sum(b.proj, b.slots, b.selW, T, K, H);
  }
}
