// Test helper: a loaded model as the gpt-oss wasm and webgpu passes take it (their legacy view), and such
// a pass behind the batch interface.

import type { Backend } from "../../src/backends/backend.ts";
import { gptOssView, type GptOssWeights } from "../../src/backends/legacy_views.ts";
import { type SingleSequenceBackend, SingleSlotBackend } from "../../src/backends/single_sequence.ts";
import type { GptOssConfig } from "../../src/model/gpt_oss.ts";
import type { LoadedModel } from "../../src/model/load.ts";

export function ossView(model: LoadedModel): { config: GptOssConfig; weights: GptOssWeights } {
  const v = gptOssView(model);
  if (typeof v === "string") throw new Error(`not a gpt-oss-shaped model: ${v}`);
  return v;
}

/** `inner` (a pass over `model`'s view) as a Backend. */
export async function batched(model: LoadedModel, inner: Promise<SingleSequenceBackend>): Promise<Backend> {
  return new SingleSlotBackend(model.config, await inner);
}
