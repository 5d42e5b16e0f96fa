// The WebGPU forward pass of dense RoPE models (Qwen3, Qwen3-MoE, Llama): RMSNorm, fused q|k|v projection,
// per-head QK-norm before RoPE where the model has it, grouped-query causal attention (sliding window where
// the layer has one), and per layer either a dense SwiGLU MLP (gate|up fused at load, optional biases) or
// softmax-then-top-k routing over dense bf16 experts.

import type { Mat } from "../../model/dtypes.ts";
import type { DebugSink } from "../backend.ts";
import type { RopeDenseConfig, RopeDenseWeights } from "../legacy_views.ts";
import { type GpuDevice, openGpuDevice } from "./gpu_device.ts";
import { type GpuDenseExperts, uploadDenseExperts } from "./gpu_dense_experts.ts";
import {
  bindingLimit,
  checkUploaded,
  type GpuMat,
  kvCache,
  stackRows,
  uploadLayers,
  WeightUploader,
} from "./gpu_weights.ts";
import * as op from "./ops.ts";
import * as dense from "./ops_dense.ts";
import { chunkTokens, type Dump } from "./gpu_backend_base.ts";
import { DenseGpuBackend, type DenseGpuOptions } from "./dense_gpu_backend.ts";
import { cosSinTable } from "./webgpu_backend.ts";

type Ffn =
  // gateUp [2*ffn, hidden]: gate rows then up rows
  | { kind: "dense"; gateUp: GpuMat; gateUpBias: GPUBuffer | null; down: GpuMat; downBias: GPUBuffer | null }
  | { kind: "moe"; router: GpuMat; gateUp: GpuDenseExperts; down: GpuDenseExperts };

interface LayerBuffers {
  attnNorm: GPUBuffer;
  qkv: GpuMat; // [(heads + 2 kvHeads) headDim, hidden]: q, k, v stacked at load
  qkvBias: GPUBuffer | null;
  qNorm: GPUBuffer | null; // [headDim]; null without QK-norm
  kNorm: GPUBuffer | null; // [headDim]
  o: GpuMat;
  oBias: GPUBuffer | null;
  mlpNorm: GPUBuffer;
  ffn: Ffn;
  kCache: GPUBuffer; // [maxContext, kvHeads*headDim] f32
  vCache: GPUBuffer;
}

export class Qwen3WebGpuBackend extends DenseGpuBackend<RopeDenseConfig> {
  private readonly act: Record<
    "x" | "xn" | "qkv" | "q" | "att" | "proj" | "ffn" | "gateUp" | "hidden" | "router" | "sel" | "selW",
    GPUBuffer
  >;

  private constructor(
    config: RopeDenseConfig,
    maxContext: number,
    maxTokens: number,
    gpu: GpuDevice,
    weights: WeightUploader,
    private readonly embedding: GpuMat,
    private readonly layers: LayerBuffers[],
    private readonly finalNorm: GPUBuffer,
    private readonly unembed: GpuMat,
    private readonly cosSin: GPUBuffer,
  ) {
    const c = config, T = maxTokens, D = c.headDim, qw = c.numHeads * D, kvw = c.numKvHeads * D;
    const m = c.moe, E = m?.numExperts ?? 1, K = m?.expertsPerToken ?? 1;
    // the widest FFN activation: the dense MLP's, or k experts' per token
    const F = Math.max(c.intermediateSize, K * (m?.expertSize ?? 0));
    super(config, maxContext, maxTokens, gpu, weights, T * Math.max(c.hiddenSize, qw, kvw, E, K, F));
    this.act = {
      x: this.buffer("x", T * c.hiddenSize),
      xn: this.buffer("xn", T * c.hiddenSize),
      qkv: this.buffer("qkv", T * (qw + 2 * kvw)),
      q: this.buffer("q", T * qw),
      att: this.buffer("att", T * qw),
      proj: this.buffer("proj", T * c.hiddenSize),
      ffn: this.buffer("ffn_out", T * c.hiddenSize),
      gateUp: this.buffer("gate_up", T * 2 * c.intermediateSize),
      hidden: this.buffer("ffn_hidden", T * F),
      router: this.buffer("router_logits", T * E),
      sel: this.buffer("sel", T * K),
      selW: this.buffer("sel_w", T * K),
    };
  }

