// The WASM CPU backend: one forward pass over the model's plan (every architecture) on AssemblyScript SIMD
// kernels. Everything per layer runs in worker threads over weight shards (see shard_layout.ts), each a
// row-slice of every matrix in its own memory, so a model larger than wasm32's 4 GiB fits: attention on
// each shard's own KV heads and cache, the matmuls, routing on each shard's router copy. The main thread
// keeps the residual stream, widens the embedding rows, moves rows between shards and adds the residuals.
// A batch of sequences runs as one stack of rows: every matmul reads its weights once for all of them;
// rope, the cache append and attention run per sequence against its slot's cache (one per slot in each
// shard). greedy()/topk() of one sequence unembed on the shards and bring back only each shard's best k
// logits, not the whole row.

import { OssiError } from "../../errors.ts";
import type { ModelConfig } from "../../model/config.ts";
import { loadRow } from "../../model/dtypes.ts";
import type { ModelPlan } from "../../model/plan.ts";
import { ropeTables } from "../../model/rope.ts";
import type { ModelWeights } from "../../model/weights.ts";
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
import { Arena, instantiateKernels, type Kernels, readKernelsWasm, sharedMemory } from "./kernels.ts";
import { releaseMappedPages } from "./page_release.ts";
import { ropeCosSin } from "./rope_tables.ts";
import { fillShard } from "./shard_fill.ts";
import {
  checkShardsFit,
  type FfnSlices,
  type NormSlice,
  planShards,
  shardCount,
  type ShardLayout,
  type ShardModel,
  shardParams,
  UNEMBED_ROWS,
} from "./shard_layout.ts";
import { norm } from "./shard_ops.ts";
import { type Segment, Step } from "./shard_step.ts";
import { wasmUnsupported } from "./plan_support.ts";
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
  /**
   * Tokens per prefill step (default 256): each step streams every expert's weights once for all its
   * tokens, so longer steps read fewer bytes per token (a 512-token prefill: 64 -> 256 was 1.2-1.4x).
   */
  readonly maxTokens?: number;
  /**
   * Quantize the experts' activations to int8 per 32 values (MXFP4 experts: faster, about 1.5x decode and
   * 1.9x prefill on the experts, instead of 22 bits, which keep the f32 reference's accuracy; float experts
   * on int8 weights: one int8 level instead of 15 bits). Default false.
   */
  readonly moeInt8?: boolean;
  /**
   * Every dense matrix but the router (attention, dense MLPs, float experts, unembedding) as int8 with a
   * bf16 scale per 32 columns, quantized at load from the file's bf16, f16 or f32 (a quarter of f32's
   * bytes, half of bf16's), on 15-bit activations; matrices whose width is not a multiple of 32 stay as
   * they are. Default false.
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
  xn: number; // [T, hidden]: the final norm (and, for debug dumps, the layer norms)
  att: number; // [T, heads*headDim] attention of all heads (and, for debug dumps, the roped queries)
  kRows: number; // [T, kvHeads*headDim] for debug dumps: the roped keys
  proj: number; // [T, hidden]
  act: number; // [T*k, widest FFN]
  attnNorm: NormSlice[]; // per layer [hidden] weight and bias, for debug dumps
  mlpNorm: NormSlice[];
  finalNorm: NormSlice;
}

/** A chunk row whose logits are wanted, and where they go: `out` from float `at`. */
interface LogitRow {
  readonly row: number;
  readonly out: Float32Array;
  readonly at: number;
}

/**
 * What a chunk polls before each step on the shards and within the long ones (WorkerPool.run); true stops it
 * (ForwardAbortedError).
 */
type StopPoll = (() => boolean) | undefined;

/** The options of one sequence's forward(). */
export interface SequenceOptions {
  readonly logits: Sequence["logits"];
  readonly debug?: DebugSink;
}

/**
 * The pass itself: batches (forwardBatch/greedyBatch, behind the batch interface in wasm_batch_backend.ts)
 * and, on slot 0, one sequence's forward()/greedy()/topk().
 */
