// Builds the WASM CPU backend for a non-gpt-oss model (GPT-2, Qwen3, Qwen3-MoE); the sibling of
// ref/arch_backend.ts and webgpu/arch_backend.ts.

import type { LoadedGpt2, LoadedQwen3 } from "../../model/load_any.ts";
import type { DenseWasmOptions } from "./dense_wasm_backend.ts";
import { Gpt2WasmBackend } from "./gpt2_wasm_backend.ts";
import { Qwen3WasmBackend } from "./qwen3_wasm_backend.ts";

export function createArchWasmBackend(
  model: LoadedGpt2 | LoadedQwen3,
  opts: DenseWasmOptions,
): Gpt2WasmBackend | Qwen3WasmBackend {
  const o = { ...opts, maxContext: Math.min(opts.maxContext, model.config.maxContext) };
  return model.arch === "gpt2"
    ? Gpt2WasmBackend.create(model.config, model.weights, o)
    : Qwen3WasmBackend.create(model.config, model.weights, o);
}
