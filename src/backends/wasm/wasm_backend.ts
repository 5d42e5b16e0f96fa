// The WASM CPU backend: the gpt-oss forward pass over AssemblyScript SIMD kernels. The main thread owns one
// memory with activations, norms and the KV cache and runs the cheap steps (norms, rope, attention, top-k);
// the matmuls run in worker threads over weight shards (see shard_layout.ts), each a row-slice of every
// matrix in its own memory, so a model larger than wasm32's 4 GiB fits. greedy()/topk() unembed on the
// shards and bring back only each shard's best k logits, not the whole row.

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
import { Arena, instantiateKernels, type Kernels, readKernelsWasm, sharedMemory } from "./kernels.ts";
import { releaseMappedPages } from "./page_release.ts";
import { ropeCosSin } from "./rope_tables.ts";
import {
  fillShard,
  placedWeightBytes,
  planShards,
  shardCount,
  type ShardLayout,
  shardParams,
} from "./shard_layout.ts";
import { Step } from "./shard_step.ts";
import { WorkerPool } from "./worker_pool.ts";

export interface WasmBackendOptions {
  readonly maxContext: number;
  /** Worker threads (default: all cores). */
  readonly threads?: number;
  /** Weight shards (default: enough for the 4 GiB limit, a multiple of threads); for tests. */
  readonly shards?: number;
  /** Tokens per prefill step (default 64). */
  readonly maxTokens?: number;
  /**
   * Quantize the MoE experts' activations to int8 per 32 values (faster: about 1.5x decode and 1.9x prefill
   * on the experts) instead of 22 bits, which keeps the f32 reference's accuracy. Default false.
   */
  readonly moeInt8?: boolean;
  /**
   * Attention, router and unembedding as int8 rows with a scale each, quantized at load from the file's
   * bf16 (half the bytes per token), on int8 activations. Default false.
   */
  readonly int8Weights?: boolean;
  /**
   * The quality gate's yardstick, llama.cpp's recipe on the same weights: int8 weights for the router too,
   * and one int8 level (not 15 bits) for the activations of every int8 matmul. Not a user mode.
   */
  readonly q8Recipe?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
  /** The model's files; mapped ones have their resident pages dropped after each shard is copied. */
  readonly files?: readonly { bytes: Uint8Array; mapped: boolean }[];
}

/** Byte offsets of the main thread's buffers; activations are sized for maxTokens rows. */
interface MainBuffers {
  x: number; // [T, hidden] residual stream
  xn: number; // [T, hidden]
  q: number; // [T, heads*headDim]
  k: number; // [T, kvHeads*headDim]
  v: number;
  att: number; // [T, heads*headDim]
  proj: number; // [T, hidden]
  router: number; // [T, experts]
  sel: number; // [T, k] i32
  selW: number; // [T, k]
  act: number; // [T*k, ffn]
  scores: number; // [maxContext]
  cos: number; // [maxContext, headDim/2]
  sin: number;
  attnNorm: number[]; // per layer [hidden]
  mlpNorm: number[];
  sinks: number[]; // per layer [heads]
  finalNorm: number;
  kCache: number[]; // per layer [maxContext, kvHeads*headDim]
  vCache: number[];
}

/** The logits argument of a chunk that unembeds no row. */
const NO_LOGITS = new Float32Array(0);

export class WasmBackend implements Backend {
  readonly name = "wasm" as const;
  private readonly f32: Float32Array;
  private readonly u32: Uint32Array;
  private readonly shardF32: Float32Array[];
  private readonly shardI32: Int32Array[];
  /** The merged candidates of the last greedy()/topk() call, best first, and each shard's merge cursor. */
  private readonly bestIds = new Uint32Array(TOPK_MAX);
  private readonly bestVals = new Float32Array(TOPK_MAX);
  private readonly cursors: Int32Array;

