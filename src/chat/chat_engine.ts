// ChatEngine: one assistant turn end to end (render, encode, generate on the KV-reusing Session, parse
// the output in the model's chat format: harmony, ChatML or plain completion, chatml_formats.ts).
// What the REPL, `ossi run` and the server all stand on.

import { createAnyBackend, parseBackendName, type Precision } from "../engine/create_backend.ts";
import { Session, type TokenGenerator } from "../engine/session.ts";
import { isFile, joinPath, readJson } from "../io/checkpoint.ts";
import { FormatError, OssiError } from "../io/errors.ts";
import { loadAnyModel } from "../model/load_any.ts";
import { CHAT_FORMATS, type ChatFormat } from "./chatml_formats.ts";
import { renderResponseFormat } from "./harmony.ts";
import type { ChatEvent, TokenLogprob } from "./harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "./messages.ts";
import type { PromptRenderer } from "./prompt.ts";
import { makeLogprobs, makeSampler, type SamplerParams, samplesArgmax } from "./sampler.ts";
import { type BpeTokenizer, loadTokenizer, type Tokenizer } from "./tokenizer.ts";
import { type OutputSpec } from "./constrain/output_program.ts";
import { constraintFor, type TurnSampling } from "./turn_sampling.ts";

export interface ChatRequest {
  messages: ChatMessage[];
  prompt: PromptOptions;
  sampler: SamplerParams;
  maxTokens: number;
  signal?: AbortSignal;
  /** Constrained decoding: the answer must be JSON of a schema, or a call to one of the tools. */
  output?: OutputSpec;
  /** Report each answer token's log-probability with this many alternatives (0-20). */
  logprobs?: number;
  /** Added to the logits of these ids before sampling (OpenAI's logit_bias). */
  logitBias?: ReadonlyMap<number, number>;
}

export interface ChatUsage {
  promptTokens: number;
  /** Prompt tokens whose KV entries were reused from the previous turn. */
  cachedTokens: number;
  completionTokens: number;
  /** Generated tokens of the reasoning text (harmony's analysis channel, ChatML's think block). */
  reasoningTokens: number;
  /** A token budget closed a constrained answer early (it is complete but was cut: finish "length"). */
  budgetCut?: boolean;
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
  ) {
    this.stopSet = new Set(stopTokens);
    this.markup = new Set(
      format.markupStrings.map((s) => tokenizer.tokenId(s)).filter((x): x is number => x !== undefined),
    );
  }

  /**
   * Renders and encodes a conversation. Special-token text inside message contents (found verbatim in
   * the rendered prompt, in order) is encoded as plain text, so a message cannot forge harmony markup.
   */
  encodePrompt(messages: ChatMessage[], prompt: PromptOptions): number[] {
    return this.renderPrompt(messages, prompt).ids;
  }

  private renderPrompt(messages: ChatMessage[], prompt: PromptOptions): { text: string; ids: number[] } {
    const text = this.renderer.render(messages, prompt);
    return { text, ids: this.encodeRendered(text, messages, prompt) };
  }

  private encodeRendered(text: string, messages: ChatMessage[], prompt: PromptOptions): number[] {
    const tok = this.tokenizer as Tokenizer & Partial<Pick<BpeTokenizer, "encodeWithLiterals">>;
    // "<" covers harmony's <|...|>, ChatML's <|im_start|> and <think>.
    const literals = messageTexts(messages, prompt).filter((t) => t.includes("<"));
    if (literals.length === 0 || !tok.encodeWithLiterals) return tok.encode(text);
    const spans: [number, number][] = [];
    let pos = 0;
    for (const t of literals) {
      const i = text.indexOf(t, pos);
      if (i < 0) continue; // dropped (earlier analysis) or transformed by the template
      spans.push([i, i + t.length]);
      pos = i + t.length;
    }
    return tok.encodeWithLiterals(text, spans);
  }

  countPromptTokens(messages: ChatMessage[], prompt: PromptOptions): number {
    return this.encodePrompt(messages, prompt).length;
  }

  /** Streams events for one assistant turn; the last event is {type:"done"}. */
  async *chat(req: ChatRequest): AsyncGenerator<ChatEvent, ChatUsage, void> {
    if (!(Number.isInteger(req.maxTokens) && req.maxTokens > 0)) {
      throw new OssiError(`max tokens must be a whole number > 0 (got ${req.maxTokens})`);
    }
    const { text, ids: prompt } = this.renderPrompt(req.messages, req.prompt);
    const parser = this.format.parser(this.tokenizer, this.stopSet, text);
    const completion: number[] = [];
    this.lastCompletion = completion;
    const penalised = () => completion.filter((id) => !this.markup.has(id));
    const constraint = req.output ? constraintFor(this, req.output, text) : null;
    const sampling: TurnSampling = {
      sample: makeSampler(req.sampler, penalised),
      logprobs: req.logprobs === undefined ? null : makeLogprobs(req.sampler, penalised),
      topLogprobs: req.logprobs ?? 0,
      bias: req.logitBias ?? null,
      constraint,
      remaining: () => req.maxTokens - completion.length,
      last: null,
    };
    const shaped = constraint !== null || sampling.logprobs !== null || sampling.bias !== null;
    /** Log-probabilities of answer tokens not yet attached to a content event. */
    let pending: TokenLogprob[] = [];
    let reasoningTokens = 0;
    let stopped = false;
    for await (
      const id of this.gen.generate({
        prompt,
        sample: (logits) => this.sampleShaped(sampling, logits),
        greedy: samplesArgmax(req.sampler) && !shaped,
        stopTokens: this.stopSet,
        maxTokens: req.maxTokens,
        signal: req.signal,
      })
    ) {
      completion.push(id);
      constraint?.accept(id);
      const events = parser.push(id);
      if (parser.lastKind === "reasoning") reasoningTokens++;
      if (sampling.last && parser.lastKind === "content") pending.push(this.wireLogprob(id, sampling.last));
      sampling.last = null;
      for (const ev of events) {
        if (ev.type === "content" && sampling.logprobs) {
          ev.logprobs = pending;
          pending = [];
        }
        yield ev;
      }
      if (this.stopSet.has(id)) stopped = true;
      // The session ends by itself after a stop token; a parser stop on another id ends it here.
      else if (parser.done) break;
    }
    if (!parser.done) {
      const reason = req.signal?.aborted ? "aborted" : stopped ? "stop" : "length";
      for (const ev of parser.end(reason)) {
        if (ev.type === "content" && sampling.logprobs) ev.logprobs = pending.splice(0);
        yield ev;
      }
    }
    const s = this.gen.lastStats;
    return {
      promptTokens: prompt.length,
      cachedTokens: s?.cachedTokens ?? 0,
      completionTokens: completion.length,
      reasoningTokens,
      budgetCut: constraint?.budgetCut ?? false,
      prefillMs: s?.prefillMs ?? 0,
      decodeMs: s?.decodeMs ?? 0,
      contextUsed: s?.contextUsed ?? prompt.length + completion.length,
      contextSize: this.gen.contextSize,
    };
  }

  /** Bias, constraint mask, then the sampler; keeps the log-probabilities when asked for. */
  private sampleShaped(t: TurnSampling, logits: Float32Array): number {
    let x = logits;
    if (t.bias || t.constraint) {
      if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
      x = this.scratch;
      x.set(logits);
      if (t.bias) { for (const [id, b] of t.bias) if (id < x.length) x[id] += b; }
      if (t.constraint) {
        if (this.mask.length !== x.length) this.mask = new Uint8Array(x.length);
        t.constraint.fill(this.mask, t.remaining());
        const mask = this.mask;
        for (let i = 0; i < x.length; i++) if (!mask[i]) x[i] = -Infinity;
      }
    }
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i])) throw new OssiError(`the model produced NaN logits (token ${i})`);
    }
    const id = t.sample(x);
    if (t.logprobs) t.last = t.logprobs(x, id, t.topLogprobs);
    return id;
  }

  private wireLogprob(
    id: number,
    lp: { logprob: number; top: { id: number; logprob: number }[] },
  ): TokenLogprob {
    const entry = (i: number, logprob: number) => {
      const bytes = tokenBytesOf(this.tokenizer, i);
      return { token: this.tokenizer.decode([i]), bytes, logprob };
    };
    return { ...entry(id, lp.logprob), top: lp.top.map((t) => entry(t.id, t.logprob)) };
  }

  private scratch = new Float32Array(0);
  private mask = new Uint8Array(0);
}

