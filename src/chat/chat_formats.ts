// The chat formats: how a conversation becomes a prompt, which parser reads the output, which token
// strings stop a turn and which ids the sampler never penalises. A model family names its format and
// strings (its architecture's ChatSpec): gpt-oss speaks harmony, Qwen3 and Llama their folder's Jinja
// template (<think> blocks are reasoning), GPT-2 has no chat format (plain completion).

import { FormatError } from "../errors.ts";
import { CompletionParser, type OutputParser, TemplateParser } from "./template_parser.ts";
import { HarmonyParser } from "./harmony_parser.ts";
import type { ChatMessage, PromptOptions } from "./messages.ts";
import { harmonyRenderer, loadPromptRendererSync, type PromptRenderer } from "./prompt.ts";
import { literalPrompt } from "./rendered_prompt.ts";
import type { Tokenizer } from "./tokenizer.ts";

export type ChatFormatName = "harmony" | "template" | "completion";

/** A family's chat format as its architecture file states it (the same shape as model's ChatSpec). */
export type ChatFormatSpec = { readonly format: "harmony" } | TokenStrings;

/** The stop, new-turn and markup token strings of a template or completion format. */
export interface TokenStrings {
  readonly format: "template" | "completion";
  readonly stopStrings: readonly string[];
  /** Token strings that would open another turn: the output parser stops there too. */
  readonly turnStrings: readonly string[];
  readonly markupStrings: readonly string[];
}

export interface ChatFormat {
  readonly name: ChatFormatName;
  /** Token strings that end a turn (those the tokenizer lacks are ignored). */
  readonly stopStrings: readonly string[];
  /** Markup token strings the repetition penalties leave alone. */
  readonly markupStrings: readonly string[];
  /** The renderer for a model folder. */
  renderer(modelDir: string): PromptRenderer;
  /** A parser for one turn; `prompt` is the rendered prompt text the output continues. */
  parser(tok: Tokenizer, stops: ReadonlySet<number>, prompt: string): OutputParser;
}

/**
 * Completion "renders" only the last user message, verbatim: each input is continued on its own (a base
 * model has no turns, and its context is usually short).
 */
export const completionRenderer: PromptRenderer = {
  render: (messages) => lastUserText(messages),
  // All of it is user text: "<|endoftext|>" typed in stays text.
  renderPrompt: (messages) => literalPrompt(lastUserText(messages)),
};

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "user") return messages[i].content;
  }
  return "";
}

export const HARMONY: ChatFormat = {
  name: "harmony",
  stopStrings: ["<|return|>", "<|call|>"],
  markupStrings: [
    "<|start|>",
    "<|end|>",
    "<|message|>",
    "<|channel|>",
    "<|constrain|>",
    "<|return|>",
    "<|call|>",
  ],
  renderer: (dir) => loadPromptRendererSync(dir),
  parser: (tok) => new HarmonyParser(tok),
};

/** The folder's Jinja template (required); the answer, with <think> blocks as reasoning. */
function templateFormat(spec: TokenStrings): ChatFormat {
  const parserStops = [...spec.stopStrings, ...spec.turnStrings];
  return {
    name: "template",
    stopStrings: spec.stopStrings,
    markupStrings: spec.markupStrings,
    renderer(dir) {
      const r = loadPromptRendererSync(dir);
      if (r === harmonyRenderer) {
        throw new FormatError(
          `${dir}: no chat template (chat_template.jinja or tokenizer_config.json chat_template) for this model`,
        );
      }
      // Such templates have no model-identity slot: --system becomes a leading system message.
      const withSystem = (messages: ChatMessage[], opts: PromptOptions): ChatMessage[] =>
        opts.system !== undefined && messages[0]?.role !== "system"
          ? [{ role: "system", content: opts.system }, ...messages]
          : messages;
      return {
        render: (messages, opts) => r.render(withSystem(messages, opts), opts),
        renderPrompt: (messages, opts, guard) => r.renderPrompt(withSystem(messages, opts), opts, guard),
      };
    },
    // Some templates open the think block themselves; then the output starts inside it.
    parser: (tok, _stops, prompt) => new TemplateParser(tok, /<think>\s*$/.test(prompt), parserStops),
  };
}

/** The chat format a family's spec names. */
export function chatFormat(spec: ChatFormatSpec): ChatFormat {
  if (spec.format === "harmony") return HARMONY;
  if (spec.format === "template") return templateFormat(spec);
  return {
    name: "completion",
    stopStrings: spec.stopStrings,
    markupStrings: spec.markupStrings,
    renderer: () => completionRenderer,
    parser: (tok, stops) => new CompletionParser(tok, stops),
  };
}