  private constructor(
    readonly config: ModelConfig,
    private readonly w: GptOssWeights,
    readonly maxContext: number,
    readonly threads: number,
    private readonly maxTokens: number,
    private readonly k: Kernels,
    memory: WebAssembly.Memory,
    private readonly b: MainBuffers,
    private readonly layouts: ShardLayout[],
    shardMemories: WebAssembly.Memory[],
    private readonly pool: WorkerPool,
  ) {
    this.f32 = new Float32Array(memory.buffer);
    this.u32 = new Uint32Array(memory.buffer);
    this.shardF32 = shardMemories.map((m) => new Float32Array(m.buffer));
    this.shardI32 = shardMemories.map((m) => new Int32Array(m.buffer));
    this.cursors = new Int32Array(layouts.length);
  }

  /** Number of weight shards (wasm memories) the model is spread over. */
  get shards(): number {
    return this.layouts.length;
  }

  static async create(config: ModelConfig, w: GptOssWeights, opts: WasmBackendOptions): Promise<WasmBackend> {
    const c = config, H = c.hiddenSize, qw = c.numHeads * c.headDim, kvw = c.numKvHeads * c.headDim;
    if (H % 32 !== 0 || qw % 8 !== 0 || c.headDim % 4 !== 0) {
      throw new OssiError(
        `wasm backend: needs hidden % 32, heads*head_dim % 8 and head_dim % 4 == 0 (got ${H}, ${qw}, ${c.headDim}); try --backend ref`,
      );
    }
    if (w.embed.dtype !== "BF16") {
      throw new OssiError(`wasm backend: the embedding is ${w.embed.dtype}; it supports BF16 only`);
    }
    const threads = opts.threads ?? navigator.hardwareConcurrency ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new OssiError(`--threads must be an integer from 1 to 256, got ${opts.threads}`, 2);
    }
    const maxTokens = opts.maxTokens ?? 64, ctx = opts.maxContext;
    const wasm = readKernelsWasm();
    const module = new WebAssembly.Module(wasm as BufferSource);

    // main memory: activations, norms, rope tables and the KV cache
    const a = new Arena(), T = maxTokens, K = c.expertsPerToken;
    const vecs = (n: number) => Array.from({ length: c.numLayers }, () => a.alloc(n * 4));
    const b: MainBuffers = {
      x: a.alloc(T * H * 4),
      xn: a.alloc(T * H * 4),
      q: a.alloc(T * qw * 4),
      k: a.alloc(T * kvw * 4),
      v: a.alloc(T * kvw * 4),
      att: a.alloc(T * qw * 4),
      proj: a.alloc(T * H * 4),
      router: a.alloc(T * c.numExperts * 4),
      sel: a.alloc(T * K * 4),
      selW: a.alloc(T * K * 4),
      act: a.alloc(T * K * c.intermediateSize * 4),
      scores: a.alloc(ctx * 4),
      cos: a.alloc((ctx * c.headDim) / 2 * 4),
      sin: a.alloc((ctx * c.headDim) / 2 * 4),
      attnNorm: vecs(H),
      mlpNorm: vecs(H),
      sinks: vecs(c.numHeads),
      finalNorm: a.alloc(H * 4),
      kCache: vecs(ctx * kvw),
      vCache: vecs(ctx * kvw),
    };
    if (a.offset > 4 * 2 ** 30 - 2 ** 20) {
      throw new OssiError(
        `wasm backend: a KV cache of ${ctx} tokens does not fit in 4 GiB; use a smaller --max-context`,
      );
    }
    const memory = sharedMemory(a.pages);
    const f32 = new Float32Array(memory.buffer);
    const tables = ropeCosSin(ropeTables(c.rope), c.headDim, ctx);
    f32.set(tables.cos, b.cos / 4);
    f32.set(tables.sin, b.sin / 4);
    w.layers.forEach((L, l) => {
      f32.set(L.attnNorm, b.attnNorm[l] / 4);
      f32.set(L.mlpNorm, b.mlpNorm[l] / 4);
      f32.set(L.sinks, b.sinks[l] / 4);
    });
    f32.set(w.finalNorm, b.finalNorm / 4);

