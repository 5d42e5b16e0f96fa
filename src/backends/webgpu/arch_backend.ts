// Builds the WebGPU backend for a non-gpt-oss model (GPT-2, Qwen3, Qwen3-MoE); the sibling of
// ref/arch_backend.ts, importing nothing from the reference backend.

import type { LoadedGpt2, LoadedQwen3 } from "../../model/load_any.ts";
import type { DenseGpuOptions } from "./dense_gpu_backend.ts";
import { Gpt2WebGpuBackend } from "./gpt2_backend.ts";
import { Qwen3WebGpuBackend } from "./qwen3_backend.ts";

export function createArchWebGpuBackend(
  model: LoadedGpt2 | LoadedQwen3,
  opts: DenseGpuOptions,
): Promise<Gpt2WebGpuBackend | Qwen3WebGpuBackend> {
  const o = { ...opts, maxContext: Math.min(opts.maxContext, model.config.maxContext) };
  return model.arch === "gpt2"
    ? Gpt2WebGpuBackend.create(model.config, model.weights, o)
    : Qwen3WebGpuBackend.create(model.config, model.weights, o);
}
