// Builds the reference backend for a non-gpt-oss model (GPT-2, Qwen3, Qwen3-MoE).

import type { LoadedGpt2, LoadedQwen3 } from "../../model/load_any.ts";
import type { Backend } from "../backend.ts";
import { Gpt2RefBackend } from "./gpt2_backend.ts";
import { Qwen3RefBackend } from "./qwen3_backend.ts";

/** A backend over any config that names its vocabulary size and context. */
export type AnyBackend = Backend<{ readonly vocabSize: number; readonly maxContext: number }>;

export function createArchRefBackend(model: LoadedGpt2 | LoadedQwen3, maxContext: number): AnyBackend {
  const ctx = Math.min(maxContext, model.config.maxContext);
  return model.arch === "gpt2"
    ? new Gpt2RefBackend(model.config, model.weights, ctx)
    : new Qwen3RefBackend(model.config, model.weights, ctx);
}
