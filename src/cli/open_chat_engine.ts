// Opens a model folder as one ChatEngine over its own backend (one KV slot), in this thread: the parts the
// engine worker's service opens (service/open_service.ts). For tests and tools; chat, run and serve open
// the engine in its worker.

import { ChatEngine } from "../chat/chat_engine.ts";
import { WorkerEncoder } from "../chat/prompt_encoder.ts";
import { createBackend, parseBackendName, type Precision } from "../engine/create_backend.ts";
import { Session } from "../engine/session.ts";
import { loadChatModel } from "../service/open_service.ts";

export interface OpenChatOptions {
  backend?: string;
  threads?: number;
  /** gpt-oss on wasm: "fast" (int8 weights and expert activations) or "exact" (the default here). */
  precision?: Precision;
  maxContext?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Loads model + tokenizer + renderer + backend into a ChatEngine (model = folder path). */
export async function openChatEngine(modelDir: string, opts: OpenChatOptions = {}): Promise<ChatEngine> {
  const m = await loadChatModel(modelDir);
  const backend = await createBackend(m.model, parseBackendName(opts.backend ?? "auto"), {
    maxContext: opts.maxContext,
    threads: opts.threads,
    precision: opts.precision,
    onProgress: opts.onProgress,
  });
  // The weight files are checked before each generation (reading a shrunk mapping is a SIGBUS); prompts
  // are rendered and encoded in a worker, so no template or tokenizer regex can stall this thread.
  const session = new Session(backend, { checkFiles: () => m.model.store.checkUnchanged() });
  const encoder = new WorkerEncoder(modelDir, m.model.arch.chat);
  return new ChatEngine(session, m.tokenizer, m.renderer, m.stops, m.format, encoder);
}
