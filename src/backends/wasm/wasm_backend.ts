// The WASM CPU backend: the gpt-oss forward pass over AssemblyScript SIMD kernels. The main thread owns one
// memory with activations, norms and the KV caches (one per slot) and runs the cheap steps (norms, rope,
// attention, top-k); the matmuls run in worker threads over weight shards (see shard_layout.ts), each a
// row-slice of every matrix in its own memory, so a model larger than wasm32's 4 GiB fits. A batch of
// sequences runs as one stack of rows: every matmul reads its weights once for all of them; rope, the
// cache append and attention run per sequence against its slot's cache. greedy()/topk() of one sequence
// unembed on the shards and bring back only each shard's best k logits, not the whole row.

import { OssiError } from "../../errors.ts";
import type { GptOssConfig } from "../../model/gpt_oss.ts";
import {
  checkBatch,
  checkFinite,
  checkTokens,
  checkTopK,
  type DebugSink,
  ForwardAbortedError,
  logitRows,
  NonFiniteError,
  type Sequence,
  TOPK_MAX,
} from "../backend.ts";
import type { GptOssWeights } from "../legacy_views.ts";
import type { SequenceOptions, SingleSequenceBackend } from "../single_sequence.ts";
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
  /** KV-cache capacity of each slot, in tokens. */
  readonly maxContext: number;
  /** KV caches (default 1): sequences that a batch may run side by side. */
  readonly slots?: number;
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
  kCache: number[]; // per slot and layer (slot * layers + layer) [maxContext, kvHeads*headDim]
  vCache: number[];
}

/** One sequence's rows of a chunk: rows [row, row + n) at positions pos, pos+1, ... of KV slot `slot`. */
interface Segment {
  readonly slot: number;
  readonly row: number;
  readonly n: number;
  readonly pos: number;
}

/** A chunk row whose logits are wanted, and where they go: `out` from float `at`. */
interface LogitRow {
  readonly row: number;
  readonly out: Float32Array;
  readonly at: number;
}

/** What a chunk polls between the steps of each layer; true stops it (ForwardAbortedError). */
type StopPoll = (() => boolean) | undefined;

export class WasmBackend implements SingleSequenceBackend {
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
    readonly config: GptOssConfig,
    private readonly w: GptOssWeights,
    readonly maxContext: number,
    readonly slots: number,
    readonly threads: number,
    readonly maxTokens: number,
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

