// The WebGPU backend: gpt-oss on WGSL kernels. Weights live in GPU buffers (split where a tensor exceeds
// the binding limit), activations and the per-layer KV cache are allocated once, and each forward chunk is
// one command encoder and one submit; decode reads back one row of logits, 4 bytes with greedy(), or k
// (id, logit) pairs with topk().

import { OssiError } from "../../io/errors.ts";
import type { ModelConfig } from "../../model/config.ts";
import type { GptOssWeights } from "../../model/gpt_oss.ts";
import {
  type Backend,
  checkTokens,
  checkTopK,
  type DebugSink,
  type ForwardOptions,
  TOPK_MAX,
} from "../backend.ts";
import { ropeTables } from "../../model/rope.ts";
import { type GpuDevice, openGpuDevice } from "./gpu_device.ts";
import { type GpuExperts, type GpuMat, stackRows, WeightUploader } from "./gpu_weights.ts";
import * as op from "./ops.ts";
import { PipelineCache } from "./pipelines.ts";
import { GpuProfiler, type KernelTime } from "./profiler.ts";
import { Recorder } from "./recorder.ts";

export interface WebGpuOptions {
  readonly maxContext: number;
  /** Tokens per forward chunk (longer prompts run in chunks); activations are sized for this. */
  readonly maxTokens?: number;
  /** Split weights into parts of at most this many bytes (default: the adapter's binding limit). */
  readonly maxBindingBytes?: number;
  readonly gpu?: GpuDevice;
  /**
   * KV cache element type: "f16" (adapters with shader-f16: half the cache memory and attention reads;
   * logits within about 1e-2 instead of 2e-3) or "f32". Default: "f32".
   */
  readonly kvCache?: "f32" | "f16";
  /** Time every dispatch with timestamp queries (see kernelTimes()); ignored without `timestamp-query`. */
  readonly profile?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
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

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class WebGpuBackend implements Backend {
  readonly name = "webgpu" as const;
  private readonly act: Record<
    | "ids"
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
    | "moe"
    | "logits"
    | "best"
    | "topkVals"
    | "dummy",
    GPUBuffer
  >;
  private readonly rec: Recorder;
  private readonly logitRows: number;
  private readonly staging: GPUBuffer;
  private disposed = false;

  private constructor(
    readonly config: ModelConfig,
    readonly maxContext: number,
    readonly maxTokens: number,
    readonly gpu: GpuDevice,
    private readonly weights: WeightUploader,
    private readonly embedding: GpuMat,
    private readonly layers: LayerBuffers[],
    private readonly finalNorm: GPUBuffer,
    private readonly unembed: GpuMat,
    private readonly cosSin: GPUBuffer,
    profile: boolean,
    /** The KV cache holds f16 (shader variant "f16kv"). */
    readonly kvF16: boolean,
  ) {
    const c = config, T = maxTokens, dev = gpu.device;
    const buf = (label: string, floats: number) =>
      dev.createBuffer({ label, size: Math.max(16, floats * 4), usage: STORAGE });
    const maxBinding = weights.maxBinding;
    this.logitRows = Math.max(1, Math.min(T, Math.floor(maxBinding / (c.vocabSize * 4))));
    const qw = c.numHeads * c.headDim;
    this.act = {
      ids: buf("ids", T),
      x: buf("x", T * c.hiddenSize),
      xn: buf("xn", T * c.hiddenSize),
      qkv: buf("qkv", T * (qw + 2 * c.numKvHeads * c.headDim)),
      q: buf("q", T * qw),
      att: buf("att", T * qw),
      proj: buf("proj", T * c.hiddenSize),
      router: buf("router_logits", T * c.numExperts),
      sel: buf("sel", T * c.expertsPerToken),
      selW: buf("sel_w", T * c.expertsPerToken),
      moeAct: buf("moe_act", T * c.expertsPerToken * c.intermediateSize),
      moe: buf("moe", T * c.hiddenSize),
      logits: buf("logits", this.logitRows * c.vocabSize),
      best: buf("argmax", Math.max(T, TOPK_MAX)),
      topkVals: buf("topk_vals", TOPK_MAX),
      dummy: buf("dummy", 4),
    };
    this.staging = dev.createBuffer({
      label: "readback",
      size: Math.max(
        this.act.logits.size,
        T * Math.max(c.hiddenSize, qw, c.numExperts, c.expertsPerToken * c.intermediateSize) * 4,
      ),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.rec = new Recorder(dev, new PipelineCache(dev));
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

  static async create(config: ModelConfig, w: GptOssWeights, opts: WebGpuOptions): Promise<WebGpuBackend> {
    const gpu = opts.gpu ?? await openGpuDevice();
    const dev = gpu.device;
    const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
    const up = new WeightUploader(dev, Math.min(limit, opts.maxBindingBytes ?? limit));
    const c = config, kvw = c.numKvHeads * c.headDim;
    const maxTokens = Math.max(1, Math.min(opts.maxTokens ?? 128, opts.maxContext));
    const kvF16 = opts.kvCache === "f16";
    if (kvF16 && !gpu.hasF16) throw new OssiError("an f16 KV cache needs a GPU with shader-f16");
    const kvBytes = Math.ceil((opts.maxContext * kvw * (kvF16 ? 2 : 4)) / 4) * 4;
    if (kvBytes > limit) {
      throw new OssiError(
        `KV cache of ${opts.maxContext} tokens exceeds the GPU's storage binding limit; use a smaller context`,
      );
    }
    dev.pushErrorScope("out-of-memory");
    const cache = (label: string) => dev.createBuffer({ label, size: kvBytes, usage: STORAGE });
    const layers: LayerBuffers[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const L = w.layers[l], p = `layer ${l} `;
      layers.push({
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
      });
      opts.onProgress?.(l + 1, c.numLayers + 1);
      // Let the queue drain the staged uploads layer by layer instead of holding the whole model twice.
      await dev.queue.onSubmittedWorkDone();
    }
    const embedding = up.mat(w.embed, "embedding");
    const finalNorm = up.upload(w.finalNorm, "final_norm");
    const unembed = up.mat(w.unembed, "unembedding");
    const cosSin = up.upload(cosSinTable(config, opts.maxContext), "rope cos/sin");
    await dev.queue.onSubmittedWorkDone();
    const oom = await dev.popErrorScope();
    if (oom) {
      throw new OssiError(`the GPU ran out of memory loading the model (${oom.message.split("\n")[0]})`);
    }
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

  async forward(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Promise<Float32Array> {
    const T = tokens.length, V = this.config.vocabSize;
    this.validate(tokens, pos);
    const rows = opts.logits === "all" ? T : opts.logits === "last" ? Math.min(T, 1) : 0;
    const out = new Float32Array(rows * V);
    for (let t0 = 0; t0 < T; t0 += this.maxTokens) {
      const n = Math.min(this.maxTokens, T - t0);
      const chunk = Array.from({ length: n }, (_, i) => tokens[t0 + i]);
      const last = t0 + n === T;
      const mode = opts.logits === "all" ? "all" : opts.logits === "last" && last ? "last" : "none";
      await this.runChunk(chunk, pos + t0, opts.debug);
      if (mode === "none") continue;
      const first = mode === "last" ? n - 1 : 0;
      for (let r = first; r < n; r += this.logitRows) {
        const m = Math.min(this.logitRows, n - r);
        this.unembedRows(r, m);
        const got = await this.read(this.act.logits, m * V);
        out.set(got, (opts.logits === "all" ? t0 + r : 0) * V);
      }
    }
    return out;
  }

  /** Greedy fast path: runs `tokens` and returns the argmax token of the last one, reading back 4 bytes. */
  async greedy(tokens: ArrayLike<number>, pos: number): Promise<number> {
    await this.runPicking(tokens, pos, 0);
    return (await this.readU32(this.act.best, 1))[0];
  }

  /**
   * Sampling fast path: runs `tokens` and returns the k largest logits of the last one (value desc, index
   * asc) with their token ids, reading back 8k bytes. k <= min(vocab, 1024).
   */
  async topk(
    tokens: ArrayLike<number>,
    pos: number,
    k: number,
  ): Promise<{ ids: Uint32Array; logits: Float32Array }> {
    checkTopK(k, this.config.vocabSize);
    await this.runPicking(tokens, pos, k);
    return { ids: await this.readU32(this.act.best, k), logits: await this.read(this.act.topkVals, k) };
  }

  /** Runs tokens in chunks; after the last, the argmax (k = 0) or top-k of the last token on the GPU. */
  private async runPicking(tokens: ArrayLike<number>, pos: number, k: number): Promise<void> {
    const T = tokens.length;
    this.validate(tokens, pos);
    if (T === 0) throw new RangeError("greedy()/topk() need at least one token");
    for (let t0 = 0; t0 < T; t0 += this.maxTokens) {
      const n = Math.min(this.maxTokens, T - t0);
      const chunk = Array.from({ length: n }, (_, i) => tokens[t0 + i]);
      await this.runChunk(chunk, pos + t0, undefined, t0 + n === T ? k : -1);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weights.destroy();
    for (const L of this.layers) (L.kCache.destroy(), L.vCache.destroy());
    for (const b of Object.values(this.act)) b.destroy();
    this.staging.destroy();
    this.cosSin.destroy();
    this.rec.destroy();
    this.rec.profiler?.destroy();
  }

  private validate(tokens: ArrayLike<number>, pos: number): void {
    if (this.disposed) throw new OssiError("webgpu backend used after dispose()");
    checkTokens(tokens, pos, this.maxContext, this.config.vocabSize);
  }

  /**
   * The whole layer stack for tokens at pos.. (one submit unless debugging). `pick` >= 0 adds the last
   * token's unembedding and its argmax (0) or top-`pick` on the GPU.
   */
  private async runChunk(tokens: number[], pos: number, dbg?: DebugSink, pick = -1): Promise<void> {
    const c = this.config, a = this.act, rec = this.rec, T = tokens.length, H = c.hiddenSize;
    const qw = c.numHeads * c.headDim, K = c.expertsPerToken;
    const dump = dbg
      ? (name: string, l: number, b: GPUBuffer, width: number, off = 0) =>
        this.dump(dbg, name, l, b, T, width, off)
      : null;
    rec.reset();
    this.gpu.device.queue.writeBuffer(a.ids, 0, Uint32Array.from(tokens));
    const mm = (
      w: GpuMat,
      bias: GPUBuffer | null,
      x: GPUBuffer,
      y: GPUBuffer,
      extra: Partial<op.MatmulArgs> = {},
    ) => op.matmul(rec, { w, bias, dummy: a.dummy, x, y, tokens: T, ...extra });

    // token embedding
    op.embed(rec, a.ids, this.embedding, a.x, T);
    await dump?.("embedding", -1, a.x, H);
    for (let l = 0; l < c.numLayers; l++) {
      const L = this.layers[l];
      // attention rmsnorm; after the first layer fused with the previous layer's MoE residual add
      if (l === 0) op.rmsnorm(rec, a.x, 0, L.attnNorm, a.xn, T, H, c.rmsNormEps);
      else op.addRmsnorm(rec, a.x, a.moe, L.attnNorm, a.xn, T, H, c.rmsNormEps);
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
      });
      await dump?.("attn_core", l, a.att, qw);
      // output projection, residual
      mm(L.o, L.oBias, a.att, a.proj);
      await dump?.("attn_out", l, a.proj, H);
      // residual add fused with the mlp rmsnorm
      op.addRmsnorm(rec, a.x, a.proj, L.mlpNorm, a.xn, T, H, c.rmsNormEps);
      await dump?.("residual_after_attention", l, a.x, H);
      await dump?.("mlp_norm", l, a.xn, H);
      // router logits
      mm(L.router, L.routerBias, a.xn, a.router);
      await dump?.("router_logits", l, a.router, c.numExperts);
      // router top-k, gate_up + clamped SwiGLU, down, weighted sum
      op.moe(rec, {
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
    if (pick >= 0) {
      this.unembedRows(T - 1, 1);
      if (pick === 0) op.argmax(rec, a.logits, a.best, 1, c.vocabSize);
      else op.topk(rec, a.logits, a.best, a.topkVals, 1, c.vocabSize, pick);
    }
    await rec.submit();
  }

  /** Final norm and unembedding of chunk rows [r, r + m) into the logits buffer (recorded, not submitted). */
  private unembedRows(r: number, m: number): void {
    const c = this.config, a = this.act;
    op.rmsnorm(this.rec, a.x, r * c.hiddenSize, this.finalNorm, a.xn, m, c.hiddenSize, c.rmsNormEps);
    op.matmul(this.rec, { w: this.unembed, bias: null, dummy: a.dummy, x: a.xn, y: a.logits, tokens: m });
  }

  private async dump(
    dbg: DebugSink,
    name: string,
    layer: number,
    b: GPUBuffer,
    rows: number,
    width: number,
    off: number,
  ) {
    dbg(name, layer, rows, await this.read(b, rows * width, off));
  }

  /** Submits what is recorded, then copies `n` floats at element `off` of `b` back to the host. */
  private async read(b: GPUBuffer, n: number, off = 0): Promise<Float32Array> {
    return new Float32Array((await this.readBytes(b, n * 4, off * 4)).buffer);
  }

  private async readU32(b: GPUBuffer, n: number): Promise<Uint32Array> {
    return new Uint32Array((await this.readBytes(b, n * 4, 0)).buffer);
  }

  private async readBytes(b: GPUBuffer, bytes: number, off: number): Promise<Uint8Array> {
    this.rec.copy(b, off, this.staging, 0, bytes);
    await this.rec.submit();
    await this.staging.mapAsync(GPUMapMode.READ, 0, bytes);
    const out = new Uint8Array(this.staging.getMappedRange(0, bytes)).slice();
    this.staging.unmap();
    return out;
  }
}

/** cos and sin (times the YaRN concentration) of every position and frequency: [maxContext, dim/2] pairs. */
export function cosSinTable(config: Pick<ModelConfig, "rope">, maxContext: number): Float32Array {
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
