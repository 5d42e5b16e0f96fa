// One WebGPU device shared by the webgpu tests (opening one per test is slow on llvmpipe), and helpers to
// run a single kernel: upload arrays, record dispatches, read results back.

import { type GpuDevice, openGpuDevice } from "../../../src/backends/webgpu/gpu_device.ts";
import { PipelineCache } from "../../../src/backends/webgpu/pipelines.ts";
import { Recorder } from "../../../src/backends/webgpu/recorder.ts";

let shared: Promise<GpuDevice> | null = null;

/** The device every webgpu test uses; fails (never skips) when the machine has no adapter. */
export function sharedGpu(): Promise<GpuDevice> {
  return (shared ??= openGpuDevice());
}

export class KernelHarness {
  readonly rec: Recorder;
  private readonly buffers: GPUBuffer[] = [];
  constructor(readonly gpu: GpuDevice) {
    // one cache for every test on the device: each pipeline variant compiles once per run
    this.rec = new Recorder(gpu.device, PipelineCache.of(gpu.device));
  }
  static async open(): Promise<KernelHarness> {
    return new KernelHarness(await sharedGpu());
  }
  /** A storage buffer holding `data` (or `bytes` zeros). */
  put(data: ArrayBufferView | number): GPUBuffer {
    const bytes = typeof data === "number" ? data : data.byteLength;
    const b = this.gpu.device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 4) * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    if (typeof data !== "number") {
      const u8 = new Uint8Array(Math.ceil(bytes / 4) * 4);
      u8.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.gpu.device.queue.writeBuffer(b, 0, u8);
    }
    this.buffers.push(b);
    return b;
  }
  /** Submits what is recorded and reads `n` 32-bit words of `b`. */
  async read(b: GPUBuffer, n: number): Promise<ArrayBuffer> {
    const staging = this.gpu.device.createBuffer({
      size: n * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.rec.copy(b, 0, staging, 0, n * 4);
    await this.rec.submit();
    this.rec.reset();
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0);
    staging.destroy();
    return out;
  }
  async f32(b: GPUBuffer, n: number): Promise<Float32Array> {
    return new Float32Array(await this.read(b, n));
  }
  async u32(b: GPUBuffer, n: number): Promise<Uint32Array> {
    return new Uint32Array(await this.read(b, n));
  }
  dispose(): void {
    for (const b of this.buffers) b.destroy();
    this.rec.destroy();
  }
}

/** A Deno.test body that runs `body` on a fresh harness and frees its buffers afterwards, pass or fail. */
export function withHarness(body: (h: KernelHarness) => Promise<void>): () => Promise<void> {
  return async () => {
    const h = await KernelHarness.open();
    try {
      await body(h);
    } finally {
      h.dispose();
    }
  };
}
