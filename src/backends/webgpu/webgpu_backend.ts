// The WebGPU backend: gpt-oss on WGSL kernels. Weights live in GPU buffers (split where a tensor exceeds
// the binding limit), activations and the per-layer KV cache are allocated once, and each forward chunk is
// one command encoder and one submit; decode reads back one row of logits, 4 bytes with greedy(), or k
// (id, logit) pairs with topk().

import { OssiError } from "../../errors.ts";
import { type MappedFile, releaseMappedPages } from "../../io/mmap.ts";
import type { GptOssConfig } from "../../model/gpt_oss.ts";
import type { RopeConfig } from "../../model/config.ts";
import type { DebugSink } from "../backend.ts";
import type { GptOssWeights } from "../legacy_views.ts";
import { ropeTables } from "../../model/rope.ts";
import { chunkTokens, type Dump, GpuBackend, type GpuBackendOptions } from "./gpu_backend_base.ts";
import { type GpuDevice, openGpuDevice } from "./gpu_device.ts";
import {
  bindingLimit,
  checkUploaded,
  type GpuExperts,
  type GpuMat,
  stackRows,
  STORAGE,
  uploadLayers,
  WeightUploader,
} from "./gpu_weights.ts";
import * as op from "./ops.ts";
import { moe, type MoeGroupedScratch, moeGroupedSizes } from "./ops_moe.ts";
import { PipelineCache } from "./pipelines.ts";
import { GpuProfiler, type KernelTime } from "./profiler.ts";

export interface WebGpuOptions extends GpuBackendOptions {
  /**
   * KV cache element type: "f16" (adapters with shader-f16: half the cache memory and attention reads;
   * logits within about 1e-2 instead of 2e-3) or "f32". Default: "f32".
   */
  readonly kvCache?: "f32" | "f16";
  /** Time every dispatch with timestamp queries (see kernelTimes()); ignored without `timestamp-query`. */
  readonly profile?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
  /** The mapped checkpoint files: their resident pages are dropped as each layer reaches the GPU. */
  readonly files?: readonly Pick<MappedFile, "bytes" | "mapped">[];
}

interface LayerBuffers {
  attnNorm: GPUBuffer;
  qkv: GpuMat; // [(heads + 2 kvHeads) headDim, hidden]: q, k, v stacked at load
  qkvBias: GPUBuffer;
  o: GpuMat;
  oBias: GPUBuffer;
  sinks: GPUBuffer;
  mlpNorm: GPUBuffer;
  router: GpuMat;
  routerBias: GPUBuffer;
  gateUp: GpuExperts;
  down: GpuExperts;
  kCache: GPUBuffer; // [maxContext, kvHeads*headDim]
  vCache: GPUBuffer;
}

export class WebGpuBackend extends GpuBackend<GptOssConfig> {
  private readonly act: Record<
    | "x"
    | "xn"
    | "qkv"
    | "q"
    | "att"
    | "proj"
    | "router"
    | "sel"
    | "selW"
    | "moeAct"
    | "moe",
    GPUBuffer
  >;
  /** Scratch of the MoE grouped by expert (prefill chunks) and of split attention (long decode steps). */
  private readonly moeGrouped: MoeGroupedScratch;
  private readonly attnSplit: { scratch: GPUBuffer; floats: number };

  private constructor(
    config: GptOssConfig,
    maxContext: number,
    maxTokens: number,
    gpu: GpuDevice,
    weights: WeightUploader,
    private readonly embedding: GpuMat,
    private readonly layers: LayerBuffers[],
    private readonly finalNorm: GPUBuffer,
    private readonly unembed: GpuMat,
    private readonly cosSin: GPUBuffer,
    profile: boolean,
    /** The KV cache holds f16 (shader variant "f16kv"). */
    readonly kvF16: boolean,
  ) {
    const c = config, T = maxTokens, qw = c.numHeads * c.headDim;
    const widest = Math.max(c.hiddenSize, qw, c.numExperts, c.expertsPerToken * c.intermediateSize);
    // a pipeline cache of its own (the dense backends share one per device)
    super(config, maxContext, maxTokens, gpu, weights, T * widest, new PipelineCache(gpu.device));
    this.act = {
      x: this.buffer("x", T * c.hiddenSize),
      xn: this.buffer("xn", T * c.hiddenSize),
      qkv: this.buffer("qkv", T * (qw + 2 * c.numKvHeads * c.headDim)),
      q: this.buffer("q", T * qw),
      att: this.buffer("att", T * qw),
      proj: this.buffer("proj", T * c.hiddenSize),
      router: this.buffer("router_logits", T * c.numExperts),
      sel: this.buffer("sel", T * c.expertsPerToken),
      selW: this.buffer("sel_w", T * c.expertsPerToken),
      moeAct: this.buffer("moe_act", T * c.expertsPerToken * c.intermediateSize),
      moe: this.buffer("moe", T * c.hiddenSize),
    };
    const g = moeGroupedSizes(T, c.expertsPerToken, c.numExperts, c.hiddenSize);
    this.moeGrouped = {
      order: this.buffer("moe_order", g.order),
      tiles: this.buffer("moe_tiles", g.tiles),
      slotOut: this.buffer("moe_slot_out", g.slotOut),
    };
    const splitFloats = c.numHeads * op.attentionSplits(maxContext) * (c.headDim + 2);
    this.attnSplit = { scratch: this.buffer("attention_partials", splitFloats), floats: splitFloats };
    this.setProfiling(profile);
  }

