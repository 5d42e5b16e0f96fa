// Picks and builds a compute backend for a loaded model. `auto` prefers WebGPU on a real (hardware)
// adapter and the WASM backend otherwise; `ref` is the scalar reference.

import { OssiError } from "../io/errors.ts";
import type { Backend } from "../backends/backend.ts";
import { ensureXdgRuntimeDir } from "../backends/webgpu/gpu_env.ts";
import type { LoadedModel } from "../model/load.ts";
import type { AnyLoadedModel } from "../model/load_any.ts";

export type BackendName = "ref" | "wasm" | "webgpu" | "auto";
export type Precision = "exact" | "fast";
export const BACKEND_NAMES: readonly BackendName[] = ["auto", "ref", "wasm", "webgpu"];

export interface BackendOptions {
  /** KV-cache capacity in tokens (default: the model's context, capped for memory). */
  readonly maxContext?: number;
  /** CPU threads for the WASM backend (default: all cores). */
  readonly threads?: number;
  /** WASM backend, gpt-oss: int8 MoE activations (faster, less exact; see WasmBackendOptions.moeInt8). */
  readonly moeInt8?: boolean;
  /**
   * "exact" (the default): the reference's f32 arithmetic on the checkpoint's weights. "fast": the WASM
   * backend's int8 weights (attention, router, unembedding) and int8 expert activations, within the loss the
   * quality gate measured (README); other backends run exact either way.
   */
  readonly precision?: Precision;
  /** Progress of weight placement, 0..1, for a progress bar. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Default KV capacity: the model's context, capped so a default session does not reserve gigabytes. */
export const DEFAULT_MAX_CONTEXT = 8192;

export function parseBackendName(s: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(s)) return s as BackendName;
  throw new OssiError(`unknown backend '${s}' (expected ${BACKEND_NAMES.join(", ")})`, 2);
}

export async function createBackend(
  model: LoadedModel,
  name: BackendName,
  opts: BackendOptions = {},
): Promise<Backend> {
  const maxContext = Math.min(opts.maxContext ?? DEFAULT_MAX_CONTEXT, model.config.maxContext);
  if (name === "auto") name = await chooseBackend();
  switch (name) {
    case "ref": {
      const { RefBackend } = await import("../backends/ref/ref_backend.ts");
      return new RefBackend(model.config, model.weights, maxContext);
    }
    case "wasm": {
      const { WasmBackend } = await import("../backends/wasm/wasm_backend.ts");
      return await WasmBackend.create(model.config, model.weights, {
        maxContext,
        threads: opts.threads,
        onProgress: opts.onProgress,
        files: model.store.files,
        moeInt8: opts.moeInt8 || opts.precision === "fast",
        int8Weights: opts.precision === "fast",
      });
    }
    case "webgpu": {
      const { WebGpuBackend } = await import("../backends/webgpu/webgpu_backend.ts");
      return await WebGpuBackend.create(model.config, model.weights, {
        maxContext,
        onProgress: opts.onProgress,
      });
    }
  }
  throw new OssiError(`unknown backend '${name}'`, 2);
}

/** WebGPU on a hardware adapter; otherwise (no adapter, or a software fallback one) the WASM CPU backend. */
export async function chooseBackend(): Promise<BackendName> {
  ensureXdgRuntimeDir();
  const gpu = (navigator as { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter().catch(() => null);
  return !adapter || adapter.info.isFallbackAdapter ? "wasm" : "webgpu";
}

/** A backend for any supported family: gpt-oss, GPT-2 and Qwen3 on every backend. */
export type AnyBackend = Backend<{ readonly vocabSize: number; readonly maxContext: number }>;

export async function createAnyBackend(
  model: AnyLoadedModel,
  name: BackendName,
  opts: BackendOptions = {},
): Promise<AnyBackend> {
  if (model.arch === "gpt_oss") return await createBackend(model.model, name, opts);
  // auto stays on the CPU reference for these families (their WASM backend is single-threaded for now).
  const maxContext = Math.min(opts.maxContext ?? DEFAULT_MAX_CONTEXT, model.config.maxContext);
  if (name === "wasm") {
    const { createArchWasmBackend } = await import("../backends/wasm/dense_arch_backend.ts");
    return createArchWasmBackend(model, { maxContext });
  }
  if (name === "webgpu") {
    const { createArchWebGpuBackend } = await import("../backends/webgpu/arch_backend.ts");
    return await createArchWebGpuBackend(model, { maxContext });
  }
  const { createArchRefBackend } = await import("../backends/ref/arch_backend.ts");
  return createArchRefBackend(model, maxContext);
}
