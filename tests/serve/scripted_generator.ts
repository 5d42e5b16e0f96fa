// A stub TokenGenerator for server tests: instead of running a model it "answers" the rendered prompt with
// harmony text (reasoning, then a final answer, or a tool call), encoded with the demo model's real
// tokenizer and replayed one id at a time, so the real ChatEngine and harmony parser run on it.
// It throws if two generations ever overlap: the server must hand the one engine to one request at a time.

import type { GenerateRequest, GenerationStats, TokenGenerator } from "../../src/engine/session.ts";
import { ContextOverflowError } from "../../src/engine/session.ts";
import { scoreToken } from "../../src/engine/token_scores.ts";
import type { Tokenizer } from "../../src/chat/tokenizer.ts";

export interface ScriptOptions {
  contextSize?: number;
  /** Pause before each token, to make streams long enough to interrupt. */
  delayMs?: number;
}

export class ScriptedGenerator implements TokenGenerator {
  readonly vocabSize: number;
  readonly contextSize: number;
  lastStats: GenerationStats | null = null;
  /** Every prompt seen, decoded, in order. */
  readonly prompts: string[] = [];
  /** Generations that ended early because their signal was aborted. */
  aborted = 0;
  completed = 0;
  /** What the request's sampler picked from flat logits at each step of the last generation. */
  lastSamples: number[] = [];
  private active = false;
  private cached: number[] = [];

  constructor(private readonly tok: Tokenizer, private readonly opts: ScriptOptions = {}) {
    this.vocabSize = tok.vocabSize;
    this.contextSize = opts.contextSize ?? 4096;
  }

  reset(): void {
    this.cached = [];
  }

  get busy(): boolean {
    return this.active;
  }

  async *generate(req: GenerateRequest): AsyncGenerator<number, void, void> {
    if (this.active) {
      throw new Error("ScriptedGenerator: two generations at once (their KV caches would mix)");
    }
    this.active = true;
    try {
      if (req.prompt.length >= this.contextSize) {
        throw new ContextOverflowError(
          `prompt is ${req.prompt.length} tokens; the context holds ${this.contextSize}`,
        );
      }
      const prompt = this.tok.decode(req.prompt);
      this.prompts.push(prompt);
      let p = 0;
      while (p < Math.min(this.cached.length, req.prompt.length - 1) && this.cached[p] === req.prompt[p]) p++;
      const stats: GenerationStats = {
        promptTokens: req.prompt.length,
        cachedTokens: p,
        prefillTokens: req.prompt.length - p,
        prefillMs: 0,
        decodeTokens: 0,
        decodeMs: 0,
        contextUsed: req.prompt.length,
        contextSize: this.contextSize,
      };
      this.lastStats = stats;
      this.cached = [...req.prompt];
      // A harmony prompt opens with the <|start|> id; anything else is a raw prompt (/v1/completions).
      const raw = req.prompt[0] !== this.tok.tokenId("<|start|>");
      const ids = this.tok.encode(raw ? `${RAW_REPLY}<|endoftext|>` : scriptedReply(prompt));
      // The sampler runs on flat logits (every id equally likely), so its picks show temperature and seed.
      const flat = new Float32Array(this.vocabSize);
      // a scored prompt is scored against the same flat logits: every token -log(vocab), rank 1
      const scoring = req.scorePrompt;
      if (scoring) scoring.onScores(req.prompt.slice(1).map((id) => scoreToken(flat, id, scoring.top)));
      this.lastSamples = [];
      for (let i = 0; i < req.maxTokens && i < ids.length; i++) {
        if (req.signal?.aborted) {
          this.aborted++;
          return;
        }
        if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));
        if (req.signal?.aborted) {
          this.aborted++;
          return;
        }
        this.lastSamples.push(req.sample(flat));
        stats.decodeTokens++;
        stats.contextUsed++;
        this.cached.push(ids[i]);
        yield ids[i];
        if (req.stopTokens.has(ids[i])) break;
      }
      this.completed++;
    } finally {
      this.active = false;
    }
  }
}

const FINAL = "<|start|>assistant<|channel|>final<|message|>";

/** How the stub continues any raw prompt: 62 tokens of the demo tokenizer (over the default 16), then the stop. */
export const RAW_REPLY =
  " and then the quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps again.";

/**
 * The scripted answer to a rendered harmony prompt:
 * - after a tool result: a final answer quoting it;
 * - "weather in CITY" with a get_weather tool declared: a call to it;
 * - "What is A+B?": reasoning naming the effort level, then the sum;
 * - anything else: an echo.
 * A raw prompt (/v1/completions) gets RAW_REPLY instead.
 */
export function scriptedReply(prompt: string): string {
  const effort = /Reasoning: (\w+)/.exec(prompt)?.[1] ?? "none";
  const tool =
    /<\|start\|>functions\.(\w+) to=assistant<\|channel\|>commentary<\|message\|>([^<]*)<\|end\|><\|start\|>assistant$/
      .exec(prompt);
  if (tool) return `<|channel|>final<|message|>${tool[1]} says ${tool[2]}<|return|>`;
  const users = [...prompt.matchAll(/<\|start\|>user<\|message\|>([^<]*)<\|end\|>/g)];
  const question = users.at(-1)?.[1] ?? "";
  const city = /weather in (\w+)/i.exec(question)?.[1];
  if (city && /functions\.get_weather|get_weather = /.test(prompt)) {
    return `<|channel|>analysis<|message|>Need the weather tool.<|end|>` +
      `<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>` +
      `{"city":"${city}"}<|call|>`;
  }
  const sum = /What is (\d+)\+(\d+)\?/.exec(question);
  if (sum) {
    const [a, b] = [Number(sum[1]), Number(sum[2])];
    return `<|channel|>analysis<|message|>effort ${effort}: ${a}+${b}=${a + b}.<|end|>${FINAL}${
      a + b
    }<|return|>`;
  }
  return `<|channel|>analysis<|message|>effort ${effort}: echo.<|end|>${FINAL}You said: ${question}<|return|>`;
}
