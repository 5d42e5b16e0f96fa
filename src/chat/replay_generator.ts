// A TokenGenerator that replays scripted completions instead of running a model: it makes ChatEngine,
// REPL and server tests fast and deterministic. Each generate() call plays the next script.

import type { GenerateRequest, GenerationStats, TokenGenerator } from "../engine/session.ts";

export class ReplayGenerator implements TokenGenerator {
  lastStats: GenerationStats | null = null;
  /** The prompts seen, in call order. */
  readonly prompts: number[][] = [];
  private next = 0;

  constructor(
    /** One token list per turn; the last one repeats when the calls outnumber the scripts. */
    private readonly scripts: readonly (readonly number[])[],
    readonly vocabSize = 512,
    readonly contextSize = 4096,
    /** Milliseconds to wait before each token (to test streaming and aborts). */
    private readonly delayMs = 0,
  ) {}

  reset(): void {}

  async *generate(req: GenerateRequest): AsyncGenerator<number, void, void> {
    this.prompts.push([...req.prompt]);
    const script = this.scripts[Math.min(this.next++, this.scripts.length - 1)] ?? [];
    const stats: GenerationStats = {
      promptTokens: req.prompt.length,
      cachedTokens: 0,
      prefillTokens: req.prompt.length,
      prefillMs: 0,
      decodeTokens: 0,
      decodeMs: 0,
      contextUsed: req.prompt.length,
      contextSize: this.contextSize,
    };
    this.lastStats = stats;
    for (const token of script) {
      if (req.signal?.aborted || stats.decodeTokens >= req.maxTokens) return;
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (req.signal?.aborted) return;
      stats.decodeTokens++;
      stats.contextUsed++;
      yield token;
      if (req.stopTokens.has(token)) return;
    }
  }
}
