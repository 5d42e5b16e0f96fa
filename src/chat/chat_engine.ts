// ChatEngine: one assistant turn end to end (render, encode, generate on the KV-reusing Session, parse
// the output in the model's chat format: harmony, ChatML or plain completion, chatml_formats.ts).
// What the REPL, `ossi run` and the server all stand on.

import { createAnyBackend, parseBackendName } from "../engine/create_backend.ts";
import { Session, type TokenGenerator } from "../engine/session.ts";
import { exists, joinPath, readJson } from "../io/checkpoint.ts";
import { FormatError, OssiError } from "../io/errors.ts";
import { loadAnyModel } from "../model/load_any.ts";
import { CHAT_FORMATS, type ChatFormat } from "./chatml_formats.ts";
import type { ChatEvent } from "./harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "./messages.ts";
import type { PromptRenderer } from "./prompt.ts";
import { type EncodedPrompt, inThreadEncoder, type PromptEncoder, WorkerEncoder } from "./prompt_encoder.ts";
import { makeSampler, type SamplerParams, samplesArgmax } from "./sampler.ts";
import { loadTokenizer, type Tokenizer } from "./tokenizer.ts";

export type { EncodedPrompt };

export interface ChatRequest {
  messages: ChatMessage[];
  prompt: PromptOptions;
  sampler: SamplerParams;
  maxTokens: number;
  signal?: AbortSignal;
  /** These messages and options as encodeConversation() gave them (saves encoding them again). */
  encoded?: EncodedPrompt;
  /** Called with each generated id, the stop token included, as it is generated. */
  onToken?: (id: number) => void;
}

export interface ChatUsage {
  promptTokens: number;
  /** Prompt tokens whose KV entries were reused from the previous turn. */
  cachedTokens: number;
  completionTokens: number;
  /** Completion tokens that wrote reasoning (analysis / think) text. */
  reasoningTokens: number;
  prefillMs: number;
  decodeMs: number;
  contextUsed: number;
  contextSize: number;
}

export class ChatEngine {
  private readonly stopSet: ReadonlySet<number>;
  /** Format markup ids, never penalised by the sampler (the format must stay possible). */
  private readonly markup: ReadonlySet<number>;
  /** Ids of the last turn's completion, stop token included (for tests and debugging). */
  lastCompletion: number[] = [];

  constructor(
    readonly gen: TokenGenerator,
    readonly tokenizer: Tokenizer,
    readonly renderer: PromptRenderer,
    readonly stopTokens: number[],
    /** How output is parsed (harmony unless the model family says otherwise). */
    readonly format: ChatFormat = CHAT_FORMATS.gpt_oss,
    /** Where prompts are rendered and encoded: a worker for model folders, this thread by default. */
    readonly encoder: PromptEncoder = inThreadEncoder(renderer, tokenizer),
  ) {
    this.stopSet = new Set(stopTokens);
    this.markup = new Set(
      format.markupStrings.map((s) => tokenizer.tokenId(s)).filter((x): x is number => x !== undefined),
    );
  }

  /**
   * Renders and encodes a conversation. The renderer marks every piece of user text (message contents,
   * reasoning, tool names, arguments and schemas) as literal, and special-token text inside literal
   * text is encoded as plain text: a message cannot forge harmony or ChatML markup.
   */
  encodeConversation(messages: ChatMessage[], prompt: PromptOptions): Promise<EncodedPrompt> {
    return this.encoder.encode(messages, prompt);
  }

  async encodePrompt(messages: ChatMessage[], prompt: PromptOptions): Promise<number[]> {
    return [...(await this.encodeConversation(messages, prompt)).ids];
  }

  async countPromptTokens(messages: ChatMessage[], prompt: PromptOptions): Promise<number> {
    return (await this.encodeConversation(messages, prompt)).ids.length;
  }