  /**
   * Turns per-dispatch timestamps on or off (no-op without `timestamp-query`); timed runs are slower.
   * Returns whether timing is on.
   */
  setProfiling(on: boolean): boolean {
    if (on && !this.rec.profiler && this.gpu.hasTimestamps) {
      this.rec.profiler = new GpuProfiler(this.gpu.device);
    }
    if (!on && this.rec.profiler) (this.rec.profiler.destroy(), this.rec.profiler = null);
    return this.rec.profiler !== null;
  }

  /** GPU time per kernel entry point since the last call (empty unless profiling). */
  kernelTimes(): Map<string, KernelTime> {
    const p = this.rec.profiler;
    const out = new Map(p?.totals ?? []);
    p?.reset();
    return out;
  }

  static async create(config: GptOssConfig, w: GptOssWeights, opts: WebGpuOptions): Promise<WebGpuBackend> {
    const gpu = opts.gpu ?? await openGpuDevice();
    const dev = gpu.device;
    const limit = bindingLimit(gpu);
    const up = new WeightUploader(dev, bindingLimit(gpu, opts.maxBindingBytes));
    const c = config, kvw = c.numKvHeads * c.headDim;
    const maxTokens = chunkTokens(opts.maxTokens, opts.maxContext);
    const kvF16 = opts.kvCache === "f16";
    if (kvF16 && !gpu.hasF16) throw new OssiError("an f16 KV cache needs a GPU with shader-f16");
    const kvBytes = Math.ceil((opts.maxContext * kvw * (kvF16 ? 2 : 4)) / 4) * 4;
    if (kvBytes > limit) {
      throw new OssiError(
        `KV cache of ${opts.maxContext} tokens exceeds the GPU's storage binding limit; use a smaller context`,
      );
    }
    dev.pushErrorScope("out-of-memory");
    const cache = (label: string) => {
      const b = dev.createBuffer({ label, size: kvBytes, usage: STORAGE });
      up.buffers.push(b); // destroyed with the weights
      return b;
    };
    const uploadLayer = (l: number): LayerBuffers => {
      const L = w.layers[l], p = `layer ${l} `;
      return {
        attnNorm: up.upload(L.attnNorm, p + "attn_norm"),
        qkv: up.mat(stackRows([L.q, L.k, L.v]), p + "qkv"),
        qkvBias: up.upload(Float32Array.from([...L.qBias, ...L.kBias, ...L.vBias]), p + "qkv_bias"),
        o: up.mat(L.o, p + "o"),
        oBias: up.upload(L.oBias, p + "o_bias"),
        sinks: up.upload(L.sinks, p + "sinks"),
        mlpNorm: up.upload(L.mlpNorm, p + "mlp_norm"),
        router: up.mat(L.router, p + "router"),
        routerBias: up.upload(L.routerBias, p + "router_bias"),
        gateUp: up.experts(L.gateUp, p + "gate_up"),
        down: up.experts(L.down, p + "down"),
        kCache: cache(p + "k_cache"),
        vCache: cache(p + "v_cache"),
      };
    };
    const release = () => opts.files && releaseMappedPages(opts.files);
    const layers = await uploadLayers(dev, c.numLayers, uploadLayer, (l) => {
      release();
      opts.onProgress?.(l + 1, c.numLayers + 1);
    });
    const embedding = up.mat(w.embed, "embedding");
    await up.drain();
    release();
    const finalNorm = up.upload(w.finalNorm, "final_norm");
    const unembed = up.mat(w.unembed, "unembedding");
    const cosSin = up.upload(cosSinTable(config, opts.maxContext), "rope cos/sin");
    await checkUploaded(dev);
    release();
    opts.onProgress?.(c.numLayers + 1, c.numLayers + 1);
    return new WebGpuBackend(
      config,
      opts.maxContext,
      maxTokens,
      gpu,
      up,
      embedding,
      layers,
      finalNorm,
      unembed,
      cosSin,
      opts.profile ?? false,
      kvF16,
    );
  }