function tokenBytesOf(tok: Tokenizer, id: number): number[] {
  const t = tok as Tokenizer & Partial<Pick<BpeTokenizer, "tokenBytes">>;
  return [...(t.tokenBytes ? t.tokenBytes(id) : new TextEncoder().encode(tok.decode([id])))];
}

/** The user-controlled texts of a conversation, in the order a renderer writes them. */
function messageTexts(messages: ChatMessage[], prompt: PromptOptions): string[] {
  const out: string[] = prompt.system ? [prompt.system] : [];
  // System and developer messages go to the top (the developer message) in harmony renderings.
  const instructions = messages.filter((m) => m.role === "system" || m.role === "developer");
  // The response format's section (schema text included) follows the instructions.
  const format = prompt.responseFormat ? renderResponseFormat(prompt.responseFormat) : null;
  if (format && instructions.length === 0) out.push(format);
  const ordered = [...instructions, ...messages.filter((m) => !instructions.includes(m))];
  ordered.forEach((m, i) => {
    if (m.reasoning) out.push(m.reasoning);
    if (m.content) out.push(m.content);
    for (const c of m.toolCalls ?? []) out.push(c.arguments);
    if (format && i === instructions.length - 1) out.push(format);
  });
  return out;
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
  if (!isFile(file) && format.name !== "harmony") file = joinPath(modelDir, "config.json");
  if (isFile(file)) {
    const eos = readJson(file).eos_token_id;
    const list = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
    for (const id of list) {
      if (!Number.isInteger(id) || id < 0) throw new FormatError(`${file}: eos_token_id must hold token ids`);
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
  /** gpt-oss on wasm: "fast" (int8 weights and expert activations) or "exact" (the default here). */
  precision?: Precision;
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
    precision: opts.precision,
    onProgress: opts.onProgress,
  });
  return new ChatEngine(new Session(backend), tok, renderer, stops, format);
}