  /** Streams events for one assistant turn; the last event is {type:"done"}. */
  async *chat(req: ChatRequest): AsyncGenerator<ChatEvent, ChatUsage, void> {
    if (!(Number.isInteger(req.maxTokens) && req.maxTokens > 0)) {
      throw new OssiError(`max tokens must be a whole number > 0 (got ${req.maxTokens})`);
    }
    const { rendered, ids: prompt } = req.encoded ?? await this.encodeConversation(req.messages, req.prompt);
    const parser = this.format.parser(this.tokenizer, this.stopSet, rendered.text);
    const completion: number[] = [];
    this.lastCompletion = completion;
    const penalised = () => completion.filter((id) => !this.markup.has(id));
    const sample = makeSampler(req.sampler, penalised);
    let stopped = false;
    let reasoningTokens = 0;
    for await (
      const id of this.gen.generate({
        prompt,
        sample,
        greedy: samplesArgmax(req.sampler),
        stopTokens: this.stopSet,
        maxTokens: req.maxTokens,
        signal: req.signal,
      })
    ) {
      completion.push(id);
      req.onToken?.(id);
      const events = parser.push(id);
      if (events.some((ev) => ev.type === "reasoning")) reasoningTokens++;
      for (const ev of events) yield ev;
      if (this.stopSet.has(id)) stopped = true;
      // The session ends by itself after a stop token; a parser stop on another id ends it here.
      else if (parser.done) break;
    }
    if (!parser.done) {
      const reason = req.signal?.aborted ? "aborted" : stopped ? "stop" : "length";
      for (const ev of parser.end(reason)) yield ev;
    }
    const s = this.gen.lastStats;
    return {
      promptTokens: prompt.length,
      cachedTokens: s?.cachedTokens ?? 0,
      completionTokens: completion.length,
      reasoningTokens,
      prefillMs: s?.prefillMs ?? 0,
      decodeMs: s?.decodeMs ?? 0,
      contextUsed: s?.contextUsed ?? prompt.length + completion.length,
      contextSize: this.gen.contextSize,
    };
  }

  /** Stops the prompt worker, if any (the backend is the caller's). */
  dispose(): void {
    this.encoder.dispose();
  }
}

/**
 * Stop ids: generation_config.json's eos_token_id plus the format's stop strings (harmony: <|return|> and
 * <|call|>). Formats other than harmony fall back to config.json's eos_token_id without a generation config.
 */
export function readStopTokens(
  modelDir: string,
  tok: Tokenizer,
  format: ChatFormat = CHAT_FORMATS.gpt_oss,
): number[] {
  const stops = new Set<number>();
  let file = joinPath(modelDir, "generation_config.json");
  if (!exists(file) && format.name !== "harmony") file = joinPath(modelDir, "config.json");
  if (exists(file)) {
    const eos = readJson(file).eos_token_id;
    const list = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
    for (const id of list) {
      if (!Number.isInteger(id) || id < 0) throw new FormatError(`${file}: eos_token_id must hold token ids`);
      if (id >= tok.vocabSize) {
        throw new FormatError(
          `${file}: eos_token_id ${id} is outside the tokenizer's vocabulary (${tok.vocabSize} ids)`,
        );
      }
      stops.add(id);
    }
  }
  for (const t of format.stopStrings) {
    const id = tok.tokenId(t);
    if (id !== undefined) stops.add(id);
  }
  if (stops.size === 0) {
    throw new FormatError(`${modelDir}: no stop tokens (no eos_token_id and no ${format.stopStrings[0]})`);
  }
  return [...stops];
}

export interface OpenChatOptions {
  backend?: string;
  threads?: number;
  /** gpt-oss on wasm: int8 MoE activations (faster, less exact). */
  moeInt8?: boolean;
  maxContext?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Loads model + tokenizer + renderer + backend into a ChatEngine (model = folder path). The model family
 * (gpt-oss, Qwen3, GPT-2) picks the chat format from CHAT_FORMATS; GPT-2 and Qwen3 run on `ref`.
 */
export async function openChatEngine(modelDir: string, opts: OpenChatOptions = {}): Promise<ChatEngine> {
  const tok = await loadTokenizer(modelDir);
  const model = loadAnyModel(modelDir);
  const format = CHAT_FORMATS[model.arch];
  const renderer = format.renderer(modelDir);
  const stops = readStopTokens(modelDir, tok, format);
  const config = model.arch === "gpt_oss" ? model.model.config : model.config;
  if (tok.vocabSize > config.vocabSize) {
    throw new FormatError(
      `${modelDir}: tokenizer has ${tok.vocabSize} ids but the model only ${config.vocabSize}`,
    );
  }
  const backendName = parseBackendName(opts.backend ?? "auto");
  const backend = await createAnyBackend(model, backendName, {
    maxContext: opts.maxContext,
    threads: opts.threads,
    moeInt8: opts.moeInt8,
    onProgress: opts.onProgress,
  });
  const store = model.arch === "gpt_oss" ? model.model.store : model.store;
  const session = new Session(backend, () => store.checkUnchanged());
  return new ChatEngine(session, tok, renderer, stops, format, new WorkerEncoder(modelDir, format.name));
}
