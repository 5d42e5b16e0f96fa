// What an architecture file exports: config parsing into a ModelConfig (plus its own fields), the per-layer
// plan, the tensor-name table of each checkpoint layout and the chat format its models speak. All data:
// loading, inspecting and every backend work from these alone.

import type { ModelConfig } from "./config.ts";
import type { ModelPlan } from "./plan.ts";
import type { TensorNames } from "./weights.ts";

/**
 * How a model family chats (the chat layer builds its renderer and parser from this):
 * - harmony: the folder's chat template, else the built-in harmony renderer; the harmony parser and
 *   harmony's own stop and markup tokens.
 * - template: the folder's Jinja chat template (required); a <think> block (when the tokenizer has
 *   <think>) is reasoning, the rest the answer.
 * - completion: no chat format; each input is continued as plain text.
 */
export type ChatSpec = { readonly format: "harmony" } | {
  readonly format: "template" | "completion";
  /** Token strings that end the assistant's turn (generation stops after one). */
  readonly stopStrings: readonly string[];
  /** Token strings that would open another turn: the output parser stops there too. */
  readonly turnStrings: readonly string[];
  /** Markup token strings the sampler's repetition penalties leave alone. */
  readonly markupStrings: readonly string[];
};

export interface Architecture<C extends ModelConfig = ModelConfig> {
  /** The family's name in messages ("gpt-oss", "Llama", ...). */
  readonly family: string;
  /** The config.json model_type values this file parses. */
  readonly modelTypes: readonly string[];
  /** A config.json without model_type that this family recognises by its keys (gpt-oss's original/). */
  readonly recognizes?: (json: Record<string, unknown>) => boolean;
  /** The float dtype its Hub checkpoints store when config.json names none (for `ossi inspect`). */
  readonly defaultDtype: "BF16" | "F32";
  readonly chat: ChatSpec;
  /** Parses and validates config.json (ranges and meaning); errors name the file, the key and the value. */
  parseConfig(file: string, json: Record<string, unknown>): C;
  plan(config: C): ModelPlan;
  /**
   * The names of the checkpoint layout whose tensors `has` finds (a FormatError when none matches);
   * `has` null: no checkpoint (`ossi inspect` of a config alone), the layout the Hub ships.
   */
  tensorNames(config: C, has: ((name: string) => boolean) | null, dir: string): TensorNames;
}
