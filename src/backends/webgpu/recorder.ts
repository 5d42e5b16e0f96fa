// Records one command encoder of compute dispatches per forward step (one submit), with every dispatch's
// Params written into a uniform arena (one 256-byte slot per dispatch, uploaded once before the submit)
// and bind groups cached per dispatch slot, so steady-state decoding creates no GPU objects.

import { OssiError } from "../../errors.ts";
import { type KernelName, packParams, paramsSize, type ParamValues } from "./params.ts";
import type { Constants, PipelineCache, Variant } from "./pipelines.ts";
import type { GpuProfiler } from "./profiler.ts";

const SLOT = 256; // >= minUniformBufferOffsetAlignment on every adapter
const SLOTS_PER_ARENA = 256;

/** Storage buffers by binding number (binding 0 is always the Params uniform). */
export type Bindings = Readonly<Record<number, GPUBuffer>>;

/** What one dispatch slot was last recorded with; reused while kernel, constants and buffers match. */
interface SlotCache {
  kernel: KernelName;
  variant: Variant;
  entry: string;
  constants: Constants;
  pipeline: GPUComputePipeline;
  buffers: GPUBuffer[]; // in the bindings' key order
  group: GPUBindGroup;
}

function sameConstants(a: Constants, b: Constants): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

function sameBindings(a: Bindings, b: GPUBuffer[]): boolean {
  let i = 0;
  for (const k in a) if (a[k] !== b[i++]) return false;
  return i === b.length;
}

export class Recorder {
  private readonly arenas: { buffer: GPUBuffer; cpu: ArrayBuffer; view: DataView }[] = [];
  private readonly slots: SlotCache[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private slot = 0;
  private flushedSlots = 0;
  private bindErrors: Promise<string | null>[] = [];
  /** Dispatches recorded since construction, for tests and benchmarks. */
  dispatches = 0;
  /** Queue submits since construction. */
  submits = 0;
  /**
   * Bytes of weights the recorded dispatches read, as their host wrappers count them (each weight once per
   * tile of tokens that reads it; see ops.ts), since construction.
   */
  weightBytes = 0;

  /** With a profiler, each dispatch runs in its own timed pass (slower; for per-kernel times only). */
  constructor(
    readonly device: GPUDevice,
    readonly pipelines: PipelineCache,
    /** Swap only between submits. */
    public profiler: GpuProfiler | null = null,
  ) {}

  /** Adds a dispatch of `kernel`'s `entry` (source `variant`) over `groups` workgroups. */
  dispatch<K extends KernelName>(
    kernel: K,
    entry: string,
    constants: Constants,
    bindings: Bindings,
    params: ParamValues<K>,
    groups: readonly [number, number?, number?],
    variant: Variant = "f32",
  ): void {
    const slot = this.slot++;
    const arena = this.arena(Math.floor(slot / SLOTS_PER_ARENA));
    const offset = (slot % SLOTS_PER_ARENA) * SLOT;
    packParams(kernel, params, arena.view, offset);
    // Steady state: the same kernel with the same buffers in this slot as last step; no strings, no objects.
    let cached = this.slots[slot];
    if (
      !cached || cached.kernel !== kernel || cached.variant !== variant || cached.entry !== entry ||
      !sameConstants(constants, cached.constants) ||
      !sameBindings(bindings, cached.buffers)
    ) {
      const { pipeline } = this.pipelines.get(kernel, entry, constants, variant);
      const entries: GPUBindGroupEntry[] = [{
        binding: 0,
        resource: { buffer: arena.buffer, offset, size: paramsSize(kernel) },
      }];
      const buffers: GPUBuffer[] = [];
      for (const b in bindings) {
        entries.push({ binding: Number(b), resource: { buffer: bindings[b] } });
        buffers.push(bindings[b]);
      }
      // A binding the entry point does not use (or lacks) is a validation error that would otherwise only
      // drop the dispatch; submit() awaits the scope and throws.
      this.device.pushErrorScope("validation");
      const group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      this.bindErrors.push(
        this.device.popErrorScope().then((e) =>
          e && `${kernel}:${entry} bindings: ${e.message.split("\n")[0]}`
        ),
      );
      cached = this.slots[slot] = { kernel, variant, entry, constants, pipeline, buffers, group };
    }
    const { pipeline } = cached;
    if (this.profiler) {
      this.endPass();
      this.pass = this.commandEncoder().beginComputePass(this.profiler.pass(`${kernel}:${entry}`));
    }
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, cached.group);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    if (this.profiler) this.endPass();
    this.dispatches++;
  }

  /** Adds `bytes` to the weight bytes read (called by the host wrappers beside their dispatches). */
  countWeights(bytes: number): void {
    this.weightBytes += bytes;
  }

  /** Adds a buffer copy (between compute passes). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Uploads the Params written since the last submit and submits everything recorded. */
  async submit(): Promise<void> {
    await this.pipelines.check();
    if (this.bindErrors.length) {
      const errs = (await Promise.all(this.bindErrors)).filter((e) => e !== null);
      this.bindErrors = [];
      if (errs.length) {
        // drop the recorded work and every cached bind group (a bad one would be reused silently)
        this.endPass();
        this.encoder = null;
        this.slots.length = 0;
        this.reset();
        throw new OssiError(`WebGPU dispatch error: ${errs[0]}`);
      }
    }
    this.endPass();
    for (let s = this.flushedSlots; s < this.slot;) {
      const a = Math.floor(s / SLOTS_PER_ARENA), end = Math.min(this.slot, (a + 1) * SLOTS_PER_ARENA);
      const from = (s % SLOTS_PER_ARENA) * SLOT, to = ((end - 1) % SLOTS_PER_ARENA) * SLOT + SLOT;
      this.device.queue.writeBuffer(this.arenas[a].buffer, from, this.arenas[a].cpu, from, to - from);
      s = end;
    }
    this.flushedSlots = this.slot;
    const timed = this.encoder !== null && this.profiler !== null && this.profiler.resolve(this.encoder);
    if (this.encoder) (this.device.queue.submit([this.encoder.finish()]), this.submits++);
    this.encoder = null;
    if (timed) await this.profiler!.collect();
  }

  /** Starts a new step: dispatch slots (and their cached bind groups) count from 0 again. */
  reset(): void {
    this.slot = 0;
    this.flushedSlots = 0;
  }

  destroy(): void {
    for (const a of this.arenas) a.buffer.destroy();
  }

  private arena(i: number) {
    while (this.arenas.length <= i) {
      const cpu = new ArrayBuffer(SLOT * SLOTS_PER_ARENA);
      const buffer = this.device.createBuffer({
        label: `params arena ${this.arenas.length}`,
        size: cpu.byteLength,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.arenas.push({ buffer, cpu, view: new DataView(cpu) });
    }
    return this.arenas[i];
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private computePass(): GPUComputePassEncoder {
    return (this.pass ??= this.commandEncoder().beginComputePass());
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}
