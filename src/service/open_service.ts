// Opens a model folder as a LocalChatService: the tokenizer and chat format, one backend with `slots` KV
// caches, its BatchScheduler, and one Session + ChatEngine per slot. What the engine worker runs.

import { ChatEngine, loadChatModel } from "../chat/chat_engine.ts";
import type { Backend } from "../backends/backend.ts";
import { batchOf } from "../engine/batch_backend.ts";
import { BatchScheduler } from "../engine/batch_scheduler.ts";
import { createAnyBackend, parseBackendName } from "../engine/create_backend.ts";
import { EngineStats } from "../engine/engine_stats.ts";
import { Session } from "../engine/session.ts";
import { OssiError } from "../io/errors.ts";
import { LocalChatService } from "./local_service.ts";

export interface OpenServiceOptions {
  /** auto, ref, wasm or webgpu (default auto). */
  readonly backend?: string;
  readonly threads?: number;
  /** wasm, gpt-oss: int8 MoE activations (faster, less exact). */
  readonly moeInt8?: boolean;
  /** KV-cache capacity of each slot, in tokens. */
  readonly maxContext?: number;
  /** KV slots: conversations that generate at once (default: defaultSlots()). */
  readonly slots?: number;
}

/** The most slots a default gives, and the share of the machine's memory their KV caches may take. */
const DEFAULT_MAX_SLOTS = 4, KV_MEMORY_SHARE = 0.25;

/**
 * Slots when none are asked for: as many as fit, up to 4, when the backend holds several caches (each
 * slot's f32 KV cache takes layers * context * 2 * kv_heads * head_dim * 4 bytes; together they may take a
 * quarter of the machine's memory), else 1.
 */
export function defaultSlots(multiSlot: boolean, kvBytesPerSlot: number): number {
  if (!multiSlot) return 1;
  const total = Deno.systemMemoryInfo().total;
  return Math.max(1, Math.min(DEFAULT_MAX_SLOTS, Math.floor((total * KV_MEMORY_SHARE) / kvBytesPerSlot)));
}

export async function openLocalService(
  modelDir: string,
  opts: OpenServiceOptions = {},
  onProgress?: (done: number, total: number) => void,
): Promise<LocalChatService> {
  if (opts.slots !== undefined && !(Number.isInteger(opts.slots) && opts.slots >= 1)) {
    throw new OssiError(`--parallel must be a whole number >= 1 (got ${opts.slots})`, 2);
  }
  const m = await loadChatModel(modelDir);
  const first = await createAnyBackend(m.model, parseBackendName(opts.backend ?? "auto"), {
    maxContext: opts.maxContext,
    threads: opts.threads,
    moeInt8: opts.moeInt8,
    onProgress,
  });
  const c = m.model.arch === "gpt_oss" ? m.model.model.config : m.model.config;
  const kvHeads = "numKvHeads" in c ? c.numKvHeads : c.numHeads;
  const kvBytes = c.numLayers * first.maxContext * 2 * kvHeads * c.headDim * 4;
  const slots = opts.slots ?? defaultSlots(first.name === "ref", kvBytes);
  const backends: Backend<{ readonly vocabSize: number }>[] = [first];
  if (slots > 1 && first.name !== "ref") {
    first.dispose();
    throw new OssiError(
      `--parallel ${slots}: the ${first.name} backend holds one KV cache so far; use --parallel 1 or --backend ref`,
      2,
    );
  }
  // the reference backend's weights are views of the mapping: one instance per slot costs only its cache
  while (backends.length < slots) {
    backends.push(await createAnyBackend(m.model, "ref", { maxContext: opts.maxContext }));
  }
  const stats = new EngineStats(slots);
  const scheduler = new BatchScheduler(batchOf(backends));
  const engines = backends.map((_, slot) =>
    new ChatEngine(new Session(scheduler, { slot, stats }), m.tokenizer, m.renderer, m.stops, m.format)
  );
  return new LocalChatService(engines, {
    backend: first.name,
    stats,
    onClose: () => scheduler.backend.dispose(),
  });
}
