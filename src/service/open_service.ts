// Opens a model folder as a LocalChatService: the tokenizer and the architecture's chat format, one backend
// with `slots` KV caches, its BatchScheduler, and one Session + ChatEngine per slot. What the engine
// worker runs.

import { ChatEngine, readStopTokens } from "../chat/chat_engine.ts";
import { type ChatFormat, chatFormat } from "../chat/chat_formats.ts";
import { WorkerEncoder } from "../chat/prompt_encoder.ts";
import type { PromptRenderer } from "../chat/prompt.ts";
import { loadTokenizer, type Tokenizer } from "../chat/tokenizer.ts";
import { BatchScheduler } from "../engine/batch_scheduler.ts";
import {
  type BackendName,
  chooseBackend,
  createBackend,
  DEFAULT_MAX_CONTEXT,
  parseBackendName,
  type Precision,
} from "../engine/create_backend.ts";
import { EngineStats } from "../engine/engine_stats.ts";
import { Session } from "../engine/session.ts";
import { FormatError, OssiError } from "../errors.ts";
import { type LoadedModel, loadModel } from "../model/load.ts";
import { LocalChatService } from "./local_service.ts";

export interface OpenServiceOptions {
  /** auto, ref, wasm or webgpu (default auto). */
  readonly backend?: string;
  readonly threads?: number;
  /** wasm: "fast" (int8 weights and expert activations) or "exact" (the default here). */
  readonly precision?: Precision;
  /** KV-cache capacity of each slot, in tokens. */
  readonly maxContext?: number;
  /** KV slots: conversations that generate at once (default: defaultSlots()). */
  readonly slots?: number;
}

/** What a model folder gives a chat engine besides the backend: tokenizer, chat format, stop ids, weights. */
export interface ChatModel {
  readonly tokenizer: Tokenizer;
  readonly format: ChatFormat;
  readonly renderer: PromptRenderer;
  readonly stops: number[];
  readonly model: LoadedModel;
}

/** Loads a model folder's tokenizer, the architecture's chat format (renderer, parser, stops) and weights. */
export async function loadChatModel(modelDir: string): Promise<ChatModel> {
  const tokenizer = await loadTokenizer(modelDir);
  const model = loadModel(modelDir);
  const format = chatFormat(model.arch.chat);
  const renderer = format.renderer(modelDir);
  const stops = readStopTokens(modelDir, tokenizer, format);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new FormatError(
      `${modelDir}: tokenizer has ${tokenizer.vocabSize} ids but the model only ${model.config.vocabSize}`,
    );
  }
  return { tokenizer, format, renderer, stops, model };
}

/** The most slots a default gives, and the share of the machine's memory their KV caches may take. */
const DEFAULT_MAX_SLOTS = 4, KV_MEMORY_SHARE = 0.25;

/** Bytes of one slot's KV cache: layers * context * 2 (k, v) * kv_heads * head_dim f32 values. */
export function kvBytesPerSlot(model: LoadedModel, maxContext: number): number {
  const c = model.config;
  return c.numLayers * maxContext * 2 * c.numKvHeads * c.headDim * 4;
}

/**
 * Slots when none are asked for: as many KV caches as fit, up to 4 (together they may take a quarter of
 * the machine's memory), at least 1.
 */
export function defaultSlots(model: LoadedModel, maxContext: number): number {
  const budget = Deno.systemMemoryInfo().total * KV_MEMORY_SHARE;
  return Math.max(1, Math.min(DEFAULT_MAX_SLOTS, Math.floor(budget / kvBytesPerSlot(model, maxContext))));
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
  const name = await resolveBackendName(m.model, opts.backend ?? "auto");
  const maxContext = Math.min(opts.maxContext ?? DEFAULT_MAX_CONTEXT, m.model.config.maxContext);
  const slots = opts.slots ?? defaultSlots(m.model, maxContext);
  const backend = await createBackend(m.model, name, {
    maxContext: opts.maxContext,
    threads: opts.threads,
    precision: opts.precision,
    onProgress,
    slots,
  });
  const stats = new EngineStats(slots);
  const scheduler = new BatchScheduler(backend);
  // The weight files are checked before each generation (reading a shrunk mapping is a SIGBUS); prompts
  // are rendered and encoded in the prompt worker, within a time budget, so no template or tokenizer
  // regex can stall the engine.
  const checkFiles = () => m.model.store.checkUnchanged();
  const encoder = new WorkerEncoder(modelDir, m.model.arch.chat);
  const engines = Array.from({ length: slots }, (_, slot) => {
    const session = new Session(scheduler, { slot, stats, checkFiles });
    return new ChatEngine(session, m.tokenizer, m.renderer, m.stops, m.format, encoder);
  });
  return new LocalChatService(engines, {
    backend: backend.name,
    precision: backend.precision ?? "exact",
    stats,
    onClose: () => backend.dispose(),
  });
}

/** The backend `auto` picks for the model, or the one named. */
async function resolveBackendName(model: LoadedModel, name: string): Promise<Exclude<BackendName, "auto">> {
  const parsed = parseBackendName(name);
  return parsed === "auto" ? await chooseBackend(model) as Exclude<BackendName, "auto"> : parsed;
}
