// The WebGPU backend: one forward pass over the model's plan for every architecture (forward_pass.ts), on a
// batch of sequences, each against its own KV slot at its own position. Weights live in GPU buffers (split
// where a tensor exceeds the binding limit); activations and every slot's KV cache are allocated once. A
// batch runs as steps of at most chunkTokens rows, each one command encoder and one submit (with a stop
// hook, a long step submits per layer so a stop lands between layers); decode reads back one row of logits
// per sequence, 4 bytes with greedy(), or k (id, logit) pairs with topk().

import { OssiError } from "../../errors.ts";
import type { MappedFile } from "../../io/mmap.ts";
import type { ModelConfig } from "../../model/config.ts";
import type { ModelPlan } from "../../model/plan.ts";
import type { ModelWeights } from "../../model/weights.ts";
import type { Backend, ForwardOptions, PickSequence, Sequence } from "../backend.ts";
import {
  checkBatch,
  checkFinite,
  checkPickBatch,
  checkTopK,
  ForwardAbortedError,
  logitRows,
  NonFiniteError,
  TOPK_MAX,
} from "../backend.ts";
import { batchSteps, type Step, type WantedRow, wantedRows } from "./batch_steps.ts";
import { type Activations, type PassContext, recordLayers, recordLogits, type Taps } from "./forward_pass.ts";
import { type GpuDevice, openGpuDevice } from "./gpu_device.ts";
import { type GpuModel, uploadModel } from "./gpu_model.ts";
import { bindingLimit, checkUploaded, STORAGE, WeightUploader } from "./gpu_weights.ts";
import * as op from "./ops.ts";
import { GROUP_MAX_EXPERTS, moeGroupedSizes } from "./ops_moe.ts";
import { PipelineCache } from "./pipelines.ts";
import { webgpuUnsupported } from "./plan_support.ts";
import { GpuProfiler, type KernelTime } from "./profiler.ts";
import { Recorder } from "./recorder.ts";

export interface WebGpuOptions {
  /** KV-cache capacity of each slot in tokens (at most the model's context). */
  readonly maxContext: number;
  /** KV caches, one per sequence run at once (default 1). */
  readonly slots?: number;
  /** Rows per step (default 128): longer inputs run in chunks; activations are sized for this. */
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
  /** The mapped checkpoint files: their resident pages are dropped as each layer reaches the GPU. */
  readonly files?: readonly Pick<MappedFile, "bytes" | "mapped">[];
  /** Experts run grouped from this many slots per active expert on average (tests: 0, always). */
  readonly moeGroupMin?: number;
}

/**
 * Prompt rows (of pieces longer than one token) from which a step with a stop hook submits per layer: a
 * shorter step takes milliseconds, and decode steps, of any number of sequences, stay one submit.
 */
export const STOP_POLL_ROWS = 16;

/** A sink far below any score: exp(sink - max) is 0, so attention has no sink (finite on every platform). */
const NO_SINK = -3e38;

/** Bit 31 of a picked index: the row held a NaN or infinite logit (shaders/row_topk.wgsl). */
const NONFINITE = 0x80000000;

/** What a step's picked rows come back as: argmax ids (k 0) or the top k of each. */
type PickMode = { readonly k: number };

/** What comes back for the wanted rows of a step: their logits, or their picked ids (and top-k logits). */
type Readback = { logits?: Float32Array; ids?: Uint32Array; vals?: Float32Array };

export class WebGpuBackend implements Backend {
  readonly name = "webgpu" as const;
  readonly chunkTokens: number;
  private readonly rec: Recorder;
  private readonly ctx: PassContext;
  /** Host-side inputs of a step: (position, slot) of each row on the GPU. */
  private readonly rowsInfo: GPUBuffer;
  /** Logits rows (one binding), and the picks of argmax/top-k. */
  private readonly io: Record<"logits" | "best" | "bestVals", GPUBuffer>;
  /** Rows of logits that fit the logits buffer. */
  private readonly logitRows: number;
  private readonly staging: GPUBuffer;
  private readonly owned: GPUBuffer[] = [];
  private disposed = false;

