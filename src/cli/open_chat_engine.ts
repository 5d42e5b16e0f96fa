// Opens a model folder as a ChatEngine: tokenizer, the architecture's chat format (renderer, parser, stop
// tokens), the backend from the engine's factory, and a Session over it. What chat, run and serve open.

import { ChatEngine, readStopTokens } from "../chat/chat_engine.ts";
import { chatFormat } from "../chat/chatml_formats.ts";
import { WorkerEncoder } from "../chat/prompt_encoder.ts";
import { loadTokenizer } from "../chat/tokenizer.ts";
import { createBackend, parseBackendName, type Precision } from "../engine/create_backend.ts";
import { Session } from "../engine/session.ts";
import { FormatError } from "../errors.ts";
import { loadModel } from "../model/load.ts";

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
  const tok = await loadTokenizer(modelDir);
  const model = loadModel(modelDir);
  const format = chatFormat(model.arch.chat);
  const renderer = format.renderer(modelDir);
  const stops = readStopTokens(modelDir, tok, format);
  if (tok.vocabSize > model.config.vocabSize) {
    throw new FormatError(
      `${modelDir}: tokenizer has ${tok.vocabSize} ids but the model only ${model.config.vocabSize}`,
    );
  }
  const backend = await createBackend(model, parseBackendName(opts.backend ?? "auto"), {
    maxContext: opts.maxContext,
    threads: opts.threads,
    precision: opts.precision,
    onProgress: opts.onProgress,
  });
  // The weight files are checked before each generation (reading a shrunk mapping is a SIGBUS); prompts
  // are rendered and encoded in a worker, so no template or tokenizer regex can stall this thread.
  const session = new Session(backend, () => model.store.checkUnchanged());
  const encoder = new WorkerEncoder(modelDir, model.arch.chat);
  return new ChatEngine(session, tok, renderer, stops, format, encoder);
}
