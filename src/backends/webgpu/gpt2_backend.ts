// The WebGPU forward pass of GPT-2: token plus learned position embedding, pre-LayerNorm blocks, fused
// q|k|v projection (Conv1D weights already [out, in] from gpt2.ts), causal multi-head attention without
// rotation or sinks, GELU (tanh) MLP, tied LM head.

import type { DebugSink } from "../backend.ts";
import type { Gpt2ViewConfig, Gpt2Weights } from "../legacy_views.ts";
import { type GpuDevice, openGpuDevice } from "./gpu_device.ts";
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

interface LayerBuffers {
  ln1W: GPUBuffer;
  ln1B: GPUBuffer;
  qkv: GpuMat; // [3*hidden, hidden]: q, k, v rows
  qkvBias: GPUBuffer;
  o: GpuMat;
  oBias: GPUBuffer;
  ln2W: GPUBuffer;
  ln2B: GPUBuffer;
  fc: GpuMat; // [ffn, hidden]
  fcBias: GPUBuffer;
  proj: GpuMat; // [hidden, ffn]
  projBias: GPUBuffer;
  kCache: GPUBuffer; // [maxContext, hidden] f32
  vCache: GPUBuffer;
}

export class Gpt2WebGpuBackend extends DenseGpuBackend<Gpt2ViewConfig> {
  private readonly act: Record<"posIds" | "x" | "xn" | "qkv" | "q" | "att" | "proj" | "hidden", GPUBuffer>;

  private constructor(
    config: Gpt2ViewConfig,
    maxContext: number,
    maxTokens: number,
    gpu: GpuDevice,
    weights: WeightUploader,
    private readonly tokenEmbed: GpuMat,
    private readonly posEmbed: GpuMat,
    private readonly layers: LayerBuffers[],
    private readonly finalNormW: GPUBuffer,
    private readonly finalNormB: GPUBuffer,
    private readonly unembed: GpuMat,
  ) {
    const c = config, T = maxTokens, H = c.hiddenSize;
    super(config, maxContext, maxTokens, gpu, weights, T * Math.max(H, c.ffnSize));
    this.act = {
      posIds: this.buffer("position ids", T),
      x: this.buffer("x", T * H),
      xn: this.buffer("xn", T * H),
      qkv: this.buffer("qkv", T * 3 * H),
      q: this.buffer("q", T * H),
      att: this.buffer("att", T * H),
      proj: this.buffer("proj", T * H),
      hidden: this.buffer("mlp_hidden", T * c.ffnSize),
    };
  }

  /** The context is capped at n_positions: there is no position embedding past it. */
  static async create(
    config: Gpt2ViewConfig,
    w: Gpt2Weights,
    opts: DenseGpuOptions,
  ): Promise<Gpt2WebGpuBackend> {
    const gpu = opts.gpu ?? await openGpuDevice();
    const dev = gpu.device, c = config, H = c.hiddenSize;
    const maxContext = Math.min(opts.maxContext, c.maxContext);
    const up = new WeightUploader(dev, bindingLimit(gpu, opts.maxBindingBytes));
    const maxTokens = chunkTokens(opts.maxTokens, maxContext);
    dev.pushErrorScope("out-of-memory");
    const uploadLayer = (l: number): LayerBuffers => {
      const L = w.layers[l], p = `layer ${l} `;
      return {
        ln1W: up.upload(L.ln1W, p + "ln_1.weight"),
        ln1B: up.upload(L.ln1B, p + "ln_1.bias"),
        qkv: up.mat(stackRows([L.q, L.k, L.v]), p + "qkv"),
        qkvBias: up.upload(Float32Array.from([...L.qBias, ...L.kBias, ...L.vBias]), p + "qkv_bias"),
        o: up.mat(L.o, p + "o"),
        oBias: up.upload(L.oBias, p + "o_bias"),
        ln2W: up.upload(L.ln2W, p + "ln_2.weight"),
        ln2B: up.upload(L.ln2B, p + "ln_2.bias"),
        fc: up.mat(L.fc, p + "c_fc"),
        fcBias: up.upload(L.fcBias, p + "c_fc.bias"),
        proj: up.mat(L.proj, p + "c_proj"),
        projBias: up.upload(L.projBias, p + "c_proj.bias"),
        kCache: kvCache(up, maxContext * H, p + "k_cache"),
        vCache: kvCache(up, maxContext * H, p + "v_cache"),
      };
    };
    const layers = await uploadLayers(dev, c.numLayers, uploadLayer);
    const tokenEmbed = up.mat(w.tokenEmbed, "wte");
    const unembed = w.unembed === w.tokenEmbed ? tokenEmbed : up.mat(w.unembed, "lm_head");
    const posEmbed = up.mat(w.posEmbed, "wpe");
    const finalNormW = up.upload(w.finalNormW, "ln_f.weight");
    const finalNormB = up.upload(w.finalNormB, "ln_f.bias");
    await checkUploaded(dev);
    return new Gpt2WebGpuBackend(
      c,
      maxContext,
      maxTokens,
      gpu,
      up,
      tokenEmbed,
      posEmbed,
      layers,
      finalNormW,
      finalNormB,
      unembed,
    );
  }

