// What every WebGPU backend (gpt-oss, GPT-2, Qwen3) shares: token validation, forward in chunks of at most
// maxTokens (one submit each), logits readback in row groups that fit one binding, the greedy/topk fast
// paths on the GPU, readback through one staging buffer, debug dumps and disposal. A subclass records its
// layer stack and its final norm + unembedding; KV cache rows at positions >= pos are simply overwritten.

import { OssiError } from "../../errors.ts";
import { checkTokens, checkTopK, type DebugSink, NonFiniteError, TOPK_MAX } from "../backend.ts";
import type { SequenceOptions, SingleSequenceBackend } from "../single_sequence.ts";
import type { GpuDevice } from "./gpu_device.ts";
import { type GpuMat, STORAGE, type WeightUploader } from "./gpu_weights.ts";
import * as op from "./ops.ts";
import type { PipelineCache } from "./pipelines.ts";
import { Recorder } from "./recorder.ts";

/** The options every WebGPU backend takes. */
export interface GpuBackendOptions {
  readonly maxContext: number;
  /** Tokens per forward chunk (longer prompts run in chunks); activations are sized for this. */
  readonly maxTokens?: number;
  /** Split weights into parts of at most this many bytes (default: the adapter's binding limit). */
  readonly maxBindingBytes?: number;
  readonly gpu?: GpuDevice;
}

/** Tokens per forward chunk: the asked number (default 128), at least 1 and at most the context. */
export function chunkTokens(asked: number | undefined, maxContext: number): number {
  return Math.max(1, Math.min(asked ?? 128, maxContext));
}

/**
 * Debug dump of `rows` (default: the chunk's tokens) rows of `width` floats at element `off` of a buffer;
 * submits what is recorded so far (debug runs take several submits).
 */
export type Dump = (
  name: string,
  layer: number,
  b: GPUBuffer,
  width: number,
  rows?: number,
  off?: number,
) => Promise<void>;

/** Bit 31 of a picked index: the row held a NaN or infinite logit (shaders/argmax.wgsl). */
const NONFINITE = 0x80000000;

export abstract class GpuBackend<C extends { readonly vocabSize: number }> implements SingleSequenceBackend {
  readonly name = "webgpu" as const;
  protected readonly rec: Recorder;
  /** Buffers every subclass uses: token ids, logits rows, argmax/top-k output, a bias placeholder. */
  protected readonly io: Record<"ids" | "logits" | "best" | "topkVals" | "dummy", GPUBuffer>;
  /** Rows of logits that fit one logits buffer (one binding). */
  protected readonly logitRows: number;
  private readonly staging: GPUBuffer;
  private readonly owned: GPUBuffer[] = [];
  private disposed = false;

  protected constructor(
    readonly config: C,
    readonly maxContext: number,
    readonly maxTokens: number,
    readonly gpu: GpuDevice,
    /** Weights (and whatever else was uploaded with them), destroyed with the backend. */
    protected readonly weights: WeightUploader,
    /** Floats of the largest activation a debug dump or readback copies out. */
    maxReadFloats: number,
    pipelines: PipelineCache,
  ) {
    const V = config.vocabSize;
    this.logitRows = Math.max(1, Math.min(maxTokens, Math.floor(weights.maxBinding / (V * 4))));
    this.io = {
      ids: this.buffer("ids", maxTokens),
      logits: this.buffer("logits", this.logitRows * V),
      best: this.buffer("argmax", Math.max(maxTokens, TOPK_MAX)),
      topkVals: this.buffer("topk_vals", TOPK_MAX),
      dummy: this.buffer("dummy", 4),
    };
    this.staging = gpu.device.createBuffer({
      label: "readback",
      size: Math.max(this.io.logits.size, maxReadFloats * 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.rec = new Recorder(gpu.device, pipelines);
  }

  /** An f32 storage buffer of `floats` elements, destroyed with the backend. */
  protected buffer(label: string, floats: number): GPUBuffer {
    const b = this.gpu.device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(floats) * 4),
      usage: STORAGE,
    });
    this.owned.push(b);
    return b;
  }

  /**
   * Records the layer stack for `tokens` tokens (ids already in io.ids) at positions pos.. (not submitted;
   * `dump`, only when debugging, submits and reads back).
   */
  protected abstract recordLayers(
    tokens: number,
    pos: number,
    dump: Dump | null,
    dbg?: DebugSink,
  ): Promise<void>;

  /** Records the final norm and unembedding of chunk rows [r, r + m) into io.logits. */
  protected abstract recordLogits(r: number, m: number): void;

  /** Records the unembedding `w` of `m` normed rows of `x` into io.logits. */
  protected recordUnembedding(w: GpuMat, x: GPUBuffer, m: number): void {
    op.matmul(this.rec, { w, bias: null, dummy: this.io.dummy, x, y: this.io.logits, tokens: m });
  }