  static async create(
    config: GptOssConfig,
    w: GptOssWeights,
    opts: WasmBackendOptions,
  ): Promise<WasmBackend> {
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
    const maxTokens = opts.maxTokens ?? 64, ctx = opts.maxContext, slots = opts.slots ?? 1;
    if (!Number.isInteger(slots) || slots < 1) throw new OssiError(`wasm backend: bad slot count ${slots}`);
    const wasm = readKernelsWasm();
    const module = new WebAssembly.Module(wasm as BufferSource);

    // main memory: activations, norms, rope tables and the KV cache
    const a = new Arena(), T = maxTokens, K = c.expertsPerToken;
    const vecs = (n: number, copies = 1) =>
      Array.from({ length: c.numLayers * copies }, () => a.alloc(n * 4));
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
      kCache: vecs(ctx * kvw, slots),
      vCache: vecs(ctx * kvw, slots),
    };
    if (a.offset > 4 * 2 ** 30 - 2 ** 20) {
      throw new OssiError(
        `wasm backend: ${slots} KV cache${slots > 1 ? "s" : ""} of ${ctx} tokens do not fit in 4 GiB; ` +
          `use a smaller --max-context${slots > 1 ? " or fewer slots" : ""}`,
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
    const layouts = planShards(c, opts.shards ?? shardCount(c, threads), maxTokens);
    const total = placedWeightBytes(c);
    let done = 0;
    const memories: WebAssembly.Memory[] = [];
    for (const layout of layouts) {
      const m = sharedMemory(layout.pages);
      memories.push(m);
      // dropping the mapping's resident pages after each layer keeps peak RSS near the wasm memories alone
      const release = () => opts.files && releaseMappedPages(opts.files);
      fillShard(layout, m, w, (n) => opts.onProgress?.(done = Math.min(total, done + n), total), release);
      release();
    }
    opts.onProgress?.(total, total);
    const pool = await WorkerPool.start(
      wasm,
      layouts,
      memories,
      shardParams(c, maxTokens, opts.moeInt8),
      Math.min(threads, layouts.length),
    );
    return new WasmBackend(
      c,
      w,
      ctx,
      slots,
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

  forward(tokens: ArrayLike<number>, pos: number, opts: SequenceOptions): Promise<Float32Array> {
    try {
      return Promise.resolve(this.forwardSync(tokens, pos, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** One sequence on slot 0 (the single-sequence interface). */
  forwardSync(tokens: ArrayLike<number>, pos: number, opts: SequenceOptions): Float32Array {
    checkTokens(tokens, pos, this.maxContext, this.config.vocabSize);
    return this.forwardBatch([{ slot: 0, tokens, pos, logits: opts.logits }], opts.debug)[0];
  }

  /**
   * Runs a batch as stacks of up to maxTokens rows (a sequence may span chunks; one sequence alone is
   * chunked exactly as before), polling `stop` between layers. Returns each sequence's logits as its
   * `logits` asks, unchecked (the batch interface checks them).
   */
  forwardBatch(batch: readonly Sequence[], debug?: DebugSink, stop?: StopPoll): Float32Array[] {
    const V = this.config.vocabSize;
    checkBatch(batch, this.slots, this.maxContext, V);
    const outs = batch.map((s) => new Float32Array(logitRows(s) * V));
    let si = 0, off = 0;
    while (si < batch.length) {
      const ids: number[] = [], segs: Segment[] = [], want: LogitRow[] = [];
      // fill one chunk, sequence after sequence
      for (; si < batch.length && ids.length < this.maxTokens; si++, off = 0) {
        const s = batch[si],
          n = Math.min(s.tokens.length - off, this.maxTokens - ids.length),
          row = ids.length;
        for (let t = 0; t < n; t++) {
          ids.push(s.tokens[off + t]);
          if (s.logits === "all") want.push({ row: row + t, out: outs[si], at: (off + t) * V });
        }
        if (s.logits === "last" && n > 0 && off + n === s.tokens.length) {
          want.push({ row: row + n - 1, out: outs[si], at: 0 });
        }
        if (n > 0) segs.push({ slot: s.slot, row, n, pos: s.pos + off });
        off += n;
        if (off < s.tokens.length) break; // the chunk is full: this sequence goes on in the next one
      }
      if (ids.length > 0) this.chunk(ids, segs, want, debug, stop);
    }
    return outs;
  }

  /**
   * Each sequence's argmax after running the batch (ties: lowest id). One sequence takes the shards'
   * top-1 path; several unembed their last rows together (one read of the unembedding) and pick here.
   */
  greedyBatch(batch: readonly Sequence[], stop?: StopPoll): number[] {
    if (batch.length === 1) {
      const s = batch[0];
      checkBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
      if (s.tokens.length === 0) throw new RangeError("greedy()/topk() need at least one token");
      this.pickSync(s.tokens, s.pos, 1, s.slot, stop);
      return [this.bestIds[0]];
    }
    const V = this.config.vocabSize;
    const rows = this.forwardBatch(batch.map((s) => ({ ...s, logits: "last" })), undefined, stop);
    return rows.map((r, i) => {
      checkFinite(r, V, batch[i].pos + batch[i].tokens.length - 1);
      let best = 0;
      for (let j = 1; j < V; j++) if (r[j] > r[best]) best = j;
      return best;
    });
  }

  /** Greedy fast path: runs `tokens` and returns the argmax token of the last one (ties: lowest id), from
   * one candidate per shard; NonFiniteError when the row holds NaN or the best logit is infinite. */
  greedy(tokens: ArrayLike<number>, pos: number): Promise<number> {
    try {
      this.pickSync(tokens, pos, 1);
      return Promise.resolve(this.bestIds[0]);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Sampling fast path: runs `tokens` and returns the k largest logits of the last one (value desc, index
   * asc) with their token ids, merged from k candidates per shard. k <= min(vocab, 1024). NaN logits are
   * never chosen: fewer than k candidates means the row holds NaN, a NonFiniteError as an infinite logit.
   */
  topk(
    tokens: ArrayLike<number>,
    pos: number,
    k: number,
  ): Promise<{ ids: Uint32Array; logits: Float32Array }> {
    try {
      return Promise.resolve(this.topkSync(tokens, pos, k));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** topk() on any slot, polling `stop` between layers. */
  topkSync(
    tokens: ArrayLike<number>,
    pos: number,
    k: number,
    slot = 0,
    stop?: StopPoll,
  ): { ids: Uint32Array; logits: Float32Array } {
    checkTopK(k, this.config.vocabSize);
    const found = this.pickSync(tokens, pos, k, slot, stop);
    return { ids: this.bestIds.slice(0, found), logits: this.bestVals.slice(0, found) };
  }

  /**
   * Runs `tokens`; leaves the k best logits of the last one in bestIds/bestVals and returns their count (k:
   * fewer are found only when the row holds NaN, which, like an infinite best logit, is a NonFiniteError).
   */
  private pickSync(tokens: ArrayLike<number>, pos: number, k: number, slot = 0, stop?: StopPoll): number {
    const n = tokens.length, H = this.config.hiddenSize, b = this.b;
    checkTokens(tokens, pos, this.maxContext, this.config.vocabSize);
    if (n === 0) throw new RangeError("greedy()/topk() need at least one token");
    let T = 0;
    for (let t0 = 0; t0 < n; t0 += T) {
      T = Math.min(this.maxTokens, n - t0);
      const ids = Array.from({ length: T }, (_, t) => tokens[t0 + t]);
      this.chunk(ids, [{ slot, row: 0, n: T, pos: pos + t0 }], [], undefined, stop);
    }
    // final norm of the last token; each shard unembeds it and keeps its k best
    this.k.rmsnorm(b.xn, b.x + (T - 1) * H * 4, b.finalNorm, this.config.norm.eps, 1, H);
    this.broadcast(b.xn, H);
    this.pool.run(Step.UnembedTopK, k, 1);
    const found = this.mergeCandidates(k);
    if (found < k || !Number.isFinite(this.bestVals[0])) {
      throw new NonFiniteError(found < k ? NaN : this.bestVals[0], pos + n - 1);
    }
    return found;
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

  /**
   * Runs one stack of rows (`tokens`, one per row), each sequence's rows (`segs`) against its slot's cache
   * at its positions, polling `stop` before each step on the shards (a stop lands within one step of one
   * layer); writes the logits of the `want` rows.
   */
  private chunk(
    tokens: readonly number[],
    segs: readonly Segment[],
    want: readonly LogitRow[],
    dbg: DebugSink | undefined,
    stop: StopPoll,
  ): void {
    const c = this.config, k = this.k, b = this.b, f32 = this.f32, H = c.hiddenSize, T = tokens.length;
    const qw = c.numHeads * c.headDim,
      kvw = c.numKvHeads * c.headDim,
      K = c.expertsPerToken,
      F = c.intermediateSize;
    const emit = (name: string, layer: number, rows: number, at: number, width: number) =>
      dbg?.(name, layer, rows, f32.slice(at / 4, at / 4 + rows * width));
    const run = (step: Step, layer: number) => {
      if (stop?.()) throw new ForwardAbortedError();
      this.pool.run(step, layer, T);
    };

    // token embedding: bf16 rows widened straight from the mapping
    const embed = this.w.embed.data as Uint16Array;
    for (let t = 0; t < T; t++) {
      const src = tokens[t] * H, dst = b.x / 4 + t * H;
      for (let i = 0; i < H; i++) this.u32[dst + i] = embed[src + i] << 16;
    }
    emit("embedding", -1, T, b.x, H);

    for (let l = 0; l < c.numLayers; l++) {
      // attention rmsnorm
      k.rmsnorm(b.xn, b.x, b.attnNorm[l], c.norm.eps, T, H);
      emit("attn_norm", l, T, b.xn, H);
      // q, k, v projections (with biases) on the shards
      this.broadcast(b.xn, T * H);
      run(Step.Qkv, l);
      this.gather((s) => s.layers[l].q, "y", T, b.q, qw);
      this.gather((s) => s.layers[l].k, "yk", T, b.k, kvw);
      this.gather((s) => s.layers[l].v, "yv", T, b.v, kvw);
      // per sequence: rope on q and k, append k, v to its slot's cache (positions >= pos are overwritten),
      // attention with sinks (sliding window on the layers that have one)
      for (const g of segs) {
        const q = b.q + g.row * qw * 4, kr = b.k + g.row * kvw * 4, vr = b.v + g.row * kvw * 4;
        const kc = b.kCache[g.slot * c.numLayers + l], vc = b.vCache[g.slot * c.numLayers + l];
        k.rope(q, g.n, qw, c.numHeads, c.headDim, b.cos, b.sin, g.pos);
        k.rope(kr, g.n, kvw, c.numKvHeads, c.headDim, b.cos, b.sin, g.pos);
        f32.copyWithin(kc / 4 + g.pos * kvw, kr / 4, kr / 4 + g.n * kvw);
        f32.copyWithin(vc / 4 + g.pos * kvw, vr / 4, vr / 4 + g.n * kvw);
        k.sdpa_sink_window(
          b.att + g.row * qw * 4,
          q,
          kc,
          vc,
          g.pos,
          g.n,
          c.layerWindows[l],
          b.sinks[l],
          c.numHeads,
          c.numKvHeads,
          c.headDim,
          b.scores,
        );
      }
      emit("attn_core", l, T, b.att, qw);
      // output projection, residual
      this.broadcast(b.att, T * qw);
      run(Step.Out, l);
      this.gather((s) => s.layers[l].o, "y", T, b.proj, H);
      emit("attn_out", l, T, b.proj, H);
      k.add_inplace(b.x, b.proj, T * H);
      emit("residual_after_attention", l, T, b.x, H);

      // mlp rmsnorm, router, top-k softmax
      k.rmsnorm(b.xn, b.x, b.mlpNorm[l], c.norm.eps, T, H);
      emit("mlp_norm", l, T, b.xn, H);
      this.broadcast(b.xn, T * H);
      run(Step.Router, l);
      this.gather((s) => s.layers[l].router, "y", T, b.router, c.numExperts);
      emit("router_logits", l, T, b.router, c.numExperts);
      k.topk_softmax(b.router, T, c.numExperts, K, b.sel, b.selW);
      if (dbg) dbg("router_topk", l, T, Float32Array.from(new Int32Array(f32.buffer, b.sel, T * K)));
      this.broadcastSelection(T * K);
      // gate_up + SwiGLU per chosen expert (xn is still in every shard's io.x)
      run(Step.GateUp, l);
      this.gatherPairs(l, T * K, b.act, F);
      // down projection, weighted sum over the chosen experts
      this.broadcast(b.act, T * K * F);
      run(Step.Down, l);
      this.gather((s) => s.layers[l].down, "y", T, b.proj, H);
      emit("moe_out", l, T, b.proj, H);
      // residual
      k.add_inplace(b.x, b.proj, T * H);
      emit("residual_after_moe", l, T, b.x, H);
    }

    const rows = want.length;
    if (rows === 0) return;
    if (stop?.()) throw new ForwardAbortedError();
    // final norm of the wanted rows (side by side), unembedding into the callers' logits
    want.forEach((w, j) => k.rmsnorm(b.xn + j * H * 4, b.x + w.row * H * 4, b.finalNorm, c.norm.eps, 1, H));
    emit("final_norm", -1, rows, b.xn, H);
    this.broadcast(b.xn, rows * H);
    this.pool.run(Step.Unembed, 0, rows);
    this.layouts.forEach((s, i) => {
      const src = this.shardF32[i], y = s.io.y / 4, u = s.unembed;
      want.forEach((w, j) => w.out.set(src.subarray(y + j * u.rows, y + (j + 1) * u.rows), w.at + u.r0));
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
