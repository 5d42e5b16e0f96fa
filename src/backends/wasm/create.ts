// Builds the WASM CPU backend for a loaded model: the sharded multi-threaded pass over its plan (every
// architecture; any number of KV slots, batched) behind the batch interface.

import { OssiError } from "../../errors.ts";
import type { ModelPlan } from "../../model/plan.ts";
import type { LoadedModel } from "../../model/load.ts";
import type { Backend, Precision } from "../backend.ts";
import { WasmBackend } from "./wasm_backend.ts";
import { WasmBatchBackend } from "./wasm_batch_backend.ts";

export interface WasmCreateOptions {
  readonly maxContext: number;
  readonly slots: number;
  /** Worker threads (default: all cores). */
  readonly threads?: number;
  /** Int8 expert activations (see WasmBackendOptions.moeInt8). */
  readonly moeInt8?: boolean;
  /**
   * "fast": int8 weights for every dense matrix but the router (widths that are multiples of 32) and int8
   * expert activations. Default: defaultPrecision(plan).
   */
  readonly precision?: Precision;
  readonly onProgress?: (done: number, total: number) => void;
  /** Tokens per prefill step (default 256): activations are sized for this many rows. */
  readonly maxTokens?: number;
}

/**
 * The precision a model runs at when none is asked for: fast where the checkpoint ships MXFP4 experts
 * (gpt-oss: its expert bytes are already 4-bit, the gate measured the demo model's answers unchanged, and
 * llama.cpp's own gpt-oss files hold the rest in Q8_0), exact for float checkpoints, which users expect
 * to run at the precision they downloaded (`--precision fast` opts in; README has each one's loss).
 */
export function defaultPrecision(plan: ModelPlan): Precision {
  return plan.layers.some((p) => p.mlp.kind === "moe" && p.mlp.format === "mxfp4") ? "fast" : "exact";
}

export async function createWasmBackend(model: LoadedModel, o: WasmCreateOptions): Promise<Backend> {
  if (o.moeInt8 && !model.plan.layers.some((p) => p.mlp.kind === "moe")) {
    throw new OssiError("--moe-int8 applies to routed experts, which this model does not have", 2);
  }
  const precision = o.precision ?? defaultPrecision(model.plan);
  const inner = await WasmBackend.create(model.config, model.plan, model.weights, {
    maxContext: o.maxContext,
    slots: o.slots,
    threads: o.threads,
    moeInt8: o.moeInt8 || precision === "fast",
    int8Weights: precision === "fast",
    onProgress: o.onProgress,
    maxTokens: o.maxTokens,
    files: model.store.files,
  });
  return new WasmBatchBackend(model.config, inner, precision);
}