  async forward(tokens: ArrayLike<number>, pos: number, opts: SequenceOptions): Promise<Float32Array> {
    const T = tokens.length, V = this.config.vocabSize;
    this.validate(tokens, pos);
    const rows = opts.logits === "all" ? T : opts.logits === "last" ? Math.min(T, 1) : 0;
    const out = new Float32Array(rows * V);
    for (let t0 = 0; t0 < T; t0 += this.maxTokens) {
      const n = Math.min(this.maxTokens, T - t0);
      const last = t0 + n === T;
      const mode = opts.logits === "all" ? "all" : opts.logits === "last" && last ? "last" : "none";
      // a chunk whose logits are read back goes in the same submit as that read
      await this.runChunk(tokens, t0, n, pos + t0, opts.debug, -1, mode === "none");
      if (mode === "none") continue;
      for (let r = mode === "last" ? n - 1 : 0; r < n; r += this.logitRows) {
        const m = Math.min(this.logitRows, n - r);
        this.recordLogits(r, m);
        out.set(await this.read(this.io.logits, m * V), (mode === "all" ? t0 + r : 0) * V);
      }
    }
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
   * Greedy fast path: runs `tokens` and returns the argmax token of the last one, reading back 4 bytes;
   * NonFiniteError when that row holds a NaN or infinite logit.
   */
  async greedy(tokens: ArrayLike<number>, pos: number): Promise<number> {
    await this.runPicking(tokens, pos, 0);
    return this.checkedId((await this.readU32(this.io.best, 1))[0], pos + tokens.length - 1);
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
    const ids = await this.readU32(this.io.best, k);
    ids[0] = this.checkedId(ids[0], pos + tokens.length - 1);
    return { ids, logits: await this.read(this.io.topkVals, k) };
  }

  /** A picked id without its NONFINITE bit; NonFiniteError when the bit is set. */
  private checkedId(id: number, position: number): number {
    if (id & NONFINITE) throw new NonFiniteError(NaN, position);
    return id;
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
   * Runs tokens in chunks; after the last, the argmax (k = 0) or top-k of the last token on the GPU, left
   * recorded for the read that follows (one submit per step).
   */
  private async runPicking(tokens: ArrayLike<number>, pos: number, k: number): Promise<void> {
    const T = tokens.length;
    this.validate(tokens, pos);
    if (T === 0) throw new RangeError("greedy()/topk() need at least one token");
    for (let t0 = 0; t0 < T; t0 += this.maxTokens) {
      const n = Math.min(this.maxTokens, T - t0);
      const last = t0 + n === T;
      await this.runChunk(tokens, t0, n, pos + t0, undefined, last ? k : -1, !last);
    }
  }

  /**
   * Records tokens [t0, t0 + n) at positions pos..; `pick` >= 0 adds the last token's argmax/top-k. Submits
   * unless `submit` is false: then the caller's read submits it (the next chunk must not start before).
   */
  private async runChunk(
    tokens: ArrayLike<number>,
    t0: number,
    n: number,
    pos: number,
    dbg?: DebugSink,
    pick = -1,
    submit = true,
  ): Promise<void> {
    const ids = new Uint32Array(n), V = this.config.vocabSize;
    for (let i = 0; i < n; i++) ids[i] = tokens[t0 + i];
    this.rec.reset();
    this.gpu.device.queue.writeBuffer(this.io.ids, 0, ids);
    const dump: Dump | null = dbg
      ? async (name, layer, b, width, rows = n, off = 0) =>
        dbg(name, layer, rows, await this.read(b, rows * width, off))
      : null;
    await this.recordLayers(n, pos, dump, dbg);
    if (pick >= 0) {
      this.recordLogits(n - 1, 1);
      if (pick === 0) op.argmax(this.rec, this.io.logits, this.io.best, 1, V);
      else op.topk(this.rec, this.io.logits, this.io.best, this.io.topkVals, 1, V, pick);
    }
    if (submit) await this.rec.submit();
  }

  private validate(tokens: ArrayLike<number>, pos: number): void {
    if (this.disposed) throw new OssiError("webgpu backend used after dispose()");
    checkTokens(tokens, pos, this.maxContext, this.config.vocabSize);
  }

  /** Submits what is recorded, then copies `n` floats at element `off` of `b` back to the host. */
  protected async read(b: GPUBuffer, n: number, off = 0): Promise<Float32Array> {
    return new Float32Array((await this.readBytes(b, n * 4, off * 4)).buffer);
  }

  /** Submits what is recorded, then copies the first `n` u32 words of `b` back to the host. */
  protected async readU32(b: GPUBuffer, n: number): Promise<Uint32Array> {
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