  protected async recordLayers(T: number, pos: number, dump: Dump | null, _dbg?: DebugSink): Promise<void> {
    const c = this.config, a = this.act, rec = this.rec, H = c.hiddenSize, eps = c.norm.eps;
    const dummy = this.io.dummy;
    const mm = (w: GpuMat, bias: GPUBuffer, x: GPUBuffer, y: GPUBuffer) =>
      op.matmul(rec, { w, bias, dummy, x, y, tokens: T });

    // token embedding + learned position embedding (rows pos..pos+T-1 of wpe, gathered like tokens)
    this.gpu.device.queue.writeBuffer(a.posIds, 0, Uint32Array.from({ length: T }, (_, t) => pos + t));
    op.embed(rec, this.io.ids, this.tokenEmbed, a.x, T);
    op.embed(rec, a.posIds, this.posEmbed, a.proj, T);
    op.addInplace(rec, a.proj, a.x, T * H);
    await dump?.("embedding", -1, a.x, H);
    for (let l = 0; l < c.numLayers; l++) {
      const L = this.layers[l];
      // attention layernorm; after the first layer fused with the previous layer's MLP residual add
      if (l === 0) dense.layernorm(rec, a.x, 0, L.ln1W, L.ln1B, a.xn, T, H, eps);
      else dense.addLayernorm(rec, a.x, a.proj, L.ln1W, L.ln1B, a.xn, T, H, eps);
      if (l > 0) await dump?.("residual_after_mlp", l - 1, a.x, H);
      await dump?.("attn_norm", l, a.xn, H);
      // q, k, v (fused, with biases); k and v appended to the cache rows pos..pos+T-1 without rotation
      mm(L.qkv, L.qkvBias, a.xn, a.qkv);
      op.ropeQkv(rec, {
        qkv: a.qkv,
        q: a.q,
        kCache: L.kCache,
        vCache: L.vCache,
        cosSin: dummy,
        tokens: T,
        heads: c.numHeads,
        kvHeads: c.numHeads,
        headDim: c.headDim,
        pos0: pos,
        rope: false,
      });
      // causal multi-head attention
      op.attention(rec, {
        q: a.q,
        k: L.kCache,
        v: L.vCache,
        sinks: this.noSinks,
        out: a.att,
        tokens: T,
        pos0: pos,
        heads: c.numHeads,
        kvHeads: c.numHeads,
        headDim: c.headDim,
        window: 0,
      });
      // output projection
      mm(L.o, L.oBias, a.att, a.proj);
      await dump?.("attn_out", l, a.proj, H);
      // residual add fused with the mlp layernorm
      dense.addLayernorm(rec, a.x, a.proj, L.ln2W, L.ln2B, a.xn, T, H, eps);
      await dump?.("residual_after_attention", l, a.x, H);
      await dump?.("mlp_norm", l, a.xn, H);
      // c_fc, gelu, c_proj
      mm(L.fc, L.fcBias, a.xn, a.hidden);
      dense.geluTanh(rec, a.hidden, T * c.ffnSize);
      mm(L.proj, L.projBias, a.hidden, a.proj);
      await dump?.("mlp_out", l, a.proj, H);
      // residual (for all but the last layer, done by the next layer's fused norm)
      if (l === c.numLayers - 1) {
        op.addInplace(rec, a.proj, a.x, T * H);
        await dump?.("residual_after_mlp", l, a.x, H);
      }
    }
  }

  protected recordLogits(r: number, m: number): void {
    const c = this.config, a = this.act, H = c.hiddenSize;
    // final layernorm, tied unembedding
    dense.layernorm(this.rec, a.x, r * H, this.finalNormW, this.finalNormB, a.xn, m, H, c.norm.eps);
    this.recordUnembedding(this.unembed, a.xn, m);
  }
}
