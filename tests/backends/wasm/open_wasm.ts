// Test helper: the sharded wasm pass over a loaded model, with the options only tests set (shards), behind
// the batch interface.

import type { Backend } from "../../../src/backends/backend.ts";
import { WasmBackend, type WasmBackendOptions } from "../../../src/backends/wasm/wasm_backend.ts";
import { WasmBatchBackend } from "../../../src/backends/wasm/wasm_batch_backend.ts";
import type { LoadedModel } from "../../../src/model/load.ts";

export async function openWasm(model: LoadedModel, opts: WasmBackendOptions): Promise<Backend> {
  const inner = await WasmBackend.create(model.config, model.plan, model.weights, opts);
  return new WasmBatchBackend(model.config, inner);
}