export class WasmBackend {
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
    private readonly plan: ModelPlan,
    private readonly w: ModelWeights,
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
    config: ModelConfig,
    plan: ModelPlan,
    w: ModelWeights,
    opts: WasmBackendOptions,
  ): Promise<WasmBackend> {
    const c = config, H = c.hiddenSize, qw = c.numHeads * c.headDim;
    const why = wasmUnsupported(c, plan);
    if (why) throw new OssiError(`wasm backend: cannot run ${why}; try --backend ref`);
    const threads = opts.threads ?? navigator.hardwareConcurrency ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new OssiError(`--threads must be an integer from 1 to 256, got ${opts.threads}`, 2);
    }
    const maxTokens = opts.maxTokens ?? 256, slots = opts.slots ?? 1;
    // learned positions end at the model's context
    const ctx = Math.min(opts.maxContext, c.maxContext);
    if (!Number.isInteger(slots) || slots < 1) throw new OssiError(`wasm backend: bad slot count ${slots}`);
    const wasm = readKernelsWasm();
    const module = new WebAssembly.Module(wasm as BufferSource);

    // main memory: the residual stream and the rows moved between shards
    const a = new Arena(), T = maxTokens;
    const K = Math.max(1, ...plan.layers.map((p) => (p.mlp.kind === "moe" ? p.mlp.topK : 1)));
    const F = Math.max(...plan.layers.map((p) => p.mlp.width));
    const norms = (bias: boolean) => ({ w: a.alloc(H * 4), b: bias ? a.alloc(H * 4) : 0 });
    const b: MainBuffers = {
      x: a.alloc(T * H * 4),
      xn: a.alloc(T * H * 4),
      att: a.alloc(T * qw * 4),
      kRows: a.alloc(T * c.numKvHeads * c.headDim * 4),
      proj: a.alloc(T * H * 4),
      act: a.alloc(T * K * F * 4),
      attnNorm: plan.layers.map((p) => norms(p.norm === "layernorm")),
      mlpNorm: plan.layers.map((p) => norms(p.norm === "layernorm")),
      finalNorm: norms(w.finalNormBias !== null),
    };
    const memory = sharedMemory(a.pages);
    const f32 = new Float32Array(memory.buffer);
    const putNorm = (n: NormSlice, weight: Float32Array, bias: Float32Array | null) => {
      f32.set(weight, n.w / 4);
      if (n.b) f32.set(bias!, n.b / 4);
    };
    w.layers.forEach((L, l) => {
      putNorm(b.attnNorm[l], L.attnNorm, L.attnNormBias);
      putNorm(b.mlpNorm[l], L.mlpNorm, L.mlpNormBias);
    });
    putNorm(b.finalNorm, w.finalNorm, w.finalNormBias);

    // weight shards, copied once from the mapping, each with its heads' KV cache of every slot
    const moeInt8 = opts.moeInt8 || opts.q8Recipe;
    const model: ShardModel = {
      config: c,
      plan,
      weights: w,
      maxTokens,
      maxContext: ctx,
      slots,
      formats: {
        int8Weights: opts.int8Weights || opts.q8Recipe,
        int8Router: opts.q8Recipe,
        expertRows4: moeInt8,
      },
    };
    const layouts = planShards(model, opts.shards ?? shardCount(model, threads));
    checkShardsFit(layouts);
    const rope = c.rope ? ropeCosSin(ropeTables(c.rope), c.headDim, ctx) : null;
    // progress in parts: each shard's layers and its unembedding
    const total = layouts.length * (plan.layers.length + 1);
    let done = 0;
    const memories: WebAssembly.Memory[] = [];
    for (const layout of layouts) {
      const m = sharedMemory(layout.pages);
      memories.push(m);
      // dropping the mapping's resident pages after each part keeps peak RSS near the wasm memories alone
      fillShard(layout, m, w, rope, instantiateKernels(module, m), () => {
        if (opts.files) releaseMappedPages(opts.files);
        opts.onProgress?.(++done, total);
      });
    }
    const pool = await WorkerPool.start(
      wasm,
      layouts,
      memories,
      shardParams(c, plan, maxTokens, moeInt8),
      Math.min(threads, layouts.length),
    );
    return new WasmBackend(
      c,
      plan,
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
   * chunked as it always was), polling `stop` before each step on the shards. Returns each sequence's
   * logits as its `logits` asks, unchecked (the batch interface checks them).
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

  /** topk() on any slot, polling `stop` before each step. */
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
    if (stop?.()) throw new ForwardAbortedError();
    // final norm of the last token; each shard unembeds it and keeps its k best
    norm(this.k, b.finalNorm, b.xn, b.x + (T - 1) * H * 4, this.config.norm.eps, 1, H);
    this.broadcast(b.xn, H);
    this.pool.run(Step.UnembedTopK, k, 1, stop);
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
   * at its positions, polling `stop` before each step on the shards and within the long ones (a stop lands
   * within one range of experts or one run of attention rows); writes the logits of the `want` rows.
   */
  private chunk(
    tokens: readonly number[],
    segs: readonly Segment[],
    want: readonly LogitRow[],
    dbg: DebugSink | undefined,
    stop: StopPoll,
  ): void {
    const c = this.config, k = this.k, b = this.b, f32 = this.f32, H = c.hiddenSize, T = tokens.length;
    const hd = c.headDim, qw = c.numHeads * hd, kvw = c.numKvHeads * hd, ffnTap = this.plan.ffnTap;
    const emit = (name: string, layer: number, rows: number, at: number, width: number) =>
      dbg?.(name, layer, rows, f32.slice(at / 4, at / 4 + rows * width));
    const run = (step: Step, layer: number, rows = T) => {
      if (stop?.()) throw new ForwardAbortedError();
      this.pool.run(step, layer, rows, stop);
    };

    // token embedding, widened from the mapping (plus the learned position of each row)
    for (let t = 0; t < T; t++) {
      const at = b.x / 4 + t * H;
      loadRow(this.w.embed, tokens[t], f32.subarray(at, at + H), this.u32.subarray(at, at + H));
    }
    if (this.w.posEmbed) this.addPositions(segs, T);
    emit("embedding", -1, T, b.x, H);
    this.pool.setSegments(segs);

    for (let l = 0; l < c.numLayers; l++) {
      const p = this.plan.layers[l], K = p.mlp.kind === "moe" ? p.mlp.topK : 1, F = p.mlp.width;
      // attention: each shard norms x, projects q/k/v of its KV heads (QK-norm where the plan has it),
      // then per sequence ropes them, appends to its slot's cache (positions >= pos are overwritten) and
      // attends (sinks and sliding window where the layer has them)
      if (dbg) this.debugNorm(dbg, "attn_norm", l, T, b.attnNorm[l]);
      this.broadcast(b.x, T * H);
      run(Step.Attn, l);
      if (dbg && p.attention.rope) {
        const what = p.attention.qkNorm ? "qk_norm_and_rope" : "rope";
        this.gather((s) => ({ r0: s.heads.h0 * hd, rows: s.heads.heads * hd }), T, b.att, qw, (io) => io.q);
        emit(`q_after_${what}`, l, T, b.att, qw);
        this.gather(
          (s) => ({ r0: s.heads.kv0 * hd, rows: s.heads.kvHeads * hd }),
          T,
          b.kRows,
          kvw,
          (io) => io.k,
        );
        emit(`k_after_${what}`, l, T, b.kRows, kvw);
      }
      this.gatherHeads(T, b.att, qw);
      emit("attn_core", l, T, b.att, qw);
      // output projection, residual
      this.broadcast(b.att, T * qw);
      run(Step.Out, l);
      this.gather((s) => s.layers[l].o, T, b.proj, H);
      emit("attn_out", l, T, b.proj, H);
      k.add_inplace(b.x, b.proj, T * H);
      emit("residual_after_attention", l, T, b.x, H);

      // feed-forward: each shard norms x and computes its columns of the activation (experts: routed
      // with its router copy, the same choice everywhere: same bits), then its rows of the down projection
      // (experts: summed over each token's choices)
      if (dbg) this.debugNorm(dbg, "mlp_norm", l, T, b.mlpNorm[l]);
      this.broadcast(b.x, T * H);
      run(Step.FfnUp, l);
      if (dbg && p.mlp.kind === "moe") this.debugRouting(dbg, l, T, p.mlp.experts, K);
      this.gather((s) => ({ r0: s.layers[l].act.c0, rows: s.layers[l].act.cols }), T * K, b.act, F);
      this.broadcast(b.act, T * K * F);
      run(Step.Down, l);
      this.gather((s) => downRows(s.layers[l].ffn), T, b.proj, H);
      emit(`${ffnTap}_out`, l, T, b.proj, H);
      // residual
      k.add_inplace(b.x, b.proj, T * H);
      emit(`residual_after_${ffnTap}`, l, T, b.x, H);
    }

    if (want.length === 0) return;
    // final norm of the wanted rows (side by side), unembedding into the callers' logits, UNEMBED_ROWS
    // rows at a time
    want.forEach((w, j) => norm(k, b.finalNorm, b.xn + j * H * 4, b.x + w.row * H * 4, c.norm.eps, 1, H));
    emit("final_norm", -1, want.length, b.xn, H);
    for (let r0 = 0; r0 < want.length; r0 += UNEMBED_ROWS) {
      const rows = Math.min(UNEMBED_ROWS, want.length - r0);
      this.broadcast(b.xn + r0 * H * 4, rows * H);
      run(Step.Unembed, 0, rows);
      this.layouts.forEach((s, i) => {
        const src = this.shardF32[i], y = s.io.y / 4, u = s.unembed;
        for (let j = 0; j < rows; j++) {
          const w = want[r0 + j];
          w.out.set(src.subarray(y + j * u.rows, y + (j + 1) * u.rows), w.at + u.r0);
        }
      });
    }
  }

  /** Adds each row's learned position embedding (f32 adds, as the reference) to the residual x. */
  private addPositions(segs: readonly Segment[], T: number): void {
    const H = this.config.hiddenSize, x = this.f32.subarray(this.b.x / 4, this.b.x / 4 + T * H);
    const row = new Float32Array(H);
    for (const g of segs) {
      for (let t = 0; t < g.n; t++) {
        loadRow(this.w.posEmbed!, g.pos + t, row);
        const at = (g.row + t) * H;
        for (let i = 0; i < H; i++) x[at + i] += row[i];
      }
    }
  }

  /** Debug dumps only: the norm the shards apply, computed here from the same kernel and inputs. */
  private debugNorm(dbg: DebugSink, name: string, l: number, T: number, n: NormSlice): void {
    const H = this.config.hiddenSize, b = this.b;
    norm(this.k, n, b.xn, b.x, this.config.norm.eps, T, H);
    dbg(name, l, T, this.f32.slice(b.xn / 4, b.xn / 4 + T * H));
  }

  /** Debug dumps only: router logits, choices and weights, as shard 0 computed them (all have the same). */
  private debugRouting(dbg: DebugSink, l: number, T: number, E: number, K: number): void {
    const io = this.layouts[0].io, f32 = this.shardF32[0];
    dbg("router_logits", l, T, f32.slice(io.router / 4, io.router / 4 + T * E));
    dbg("router_topk", l, T, Float32Array.from(this.shardI32[0].subarray(io.sel / 4, io.sel / 4 + T * K)));
    dbg("expert_weights", l, T, f32.slice(io.selW / 4, io.selW / 4 + T * K));
  }

  /** Copies `floats` floats at main offset `at` into every shard's io.x. */
  private broadcast(at: number, floats: number): void {
    const src = this.f32.subarray(at / 4, at / 4 + floats);
    this.layouts.forEach((s, i) => this.shardF32[i].set(src, s.io.x / 4));
  }

  /**
   * Assembles [T, width] at main offset `at` from each shard's [T, rows] slice starting at column r0, read
   * from its io.y (or the buffer `from` picks).
   */
  private gather(
    slice: (s: ShardLayout) => { r0: number; rows: number },
    T: number,
    at: number,
    width: number,
    from: (io: ShardLayout["io"]) => number = (io) => io.y,
  ): void {
    this.layouts.forEach((s, i) => {
      const { r0, rows } = slice(s), src = this.shardF32[i], y = from(s.io) / 4;
      for (let t = 0; t < T; t++) {
        this.f32.set(src.subarray(y + t * rows, y + (t + 1) * rows), at / 4 + t * width + r0);
      }
    });
  }

  /** Assembles the attention rows [T, heads*headDim] from each shard's heads. */
  private gatherHeads(T: number, at: number, width: number): void {
    const hd = this.config.headDim;
    this.gather((s) => ({ r0: s.heads.h0 * hd, rows: s.heads.heads * hd }), T, at, width);
  }

  /** Turns the per-step profile on (an empty one) or off (null); see stepProfile(). */
  set profiling(on: boolean) {
    this.pool.profile = on ? {} : null;
  }

  /** Milliseconds spent in each worker step since profiling was turned on, by step name. */
  stepProfile(): Record<string, number> {
    const p = this.pool.profile ?? {};
    return Object.fromEntries(Object.entries(p).map(([step, ms]) => [Step[Number(step)], ms]));
  }

  dispose(): void {
    this.pool.dispose();
  }
}

/** The rows of the hidden state a shard's down projection writes. */
function downRows(f: FfnSlices): { r0: number; rows: number } {
  return f.kind === "float" ? f.down[0] : f.down;
}