  static async create(
    config: RopeDenseConfig,
    w: RopeDenseWeights,
    opts: DenseGpuOptions,
  ): Promise<Qwen3WebGpuBackend> {
    const gpu = opts.gpu ?? await openGpuDevice();
    const dev = gpu.device, c = config, D = c.headDim;
    const up = new WeightUploader(dev, bindingLimit(gpu, opts.maxBindingBytes));
    const maxTokens = chunkTokens(opts.maxTokens, opts.maxContext);
    const kvw = c.numKvHeads * D;
    dev.pushErrorScope("out-of-memory");
    const cache = (label: string) => kvCache(up, opts.maxContext * kvw, label);
    const uploadLayer = (l: number): LayerBuffers => {
      const L = w.layers[l], p = `layer ${l} `;
      let qkvBias: GPUBuffer | null = null;
      if (L.qBias || L.kBias || L.vBias) {
        const bias = new Float32Array((c.numHeads + 2 * c.numKvHeads) * D);
        bias.set(L.qBias ?? [], 0);
        bias.set(L.kBias ?? [], c.numHeads * D);
        bias.set(L.vBias ?? [], c.numHeads * D + kvw);
        qkvBias = up.upload(bias, p + "qkv_bias");
      }
      const f = L.ffn;
      const ffn: Ffn = f.kind === "dense"
        ? {
          kind: "dense",
          gateUp: up.mat(stackRows([f.gate, f.up]), p + "gate_up"),
          gateUpBias: f.gateBias || f.upBias
            ? up.upload(stackedBias(f.gateBias, f.upBias, f.up.rows), p + "gate_up_bias")
            : null,
          down: up.mat(f.down, p + "down"),
          downBias: f.downBias ? up.upload(f.downBias, p + "down_bias") : null,
        }
        : {
          kind: "moe",
          router: up.mat(f.router, p + "router"),
          gateUp: uploadDenseExperts(
            up,
            f.gate.map((g: Mat, e: number) => stackRows([g, f.up[e]])),
            p + "gate_up",
          ),
          down: uploadDenseExperts(up, f.down, p + "down"),
        };
      return {
        attnNorm: up.upload(L.attnNorm, p + "attn_norm"),
        qkv: up.mat(stackRows([L.q, L.k, L.v]), p + "qkv"),
        qkvBias,
        qNorm: L.qNorm && up.upload(L.qNorm, p + "q_norm"),
        kNorm: L.kNorm && up.upload(L.kNorm, p + "k_norm"),
        o: up.mat(L.o, p + "o"),
        oBias: L.oBias ? up.upload(L.oBias, p + "o_bias") : null,
        mlpNorm: up.upload(L.mlpNorm, p + "mlp_norm"),
        ffn,
        kCache: cache(p + "k_cache"),
        vCache: cache(p + "v_cache"),
      };
    };
    const layers = await uploadLayers(dev, c.numLayers, uploadLayer);
    const embedding = up.mat(w.embed, "embedding");
    const finalNorm = up.upload(w.finalNorm, "final_norm");
    const unembed = w.unembed === w.embed ? embedding : up.mat(w.unembed, "unembedding");
    const cosSin = up.upload(cosSinTable(c, opts.maxContext), "rope cos/sin");
    await checkUploaded(dev);
    return new Qwen3WebGpuBackend(
      c,
      opts.maxContext,
      maxTokens,
      gpu,
      up,
      embedding,
      layers,
      finalNorm,
      unembed,
      cosSin,
    );
  }

