// Builds the WASM CPU backend for a loaded model: the sharded multi-threaded pass when the plan is
// gpt-oss-shaped (MXFP4 experts; any number of KV slots, batched), else the single-threaded dense pass
// (RoPE models or GPT-2-shaped ones; one slot).

import { OssiError } from "../../errors.ts";
import type { Precision } from "../../engine/create_backend.ts";
import type { LoadedModel } from "../../model/load.ts";
import type { Backend } from "../backend.ts";
import { gpt2View, gptOssView, ropeDenseView } from "../legacy_views.ts";
import { SingleSlotBackend } from "../single_sequence.ts";
import { Gpt2WasmBackend } from "./gpt2_wasm_backend.ts";
import { Qwen3WasmBackend } from "./qwen3_wasm_backend.ts";
import { WasmBackend } from "./wasm_backend.ts";
import { WasmBatchBackend } from "./wasm_batch_backend.ts";

export interface WasmCreateOptions {
  readonly maxContext: number;
  readonly slots: number;
  /** Worker threads of the sharded pass (default: all cores); the dense pass runs on the main thread. */
  readonly threads?: number;
  /** Int8 expert activations (the sharded pass only). */
  readonly moeInt8?: boolean;
  /**
   * "fast": int8 attention and unembedding weights and int8 expert activations (the sharded pass; the
   * dense pass runs exact either way). Default "exact".
   */
  readonly precision?: Precision;
  readonly onProgress?: (done: number, total: number) => void;
  /** Tokens per prefill step (default 256): activations are sized for this many rows. */
  readonly maxTokens?: number;
}

export async function createWasmBackend(model: LoadedModel, o: WasmCreateOptions): Promise<Backend> {
  const oss = gptOssView(model);
  if (typeof oss !== "string") {
    const inner = await WasmBackend.create(oss.config, oss.weights, {
      maxContext: o.maxContext,
      slots: o.slots,
      threads: o.threads,
      moeInt8: o.moeInt8 || o.precision === "fast",
      int8Weights: o.precision === "fast",
      onProgress: o.onProgress,
      maxTokens: o.maxTokens,
      files: model.store.files,
    });
    return new WasmBatchBackend(model.config, inner);
  }
  if (o.slots !== 1) {
    throw new OssiError(
      `wasm backend: the dense pass holds one KV cache so far (asked for ${o.slots} slots)`,
    );
  }
  if (o.moeInt8) throw new OssiError("--moe-int8 applies to MXFP4 experts, which this model does not have");
  const rope = ropeDenseView(model);
  if (typeof rope !== "string") {
    return new SingleSlotBackend(model.config, Qwen3WasmBackend.create(rope.config, rope.weights, o));
  }
  const gpt2 = gpt2View(model);
  if (typeof gpt2 !== "string") {
    return new SingleSlotBackend(model.config, Gpt2WasmBackend.create(gpt2.config, gpt2.weights, o));
  }
  throw new OssiError(
    `wasm backend: cannot run this model (the sharded pass ${oss}, the dense pass ${rope}); try --backend ref`,
  );
}
