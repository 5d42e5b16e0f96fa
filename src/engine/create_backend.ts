// The one backend factory: picks and builds a compute backend for a loaded model from one option set.
// `auto` prefers WebGPU on a real (hardware) adapter, then the multi-threaded WASM backend where the model
// has one, then the scalar reference.

import { OssiError } from "../errors.ts";
import type { Backend, Precision } from "../backends/backend.ts";
import { ensureXdgRuntimeDir } from "../backends/webgpu/gpu_env.ts";
import { wasmUnsupported } from "../backends/wasm/plan_support.ts";
import { webgpuUnsupported } from "../backends/webgpu/plan_support.ts";
import type { LoadedModel } from "../model/load.ts";

export type BackendName = "ref" | "wasm" | "webgpu" | "auto";
// Re-exported for the backends that still import it from here (wasm/create.ts): it lives with Backend.
export type { Precision };
export const BACKEND_NAMES: readonly BackendName[] = ["auto", "ref", "wasm", "webgpu"];

export interface BackendOptions {
  /** KV-cache capacity per slot in tokens (default: the model's context, capped for memory). */
  readonly maxContext?: number;
  /** KV caches, one per sequence served at once (default 1). */
  readonly slots?: number;
  /** CPU threads of the WASM backend (default: all cores). */
  readonly threads?: number;
  /** WASM backend, MXFP4 experts: int8 activations (faster, less exact; see WasmBackendOptions.moeInt8). */
  readonly moeInt8?: boolean;
  /**
   * "exact" (the default): the reference's f32 arithmetic on the checkpoint's weights. "fast": the WASM
   * backend's int8 weights (every dense matrix but the router) and int8 expert activations, within the
   * loss the quality gate measured (README); other backends run exact either way.
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
  const slots = opts.slots ?? 1;
  if (!Number.isInteger(slots) || slots < 1) {
    throw new OssiError(`slots must be a whole number >= 1, got ${slots}`, 2);
  }
  if (name === "auto") name = await chooseBackend(model);
  if (opts.moeInt8 && name !== "wasm") {
    throw new OssiError(`--moe-int8 applies to the wasm backend only (this run uses ${name})`, 2);
  }
  switch (name) {
    case "ref": {
      const { RefBackend } = await import("../backends/ref/ref_backend.ts");
      return new RefBackend(model.config, model.plan, model.weights, { maxContext, slots });
    }
    case "wasm": {
      const { createWasmBackend } = await import("../backends/wasm/create.ts");
      return await createWasmBackend(model, { ...opts, maxContext, slots });
    }
    case "webgpu": {
      const { createWebGpuBackend } = await import("../backends/webgpu/create.ts");
      return await createWebGpuBackend(model, { maxContext, slots, onProgress: opts.onProgress });
    }
  }
  throw new OssiError(`unknown backend '${name}'`, 2);
}

/**
 * WebGPU on a hardware adapter when its pass runs the model's plan; otherwise (no adapter, or a software
 * fallback one) the multi-threaded WASM backend where it runs the model, else the reference.
 */
export async function chooseBackend(model: LoadedModel): Promise<BackendName> {
  if (webgpuUnsupported(model.config, model.plan) === null) {
    ensureXdgRuntimeDir();
    const gpu = (navigator as { gpu?: GPU }).gpu;
    const adapter = await gpu?.requestAdapter().catch(() => null);
    if (adapter && !adapter.info.isFallbackAdapter) return "webgpu";
  }
  return wasmUnsupported(model.config, model.plan) === null ? "wasm" : "ref";
}
