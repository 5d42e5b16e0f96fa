// ChatEngine: one assistant turn end to end (render, encode, generate on the KV-reusing Session, parse
// the output in the model's chat format: harmony, a Jinja template or plain completion, chat_formats.ts).
// What the REPL, `ossi run` and the server all stand on.

import type { PromptScoring, TokenGenerator } from "../engine/session.ts";
import { exists, joinPath, readJson } from "../io/checkpoint.ts";
import { FormatError, OssiError } from "../errors.ts";
import { type ChatFormat, HARMONY } from "./chat_formats.ts";
import type { ChatEvent, PromptLogprob, TokenLogprob } from "./harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "./messages.ts";
import type { PromptRenderer } from "./prompt.ts";
import { type EncodedPrompt, inThreadEncoder, type PromptEncoder } from "./prompt_encoder.ts";
import { makeLogprobs, makeSampler, type SamplerParams, samplesArgmax } from "./sampler.ts";
import type { BpeTokenizer, Tokenizer } from "./tokenizer.ts";
import { type OutputSpec } from "./constrain/output_program.ts";
import { constraintFor, type TurnSampling } from "./turn_sampling.ts";
import { CompletionParser } from "./template_parser.ts";

export type { EncodedPrompt };

export interface ChatRequest {
  messages: ChatMessage[];
  prompt: PromptOptions;
  sampler: SamplerParams;
  maxTokens: number;
  signal?: AbortSignal;
  /** Polled between layers with `signal` (a flag set by another thread; see GenerateRequest.shouldStop). */
  shouldStop?: () => boolean;
  /** Constrained decoding: the answer must be JSON of a schema, or a call to one of the tools. */
  output?: OutputSpec;
  /** Report each answer token's log-probability with this many alternatives (0-20). */
  logprobs?: number;
  /**
   * Report each prompt token's log-probability under the model (temperature 1, no penalties or bias) with
   * this many alternatives (0-20): one prompt_logprobs event before any other. The whole prompt is then
   * computed again (a cached prefix has no logits).
   */
  promptLogprobs?: number;
  /** Added to the logits of these ids before sampling (OpenAI's logit_bias). */
  logitBias?: ReadonlyMap<number, number>;
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
    readonly format: ChatFormat = HARMONY,
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

  /**
   * Streams events for one assistant turn; the last event is {type:"done"}. maxTokens 0 only computes the
   * prompt (its log-probabilities, when asked; it ends with reason "length").
   */
  async *chat(req: ChatRequest): AsyncGenerator<ChatEvent, ChatUsage, void> {
    if (!(Number.isInteger(req.maxTokens) && req.maxTokens >= 0)) {
      throw new OssiError(`max tokens must be a whole number >= 0 (got ${req.maxTokens})`);
    }
    const { rendered, ids: prompt } = req.encoded ?? await this.encodeConversation(req.messages, req.prompt);
    const text = rendered.text;
    // A raw prompt is continued as plain text, whatever the model's chat format.
    const parser = req.prompt.raw
      ? new CompletionParser(this.tokenizer, this.stopSet)
      : this.format.parser(this.tokenizer, this.stopSet, text);
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
    const scored = req.promptLogprobs === undefined ? null : this.promptScoring(prompt, req.promptLogprobs);
    /** The prompt_logprobs event, once every prompt token is scored (the prefill is done). */
    const promptEvent = (): ChatEvent[] => {
      if (!scored || scored.sent || scored.list.length !== prompt.length) return [];
      scored.sent = true;
      return [{ type: "prompt_logprobs", logprobs: scored.list }];
    };
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
        shouldStop: req.shouldStop,
        ...(scored ? { scorePrompt: scored.scoring } : {}),
      })
    ) {
      yield* promptEvent();
      completion.push(id);
      req.onToken?.(id);
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
    yield* promptEvent();
    const aborted = () => req.signal?.aborted || req.shouldStop?.();
    if (scored && !scored.sent && !aborted()) {
      throw new OssiError("the engine did not score the prompt (its generator cannot compute every row)");
    }
    if (!parser.done) {
      const reason = aborted() ? "aborted" : stopped ? "stop" : "length";
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

  /** Stops the prompt worker, if any (the backend is the caller's). */
  dispose(): void {
    this.encoder.dispose();
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

  /** Collects a prompt's scores as PromptLogprobs (the first token's null), decoded as they come. */
  private promptScoring(prompt: readonly number[], top: number) {
    const text = (id: number) => this.tokenizer.decode([id]);
    const list: PromptLogprob[] = [{
      id: prompt[0],
      token: text(prompt[0]),
      logprob: null,
      rank: null,
      top: [],
    }];
    const scoring: PromptScoring = {
      top,
      onScores: (scores) => {
        for (const s of scores) {
          const alt = s.top.map((t) => ({ id: t.id, token: text(t.id), logprob: t.logprob }));
          list.push({ id: s.id, token: text(s.id), logprob: s.logprob, rank: s.rank, top: alt });
        }
      },
    };
    const out = { sent: false, list, scoring };
    return out;
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

/**
 * Stop ids: generation_config.json's eos_token_id plus the format's stop strings (harmony: <|return|> and
 * <|call|>). Formats other than harmony fall back to config.json's eos_token_id without a generation config.
 */
export function readStopTokens(
  modelDir: string,
  tok: Tokenizer,
  format: ChatFormat = HARMONY,
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