  protected async recordLayers(T: number, pos: number, dump: Dump | null, dbg?: DebugSink): Promise<void> {
    const c = this.config, a = this.act, rec = this.rec, H = c.hiddenSize;
    const qw = c.numHeads * c.headDim, K = c.expertsPerToken;
    const mm = (
      w: GpuMat,
      bias: GPUBuffer | null,
      x: GPUBuffer,
      y: GPUBuffer,
      extra: Partial<op.MatmulArgs> = {},
    ) => op.matmul(rec, { w, bias, dummy: this.io.dummy, x, y, tokens: T, ...extra });

    // token embedding
    op.embed(rec, this.io.ids, this.embedding, a.x, T);
    await dump?.("embedding", -1, a.x, H);
    for (let l = 0; l < c.numLayers; l++) {
      const L = this.layers[l];
      // attention rmsnorm; after the first layer fused with the previous layer's MoE residual add
      if (l === 0) op.rmsnorm(rec, a.x, 0, L.attnNorm, a.xn, T, H, c.norm.eps);
      else op.addRmsnorm(rec, a.x, a.moe, L.attnNorm, a.xn, T, H, c.norm.eps);
      if (l > 0) await dump?.("residual_after_moe", l - 1, a.x, H);
      await dump?.("attn_norm", l, a.xn, H);
      // q, k, v projection (one fused matmul with biases)
      mm(L.qkv, L.qkvBias, a.xn, a.qkv);
      // rope on q and k; k and v appended to the cache rows pos..pos+T-1
      op.ropeQkv(rec, {
        qkv: a.qkv,
        q: a.q,
        kCache: L.kCache,
        vCache: L.vCache,
        cosSin: this.cosSin,
        tokens: T,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: c.headDim,
        pos0: pos,
        kvF16: this.kvF16,
      });
      // attention with sinks (sliding window on the layers that have one)
      op.attention(rec, {
        q: a.q,
        k: L.kCache,
        v: L.vCache,
        sinks: L.sinks,
        out: a.att,
        tokens: T,
        pos0: pos,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: c.headDim,
        window: c.layerWindows[l],
        kvF16: this.kvF16,
        split: this.attnSplit,
      });
      await dump?.("attn_core", l, a.att, qw);
      // output projection, residual
      mm(L.o, L.oBias, a.att, a.proj);
      await dump?.("attn_out", l, a.proj, H);
      // residual add fused with the mlp rmsnorm
      op.addRmsnorm(rec, a.x, a.proj, L.mlpNorm, a.xn, T, H, c.norm.eps);
      await dump?.("residual_after_attention", l, a.x, H);
      await dump?.("mlp_norm", l, a.xn, H);
      // router logits
      mm(L.router, L.routerBias, a.xn, a.router);
      await dump?.("router_logits", l, a.router, c.numExperts);
      // router top-k, gate_up + clamped SwiGLU, down, weighted sum
      moe(rec, {
        routerLogits: a.router,
        sel: a.sel,
        selW: a.selW,
        x: a.xn,
        act: a.moeAct,
        out: a.moe,
        gateUp: L.gateUp,
        down: L.down,
        tokens: T,
        k: K,
        limit: c.swigluLimit,
        alpha: c.swigluAlpha,
        grouped: this.moeGrouped,
      });
      if (dump) {
        const ids = await this.readU32(a.sel, T * K);
        dbg!("router_topk", l, T, Float32Array.from(ids));
      }
      await dump?.("moe_out", l, a.moe, H);
      // residual (for all but the last layer, done by the next layer's fused norm)
      if (l === c.numLayers - 1) {
        op.addInplace(rec, a.moe, a.x, T * H);
        await dump?.("residual_after_moe", l, a.x, H);
      }
    }
  }

  /** Final norm and unembedding of chunk rows [r, r + m) into the logits buffer (recorded, not submitted). */
  protected recordLogits(r: number, m: number): void {
    const c = this.config, a = this.act;
    op.rmsnorm(this.rec, a.x, r * c.hiddenSize, this.finalNorm, a.xn, m, c.hiddenSize, c.norm.eps);
    this.recordUnembedding(this.unembed, a.xn, m);
  }
}

/** cos and sin (times the YaRN concentration) of every position and frequency: [maxContext, dim/2] pairs. */
export function cosSinTable(config: { readonly rope: RopeConfig }, maxContext: number): Float32Array {
  const t = ropeTables(config.rope), half = config.rope.dim / 2;
  const out = new Float32Array(maxContext * half * 2);
  for (let p = 0; p < maxContext; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * t.invFreq[i];
      out[(p * half + i) * 2] = Math.fround(Math.cos(angle)) * t.concentration;
      out[(p * half + i) * 2 + 1] = Math.fround(Math.sin(angle)) * t.concentration;
    }
  }
  return out;
}