  private constructor(
    readonly config: ModelConfig,
    readonly plan: ModelPlan,
    readonly maxContext: number,
    readonly slots: number,
    maxTokens: number,
    readonly gpu: GpuDevice,
    /** Weights and caches, destroyed with the backend. */
    private readonly weights: WeightUploader,
    model: GpuModel,
    kvF16: boolean,
    moeGroupMin: number | undefined,
  ) {
    const c = config, T = maxTokens, H = c.hiddenSize, D = c.headDim, V = c.vocabSize;
    const qw = c.numHeads * D, kvw = c.numKvHeads * D, layers = plan.layers;
    this.chunkTokens = T;
    const moes = layers.flatMap((p) => p.mlp.kind === "moe" ? [p.mlp] : []);
    const denseWidth = Math.max(0, ...layers.map((p) => p.mlp.kind === "dense" ? p.mlp.width : 0));
    const E = Math.max(0, ...moes.map((m) => m.experts)), K = Math.max(0, ...moes.map((m) => m.topK));
    const expertWidth = Math.max(0, ...moes.map((m) => m.topK * m.width));
    const act: Activations = {
      embedRows: this.buffer("embedding rows", T * H),
      x: this.buffer("x", T * H),
      xn: this.buffer("xn", T * H),
      qkv: this.buffer("qkv", T * (qw + 2 * kvw)),
      q: this.buffer("q", T * qw),
      att: this.buffer("att", T * qw),
      proj: this.buffer("proj", T * H),
      ffn: this.buffer("ffn_out", T * H),
      up: this.buffer("mlp_up", T * 2 * denseWidth),
      hidden: this.buffer("mlp_hidden", T * denseWidth),
      router: this.buffer("router_logits", T * E),
      sel: this.buffer("sel", T * K),
      selW: this.buffer("sel_w", T * K),
      expertAct: this.buffer("expert_act", T * expertWidth),
    };
    const groupable = moes.filter((m) => m.experts <= GROUP_MAX_EXPERTS);
    let moeGrouped = null;
    if (groupable.length) {
      const g = groupable.map((m) => moeGroupedSizes(T, m.topK, m.experts, H, moeGroupMin));
      moeGrouped = {
        order: this.buffer("moe_order", Math.max(...g.map((s) => s.order))),
        tiles: this.buffer("moe_tiles", Math.max(...g.map((s) => s.tiles))),
        slotOut: this.buffer("moe_slot_out", Math.max(...g.map((s) => s.slotOut))),
      };
    }
    const splitRows = Math.min(T, op.SPLIT_MAX_ROWS);
    const splitFloats = splitRows * c.numHeads * op.attentionSplits(maxContext) * (D + 2);
    const noSinks = this.buffer("no sinks", c.numHeads);
    gpu.device.queue.writeBuffer(noSinks, 0, new Float32Array(c.numHeads).fill(NO_SINK));
    // compiled pipelines are shared by every backend on a device (backends built again compile nothing)
    this.rec = new Recorder(gpu.device, PipelineCache.of(gpu.device));
    this.ctx = {
      rec: this.rec,
      config,
      plan,
      model,
      act,
      dummy: this.buffer("dummy", 4),
      noSinks,
      kvF16,
      attnSplit: { scratch: this.buffer("attention_partials", splitFloats), floats: splitFloats },
      moeGrouped,
      moeGroupMin,
    };
    this.rowsInfo = this.buffer("rows (position, slot)", 2 * T);
    this.logitRows = Math.max(1, Math.min(T, Math.floor(weights.maxBinding / (V * 4))));
    const picks = this.logitRows * Math.min(V, TOPK_MAX);
    this.io = {
      logits: this.buffer("logits", this.logitRows * V),
      best: this.buffer("picked ids", picks),
      bestVals: this.buffer("picked logits", picks),
    };
    // the largest readback: logits rows, or a debug tap of the widest activation
    const widest = Math.max(H, qw + 2 * kvw, E, K, 2 * denseWidth, expertWidth);
    this.staging = gpu.device.createBuffer({
      label: "readback",
      size: Math.max(this.io.logits.size, T * widest * 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Uploads the weights the plan needs and allocates every slot's cache; one line when the plan is not supported. */
  static async create(
    config: ModelConfig,
    plan: ModelPlan,
    weights: ModelWeights,
    opts: WebGpuOptions,
  ): Promise<WebGpuBackend> {
    const why = webgpuUnsupported(config, plan);
    if (why) throw new OssiError(`webgpu backend: ${why} is not supported; try --backend ref`);
    const slots = opts.slots ?? 1;
    if (!Number.isInteger(slots) || slots < 1) throw new OssiError(`slots must be a whole number >= 1`);
    const gpu = opts.gpu ?? await openGpuDevice();
    const kvF16 = opts.kvCache === "f16";
    if (kvF16 && !gpu.hasF16) throw new OssiError("an f16 KV cache needs a GPU with shader-f16");
    const maxContext = Math.min(opts.maxContext, config.maxContext);
    const maxTokens = Math.max(1, Math.min(opts.maxTokens ?? 128, maxContext));
    const dev = gpu.device;
    const up = new WeightUploader(dev, bindingLimit(gpu, opts.maxBindingBytes));
    // an out-of-memory error anywhere in the uploads is one line; the scope is popped whatever happens
    dev.pushErrorScope("out-of-memory");
    let model: GpuModel | null = null, failed: unknown = null;
    try {
      model = await uploadModel(up, config, plan, weights, {
        slots,
        ctx: maxContext,
        kvF16,
        cacheLimit: bindingLimit(gpu),
        onProgress: opts.onProgress,
        files: opts.files,
      });
    } catch (e) {
      failed = e;
    }
    await checkUploaded(dev).catch((e) => failed ??= e);
    if (failed || !model) {
      up.destroy();
      throw failed;
    }
    const b = new WebGpuBackend(
      config,
      plan,
      maxContext,
      slots,
      maxTokens,
      gpu,
      up,
      model,
      kvF16,
      opts.moeGroupMin,
    );
    b.setProfiling(opts.profile ?? false);
    return b;
  }

  async forward(batch: readonly Sequence[], opts: ForwardOptions = {}): Promise<Float32Array[]> {
    this.live();
    const V = this.config.vocabSize;
    checkBatch(batch, this.slots, this.maxContext, V);
    const out = batch.map((s) => new Float32Array(logitRows(s) * V));
    await this.run(batch, opts, null, (w, { logits }) => {
      for (let i = 0; i < w.length; i++) {
        out[w[i].seq].set(logits!.subarray(i * V, (i + 1) * V), w[i].out * V);
      }
    });
    batch.forEach((s, i) => checkFinite(out[i], V, s.pos + s.tokens.length - logitRows(s)));
    return out;
  }

  /**
   * Greedy fast path: each sequence's argmax after its last token, computed on the GPU (4 bytes read back
   * per sequence); NonFiniteError when that row holds a NaN or infinite logit.
   */
  async greedy(batch: readonly PickSequence[], opts: ForwardOptions = {}): Promise<number[]> {
    this.live();
    checkPickBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
    const out: number[] = new Array(batch.length);
    await this.run(lastOf(batch), opts, { k: 0 }, (w, { ids }) => {
      for (let i = 0; i < w.length; i++) out[w[i].seq] = this.checkedId(ids![i], batch[w[i].seq]);
    });
    return out;
  }

  /**
   * Sampling fast path: each sequence's k largest logits after its last token (value desc, id asc) with
   * their ids, reading back 8k bytes per sequence. k <= min(vocab, TOPK_MAX).
   */
  async topk(
    batch: readonly PickSequence[],
    k: number,
    opts: ForwardOptions = {},
  ): Promise<{ ids: Uint32Array; logits: Float32Array }[]> {
    this.live();
    checkTopK(k, this.config.vocabSize);
    checkPickBatch(batch, this.slots, this.maxContext, this.config.vocabSize);
    const out: { ids: Uint32Array; logits: Float32Array }[] = new Array(batch.length);
    await this.run(lastOf(batch), opts, { k }, (w, { ids, vals }) => {
      for (let i = 0; i < w.length; i++) {
        const s = w[i].seq, mine = ids!.slice(i * k, (i + 1) * k);
        mine[0] = this.checkedId(mine[0], batch[s]);
        out[s] = { ids: mine, logits: vals!.slice(i * k, (i + 1) * k) };
      }
    });
    return out;
  }

  /**
   * Dispatches, queue submits and bytes of weights read (as the kernels' host wrappers count them) since
   * the backend was created: the cost of a step on any adapter, by difference.
   */
  counters(): { dispatches: number; submits: number; weightBytes: number } {
    return { dispatches: this.rec.dispatches, submits: this.rec.submits, weightBytes: this.rec.weightBytes };
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

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weights.destroy();
    for (const b of this.owned) b.destroy();
    this.staging.destroy();
    this.rec.destroy();
    this.rec.profiler?.destroy();
  }

  /**
   * Runs the batch step by step; after each step, the wanted rows' logits (or, with `pick`, their argmax or
   * top k) are read back and handed to `got` with the rows they belong to. A step whose rows are all read
   * back goes in one submit with that read.
   */
  private async run(
    batch: readonly Sequence[],
    opts: ForwardOptions,
    pick: PickMode | null,
    got: (rows: WantedRow[], r: Readback) => void,
  ): Promise<void> {
    const stop = opts.shouldStop;
    for (const step of batchSteps(batch, this.chunkTokens)) {
      if (stop?.()) throw new ForwardAbortedError();
      const taps = opts.debug ? this.taps(step, opts.debug) : null;
      const promptRows = step.pieces.reduce((n, p) => n + (p.n > 1 ? p.n : 0), 0);
      await this.recordStep(batch, step, taps, stop && promptRows >= STOP_POLL_ROWS ? stop : null);
      const wanted = wantedRows(step, batch);
      if (wanted.length === 0) {
        await this.rec.submit();
        continue;
      }
      const finals: Float32Array[] = [];
      for (let g = 0; g < wanted.length; g += this.logitRows) {
        const w = wanted.slice(g, g + this.logitRows), m = w.length;
        this.recordLogitsOf(w);
        if (taps) finals.push(await this.read(this.ctx.act.xn, m * this.config.hiddenSize));
        if (!pick) got(w, { logits: await this.read(this.io.logits, m * this.config.vocabSize) });
        else if (pick.k === 0) {
          op.rowTopkArgmax(this.rec, this.io.logits, this.io.best, m, this.config.vocabSize);
          got(w, { ids: await this.readU32(this.io.best, m) });
        } else {
          op.rowTopk(
            this.rec,
            this.io.logits,
            this.io.best,
            this.io.bestVals,
            m,
            this.config.vocabSize,
            pick.k,
          );
          const ids = await this.readU32(this.io.best, m * pick.k);
          got(w, { ids, vals: await this.read(this.io.bestVals, m * pick.k) });
        }
      }
      if (finals.length) opts.debug!("final_norm", -1, wanted.length, concat(finals));
    }
  }

  /**
   * Writes the step's row inputs and records its layer stack (one submit per step, made by the read that
   * follows or by the caller). With `stop`, each layer is submitted before the next is recorded and the
   * hook polled between layers, with one layer kept in flight on the GPU.
   */
  private async recordStep(
    batch: readonly Sequence[],
    step: Step,
    taps: Taps | null,
    stop: (() => boolean) | null,
  ): Promise<void> {
    const ids = new Uint32Array(step.rows), positions = new Uint32Array(step.rows);
    const info = new Uint32Array(2 * step.rows);
    let r = 0, maxPos = 0;
    for (const p of step.pieces) {
      for (let i = 0; i < p.n; i++, r++) {
        ids[r] = batch[p.seq].tokens[p.t0 + i];
        positions[r] = info[2 * r] = p.pos + i;
        info[2 * r + 1] = p.slot;
      }
      maxPos = Math.max(maxPos, p.pos + p.n - 1);
    }
    this.rec.reset();
    this.gpu.device.queue.writeBuffer(this.rowsInfo, 0, info);
    let inFlight: Promise<void> = Promise.resolve();
    const between = stop
      ? async () => {
        await this.rec.submit();
        const done = this.gpu.device.queue.onSubmittedWorkDone();
        await inFlight;
        inFlight = done;
        if (stop()) throw new ForwardAbortedError();
      }
      : null;
    const rows = { buffer: this.rowsInfo, ctx: this.maxContext, maxPos };
    await recordLayers(this.ctx, { ids, positions, rows }, taps, between);
  }

  /**
   * Records the final norm and unembedding of the wanted rows into io.logits: in place when they are
   * consecutive rows of the step, else copied together first.
   */
  private recordLogitsOf(w: readonly WantedRow[]): void {
    const a = this.ctx.act, H = this.config.hiddenSize;
    if (w.every((x, i) => x.row === w[0].row + i)) {
      recordLogits(this.ctx, a.x, w[0].row, w.length, this.io.logits);
      return;
    }
    w.forEach((x, i) => this.rec.copy(a.x, x.row * H * 4, a.proj, i * H * 4, H * 4));
    recordLogits(this.ctx, a.proj, 0, w.length, this.io.logits);
  }

  /** Debug taps of a step: every row's values, read back as each is recorded. */
  private taps(step: Step, debug: NonNullable<ForwardOptions["debug"]>): Taps {
    const T = step.rows, kvw = this.config.numKvHeads * this.config.headDim;
    const esize = this.ctx.kvF16 ? 2 : 4;
    return {
      rows: async (name, layer, b, width) => debug(name, layer, T, await this.read(b, T * width)),
      ids: async (name, layer, b, width) =>
        debug(name, layer, T, Float32Array.from(await this.readU32(b, T * width))),
      cacheRows: async (name, layer, cache) => {
        const parts: Float32Array[] = [];
        for (const p of step.pieces) {
          const bytes = await this.readBytes(
            cache,
            p.n * kvw * esize,
            (p.slot * this.maxContext + p.pos) * kvw * esize,
          );
          parts.push(
            this.ctx.kvF16
              ? Float32Array.from(new Float16Array(bytes.buffer))
              : new Float32Array(bytes.buffer),
          );
        }
        debug(name, layer, T, concat(parts));
      },
    };
  }

  /** A picked id without its NONFINITE bit; NonFiniteError (at the sequence's last position) when set. */
  private checkedId(id: number, s: PickSequence): number {
    if (id & NONFINITE) throw new NonFiniteError(NaN, s.pos + s.tokens.length - 1);
    return id;
  }

  private live(): void {
    if (this.disposed) throw new OssiError("webgpu backend used after dispose()");
  }

  /** An f32 storage buffer of `floats` elements, destroyed with the backend. */
  private buffer(label: string, floats: number): GPUBuffer {
    const b = this.gpu.device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(floats) * 4),
      usage: STORAGE,
    });
    this.owned.push(b);
    return b;
  }

  /** Submits what is recorded, then copies `n` floats at element `off` of `b` back to the host. */
  private async read(b: GPUBuffer, n: number, off = 0): Promise<Float32Array> {
    return new Float32Array((await this.readBytes(b, n * 4, off * 4)).buffer);
  }

  /** Submits what is recorded, then copies the first `n` u32 words of `b` back to the host. */
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

/** greedy()/topk()'s batch as forward() sequences wanting their last row. */
function lastOf(batch: readonly PickSequence[]): Sequence[] {
  return batch.map((s) => ({ ...s, logits: "last" }));
}

function concat(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}
