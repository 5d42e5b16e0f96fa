// Builds the WebGPU backend for a loaded model: the gpt-oss pass when the plan is gpt-oss-shaped (sinks,
// MXFP4 experts), else the dense RoPE pass or the GPT-2 pass, whichever the plan fits.

import { OssiError } from "../../errors.ts";
import type { LoadedModel } from "../../model/load.ts";
import type { Backend } from "../backend.ts";
import { gpt2View, gptOssView, ropeDenseView } from "../legacy_views.ts";
import { SingleSlotBackend } from "../single_sequence.ts";
import type { GpuBackendOptions } from "./gpu_backend_base.ts";
import { Gpt2WebGpuBackend } from "./gpt2_backend.ts";
import { Qwen3WebGpuBackend } from "./qwen3_backend.ts";
import { WebGpuBackend } from "./webgpu_backend.ts";

/** The device, chunk size and weight splitting are the passes' own options (tests choose them). */
export interface WebGpuCreateOptions extends GpuBackendOptions {
  readonly slots: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export async function createWebGpuBackend(model: LoadedModel, o: WebGpuCreateOptions): Promise<Backend> {
  if (o.slots !== 1) throw new OssiError(`webgpu backend: one KV cache so far (asked for ${o.slots} slots)`);
  const { slots: _, ...opts } = o;
  const oss = gptOssView(model);
  if (typeof oss !== "string") {
    const inner = await WebGpuBackend.create(oss.config, oss.weights, { ...opts, files: model.store.files });
    return new SingleSlotBackend(model.config, inner);
  }
  const rope = ropeDenseView(model);
  if (typeof rope !== "string") {
    return new SingleSlotBackend(
      model.config,
      await Qwen3WebGpuBackend.create(rope.config, rope.weights, opts),
    );
  }
  const gpt2 = gpt2View(model);
  if (typeof gpt2 !== "string") {
    return new SingleSlotBackend(
      model.config,
      await Gpt2WebGpuBackend.create(gpt2.config, gpt2.weights, opts),
    );
  }
  throw new OssiError(
    `webgpu backend: cannot run this model (the gpt-oss pass ${oss}, the dense pass ${rope}); try --backend ref`,
  );
}
