// A rendered prompt: its text and the ranges of it that hold user text (message contents, reasoning, tool
// names, arguments and schemas). Only text outside those ranges may become special tokens when encoded.

/** A [start, end) range of UTF-16 code units. */
export type Span = readonly [number, number];

export interface RenderedPrompt {
  readonly text: string;
  /** Ranges of `text` that are user text: sorted, disjoint, never empty. */
  readonly literal: readonly Span[];
}

/** Builds a RenderedPrompt from markup pieces and user-text pieces, in order. */
export class PromptBuilder {
  private parts: string[] = [];
  private length = 0;
  private readonly spans: [number, number][] = [];

  /** Template text: special-token text here becomes special tokens. */
  markup(text: string): this {
    this.parts.push(text);
    this.length += text.length;
    return this;
  }

  /** User text: encoded as ordinary text whatever it spells. */
  literal(text: string): this {
    if (text.length === 0) return this;
    const last = this.spans.at(-1);
    if (last && last[1] === this.length) last[1] += text.length;
    else this.spans.push([this.length, this.length + text.length]);
    this.parts.push(text);
    this.length += text.length;
    return this;
  }

  build(): RenderedPrompt {
    return { text: this.parts.join(""), literal: this.spans };
  }
}

/** A prompt that is user text from end to end (e.g. a plain completion of what the user typed). */
export function literalPrompt(text: string): RenderedPrompt {
  return new PromptBuilder().literal(text).build();
}