  protected async recordLayers(T: number, pos: number, dump: Dump | null, dbg?: DebugSink): Promise<void> {
    const c = this.config, a = this.act, rec = this.rec, H = c.hiddenSize, D = c.headDim;
    const qw = c.numHeads * D, kvw = c.numKvHeads * D, dummy = this.io.dummy;
    const mm = (w: GpuMat, bias: GPUBuffer | null, x: GPUBuffer, y: GPUBuffer) =>
      op.matmul(rec, { w, bias, dummy, x, y, tokens: T });

    // token embedding
    op.embed(rec, this.io.ids, this.embedding, a.x, T);
    await dump?.("embedding", -1, a.x, H);
    for (let l = 0; l < c.numLayers; l++) {
      const L = this.layers[l];
      // attention rmsnorm; after the first layer fused with the previous layer's FFN residual add
      if (l === 0) op.rmsnorm(rec, a.x, 0, L.attnNorm, a.xn, T, H, c.norm.eps);
      else op.addRmsnorm(rec, a.x, a.ffn, L.attnNorm, a.xn, T, H, c.norm.eps);
      if (l > 0) await dump?.("residual_after_mlp", l - 1, a.x, H);
      await dump?.("attn_norm", l, a.xn, H);
      // q, k, v projection (one fused matmul)
      mm(L.qkv, L.qkvBias, a.xn, a.qkv);
      // per-head RMSNorm of q and k (models with QK-norm), then rope; k and v appended to the cache rows
      // pos..pos+T-1
      if (L.qNorm && L.kNorm) {
        dense.qkRmsnorm(
          rec,
          a.qkv,
          L.qNorm,
          L.kNorm,
          T,
          c.numHeads,
          c.numKvHeads,
          D,
          qw + 2 * kvw,
          c.norm.eps,
        );
      }
      op.ropeQkv(rec, {
        qkv: a.qkv,
        q: a.q,
        kCache: L.kCache,
        vCache: L.vCache,
        cosSin: this.cosSin,
        tokens: T,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: D,
        pos0: pos,
      });
      const what = L.qNorm ? "qk_norm_and_rope" : "rope";
      await dump?.(`q_after_${what}`, l, a.q, qw);
      await dump?.(`k_after_${what}`, l, L.kCache, kvw, T, pos * kvw);
      // causal grouped-query attention, no sinks
      op.attention(rec, {
        q: a.q,
        k: L.kCache,
        v: L.vCache,
        sinks: this.noSinks,
        out: a.att,
        tokens: T,
        pos0: pos,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: D,
        window: c.layerWindows[l],
      });
      // output projection
      mm(L.o, L.oBias, a.att, a.proj);
      await dump?.("attn_out", l, a.proj, H);
      // residual add fused with the mlp rmsnorm
      op.addRmsnorm(rec, a.x, a.proj, L.mlpNorm, a.xn, T, H, c.norm.eps);
      await dump?.("residual_after_attention", l, a.x, H);
      await dump?.("mlp_norm", l, a.xn, H);
      // the layer's FFN into a.ffn
      const f = L.ffn;
      if (f.kind === "dense") {
        // gate|up, silu(gate) * up, down
        mm(f.gateUp, f.gateUpBias, a.xn, a.gateUp);
        dense.swiglu(rec, a.gateUp, a.hidden, T, f.gateUp.rows / 2);
        mm(f.down, f.downBias, a.hidden, a.ffn);
      } else {
        const m = c.moe!;
        // router logits, softmax then top-k, the chosen experts' SwiGLUs weighted and summed
        mm(f.router, null, a.xn, a.router);
        await dump?.("router_logits", l, a.router, m.numExperts);
        dense.softmaxTopk(rec, a.router, a.sel, a.selW, T, m.numExperts, m.expertsPerToken, m.normTopkProb);
        if (dbg) {
          dbg("router_topk", l, T, Float32Array.from(await this.readU32(a.sel, T * m.expertsPerToken)));
          await dump!("expert_weights", l, a.selW, m.expertsPerToken);
        }
        dense.denseMoe(rec, {
          sel: a.sel,
          selW: a.selW,
          x: a.xn,
          act: a.hidden,
          out: a.ffn,
          gateUp: f.gateUp,
          down: f.down,
          tokens: T,
          k: m.expertsPerToken,
        });
      }
      await dump?.("mlp_out", l, a.ffn, H);
      // residual (for all but the last layer, done by the next layer's fused norm)
      if (l === c.numLayers - 1) {
        op.addInplace(rec, a.ffn, a.x, T * H);
        await dump?.("residual_after_mlp", l, a.x, H);
      }
    }
  }

  protected recordLogits(r: number, m: number): void {
    const c = this.config, a = this.act;
    // final rmsnorm, unembedding
    op.rmsnorm(this.rec, a.x, r * c.hiddenSize, this.finalNorm, a.xn, m, c.hiddenSize, c.norm.eps);
    this.recordUnembedding(this.unembed, a.xn, m);
  }
}

/** The bias of gate rows stacked on up rows (`n` each); an absent one is zeros. */
function stackedBias(gate: Float32Array | null, up: Float32Array | null, n: number): Float32Array {
  const out = new Float32Array(2 * n);
  if (gate) out.set(gate, 0);
  if (up) out.set(up, n);
  return out;
}
