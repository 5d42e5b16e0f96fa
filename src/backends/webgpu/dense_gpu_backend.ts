// The base of the GPT-2 and Qwen3 WebGPU backends (gpu_backend_base.ts does the chunking, readback and
// fast paths): compiled pipelines shared by every dense backend on a device, and attention without sinks.

import type { GpuDevice } from "./gpu_device.ts";
import type { WeightUploader } from "./gpu_weights.ts";
import { GpuBackend, type GpuBackendOptions } from "./gpu_backend_base.ts";
import { PipelineCache } from "./pipelines.ts";

export type DenseGpuOptions = GpuBackendOptions;

/** A sink far below any score: exp(sink - max) is 0, so attention has no sink (finite on every platform). */
const NO_SINK = -3e38;

/** Compiled pipelines are shared by every backend on a device (backends built again compile nothing). */
const PIPELINES = new WeakMap<GPUDevice, PipelineCache>();

function pipelinesOf(device: GPUDevice): PipelineCache {
  let cache = PIPELINES.get(device);
  if (!cache) PIPELINES.set(device, cache = new PipelineCache(device));
  return cache;
}

export abstract class DenseGpuBackend<C extends { readonly vocabSize: number; readonly numHeads: number }>
  extends GpuBackend<C> {
  /** The attention sinks of a model without sinks: NO_SINK for every head. */
  protected readonly noSinks: GPUBuffer;

  protected constructor(
    config: C,
    maxContext: number,
    maxTokens: number,
    gpu: GpuDevice,
    weights: WeightUploader,
    maxReadFloats: number,
  ) {
    super(config, maxContext, maxTokens, gpu, weights, maxReadFloats, pipelinesOf(gpu.device));
    this.noSinks = this.buffer("no sinks", config.numHeads);
    gpu.device.queue.writeBuffer(this.noSinks, 0, new Float32Array(config.numHeads).fill(NO_SINK));
  }
}