    // weight shards, copied once from the mapping
    const moeInt8 = opts.moeInt8 || opts.q8Recipe;
    const layouts = planShards(c, opts.shards ?? shardCount(c, threads), maxTokens, {
      int8Weights: opts.int8Weights || opts.q8Recipe,
      int8Router: opts.q8Recipe,
      expertRows4: moeInt8,
    });
    const total = placedWeightBytes(c);
    let done = 0;
    const memories: WebAssembly.Memory[] = [];
    for (const layout of layouts) {
      const m = sharedMemory(layout.pages);
      memories.push(m);
      // dropping the mapping's resident pages after each layer keeps peak RSS near the wasm memories alone
      const release = () => opts.files && releaseMappedPages(opts.files);
      const packer = instantiateKernels(module, m);
      fillShard(
        layout,
        m,
        w,
        packer,
        (n) => opts.onProgress?.(done = Math.min(total, done + n), total),
        release,
      );
      release();
    }
    opts.onProgress?.(total, total);
    const pool = await WorkerPool.start(
      wasm,
      layouts,
      memories,
      shardParams(c, maxTokens, moeInt8, opts.q8Recipe ? 127 : 16383),
      Math.min(threads, layouts.length),
    );
    return new WasmBackend(
      c,
      w,
      ctx,
      threads,
      maxTokens,
      instantiateKernels(module, memory),
      memory,
      b,
      layouts,
      memories,
      pool,
    );
  }

  forward(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Promise<Float32Array> {
    try {
      return Promise.resolve(this.forwardSync(tokens, pos, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  forwardSync(tokens: ArrayLike<number>, pos: number, opts: ForwardOptions): Float32Array {
    const n = tokens.length, V = this.config.vocabSize;
    checkTokens(tokens, pos, this.maxContext, this.config.vocabSize);
    const rows = opts.logits === "all" ? n : opts.logits === "last" && n > 0 ? 1 : 0;
    const logits = new Float32Array(rows * V);
    for (let t0 = 0; t0 < n; t0 += this.maxTokens) {
      const T = Math.min(this.maxTokens, n - t0);
      // rows of this chunk whose logits are wanted: all, or the very last token's
      const first = opts.logits === "all" ? 0 : opts.logits === "last" && t0 + T === n ? T - 1 : T;
      this.chunk(tokens, t0, T, pos + t0, first, logits, opts.logits === "all" ? t0 : 0, opts.debug);
    }
    return logits;
  }

  /** Greedy fast path: runs `tokens` and returns the argmax token of the last one (ties: lowest id; 0 when
   * no logit is above -Infinity, as the sampler's argmax), from one candidate per shard. */
  greedy(tokens: ArrayLike<number>, pos: number): Promise<number> {
    try {
      const found = this.pickSync(tokens, pos, 1);
      return Promise.resolve(found > 0 && this.bestVals[0] > -Infinity ? this.bestIds[0] : 0);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Sampling fast path: runs `tokens` and returns the k largest logits of the last one (value desc, index
   * asc) with their token ids, merged from k candidates per shard. k <= min(vocab, 1024). NaN logits are
   * never chosen (fewer than k come back only when the row holds NaN).
   */
  topk(
    tokens: ArrayLike<number>,
    pos: number,
    k: number,
  ): Promise<{ ids: Uint32Array; logits: Float32Array }> {
    try {
      checkTopK(k, this.config.vocabSize);
      const found = this.pickSync(tokens, pos, k);
      return Promise.resolve({ ids: this.bestIds.slice(0, found), logits: this.bestVals.slice(0, found) });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Runs `tokens`; leaves the k best logits of the last one in bestIds/bestVals and returns their count. */
  private pickSync(tokens: ArrayLike<number>, pos: number, k: number): number {
    const n = tokens.length, H = this.config.hiddenSize, b = this.b;
    checkTokens(tokens, pos, this.maxContext, this.config.vocabSize);
    if (n === 0) throw new RangeError("greedy()/topk() need at least one token");
    let T = 0;
    for (let t0 = 0; t0 < n; t0 += T) {
      T = Math.min(this.maxTokens, n - t0);
      this.chunk(tokens, t0, T, pos + t0, T, NO_LOGITS, 0, undefined);
    }
    // final norm of the last token; each shard unembeds it and keeps its k best
    this.k.rmsnorm(b.xn, b.x + (T - 1) * H * 4, b.finalNorm, this.config.rmsNormEps, 1, H);
    this.broadcast(b.xn, H);
    this.pool.run(Step.UnembedTopK, k, 1);
    return this.mergeCandidates(k);
  }

  /** Merges the shards' best-first candidate lists into bestIds/bestVals (value desc, id asc). */
  private mergeCandidates(k: number): number {
    const cur = this.cursors.fill(0);
    let found = 0;
    for (; found < k; found++) {
      let best = -1, bestId = 0, bestV = 0;
      for (let i = 0; i < this.layouts.length; i++) {
        const io = this.layouts[i].io, row = cur[i] < k ? this.shardI32[i][io.topkIds / 4 + cur[i]] : -1;
        if (row < 0) continue; // this shard's list is used up
        const v = this.shardF32[i][io.topkVals / 4 + cur[i]], id = this.layouts[i].unembed.r0 + row;
        if (best < 0 || v > bestV || (v === bestV && id < bestId)) (best = i), (bestId = id), (bestV = v);
      }
      if (best < 0) break;
      cur[best]++;
      this.bestIds[found] = bestId;
      this.bestVals[found] = bestV;
    }
    return found;
  }

  /** Runs tokens [t0, t0+T) at positions pos..; writes logits of chunk rows [first, T) from row outRow. */
  private chunk(
    tokens: ArrayLike<number>,
    t0: number,
    T: number,
    pos: number,
    first: number,
    logits: Float32Array,
    outRow: number,
    dbg: DebugSink | undefined,
  ): void {
    const c = this.config, k = this.k, b = this.b, f32 = this.f32, H = c.hiddenSize;
    const qw = c.numHeads * c.headDim,
      kvw = c.numKvHeads * c.headDim,
      K = c.expertsPerToken,
      F = c.intermediateSize;
    const emit = (name: string, layer: number, rows: number, at: number, width: number) =>
      dbg?.(name, layer, rows, f32.slice(at / 4, at / 4 + rows * width));

    // token embedding: bf16 rows widened straight from the mapping
    const embed = this.w.embed.data as Uint16Array;
    for (let t = 0; t < T; t++) {
      const src = tokens[t0 + t] * H, dst = b.x / 4 + t * H;
      for (let i = 0; i < H; i++) this.u32[dst + i] = embed[src + i] << 16;
    }
    emit("embedding", -1, T, b.x, H);

    for (let l = 0; l < c.numLayers; l++) {
      // attention rmsnorm
      k.rmsnorm(b.xn, b.x, b.attnNorm[l], c.rmsNormEps, T, H);
      emit("attn_norm", l, T, b.xn, H);
      // q, k, v projections (with biases) on the shards
      this.broadcast(b.xn, T * H);
      this.pool.run(Step.Qkv, l, T);
      this.gather((s) => s.layers[l].q, "y", T, b.q, qw);
      this.gather((s) => s.layers[l].k, "yk", T, b.k, kvw);
      this.gather((s) => s.layers[l].v, "yv", T, b.v, kvw);
      // rope on q and k, then append k, v to the cache (positions >= pos are overwritten)
      k.rope(b.q, T, qw, c.numHeads, c.headDim, b.cos, b.sin, pos);
      k.rope(b.k, T, kvw, c.numKvHeads, c.headDim, b.cos, b.sin, pos);
      f32.copyWithin(b.kCache[l] / 4 + pos * kvw, b.k / 4, b.k / 4 + T * kvw);
      f32.copyWithin(b.vCache[l] / 4 + pos * kvw, b.v / 4, b.v / 4 + T * kvw);
      // attention with sinks (sliding window on the layers that have one)
      k.sdpa_sink_window(
        b.att,
        b.q,
        b.kCache[l],
        b.vCache[l],
        pos,
        T,
        c.layerWindows[l],
        b.sinks[l],
        c.numHeads,
        c.numKvHeads,
        c.headDim,
        b.scores,
      );
      emit("attn_core", l, T, b.att, qw);
      // output projection, residual
      this.broadcast(b.att, T * qw);
      this.pool.run(Step.Out, l, T);
      this.gather((s) => s.layers[l].o, "y", T, b.proj, H);
      emit("attn_out", l, T, b.proj, H);
      k.add_inplace(b.x, b.proj, T * H);
      emit("residual_after_attention", l, T, b.x, H);

      // mlp rmsnorm, router, top-k softmax
      k.rmsnorm(b.xn, b.x, b.mlpNorm[l], c.rmsNormEps, T, H);
      emit("mlp_norm", l, T, b.xn, H);
      this.broadcast(b.xn, T * H);
      this.pool.run(Step.Router, l, T);
      this.gather((s) => s.layers[l].router, "y", T, b.router, c.numExperts);
      emit("router_logits", l, T, b.router, c.numExperts);
      k.topk_softmax(b.router, T, c.numExperts, K, b.sel, b.selW);
      if (dbg) dbg("router_topk", l, T, Float32Array.from(new Int32Array(f32.buffer, b.sel, T * K)));
      this.broadcastSelection(T * K);
      // gate_up + SwiGLU per chosen expert (xn is still in every shard's io.x)
      this.pool.run(Step.GateUp, l, T);
      this.gatherPairs(l, T * K, b.act, F);
      // down projection, weighted sum over the chosen experts
      this.broadcast(b.act, T * K * F);
      this.pool.run(Step.Down, l, T);
      this.gather((s) => s.layers[l].down, "y", T, b.proj, H);
      emit("moe_out", l, T, b.proj, H);
      // residual
      k.add_inplace(b.x, b.proj, T * H);
      emit("residual_after_moe", l, T, b.x, H);
    }

    const rows = T - first;
    if (rows === 0) return;
    // final norm, unembedding straight into the caller's logits
    k.rmsnorm(b.xn, b.x + first * H * 4, b.finalNorm, c.rmsNormEps, rows, H);
    emit("final_norm", -1, rows, b.xn, H);
    this.broadcast(b.xn, rows * H);
    this.pool.run(Step.Unembed, 0, rows);
    const V = c.vocabSize;
    this.layouts.forEach((s, i) => {
      const src = this.shardF32[i], y = s.io.y / 4, u = s.unembed;
      for (let t = 0; t < rows; t++) {
        logits.set(src.subarray(y + t * u.rows, y + (t + 1) * u.rows), (outRow + t) * V + u.r0);
      }
    });
  }

  /** Copies `floats` floats at main offset `at` into every shard's io.x. */
  private broadcast(at: number, floats: number): void {
    const src = this.f32.subarray(at / 4, at / 4 + floats);
    this.layouts.forEach((s, i) => this.shardF32[i].set(src, s.io.x / 4));
  }

  private broadcastSelection(count: number): void {
    const sel = new Int32Array(this.f32.buffer, this.b.sel, count),
      w = this.f32.subarray(this.b.selW / 4, this.b.selW / 4 + count);
    this.layouts.forEach((s, i) => {
      this.shardI32[i].set(sel, s.io.sel / 4);
      this.shardF32[i].set(w, s.io.selW / 4);
    });
  }

  /** Assembles [T, width] at main offset `at` from each shard's [T, rows] slice starting at column r0. */
  private gather(
    slice: (s: ShardLayout) => { r0: number; rows: number },
    buf: "y" | "yk" | "yv",
    T: number,
    at: number,
    width: number,
  ): void {
    this.layouts.forEach((s, i) => {
      const { r0, rows } = slice(s), src = this.shardF32[i], y = s.io[buf] / 4;
      for (let t = 0; t < T; t++) {
        this.f32.set(src.subarray(y + t * rows, y + (t + 1) * rows), at / 4 + t * width + r0);
      }
    });
  }

  /** Assembles the SwiGLU activations [count, ffn] from each shard's [count, pairs] slice. */
  private gatherPairs(l: number, count: number, at: number, ffn: number): void {
    this.layouts.forEach((s, i) => {
      const g = s.layers[l].gateUp, pairs = g.rows / 2, p0 = g.r0 / 2, src = this.shardF32[i], y = s.io.y / 4;
      for (let r = 0; r < count; r++) {
        this.f32.set(src.subarray(y + r * pairs, y + (r + 1) * pairs), at / 4 + r * ffn + p0);
      }
    });
  }

  dispose(): void {
    this.pool.dispose();
  }
}
