// Prompt rendering that follows the model folder: its chat template (chat_template.jinja, or
// tokenizer_config.json's chat_template) through @huggingface/jinja, else the built-in harmony renderer.

import type { ChatMessage, PromptOptions } from "./messages.ts";

export interface PromptRenderer {
  render(messages: ChatMessage[], opts: PromptOptions): string;
}

export function loadPromptRenderer(_modelDir: string): Promise<PromptRenderer> {
  return Promise.reject(new Error("loadPromptRenderer: not implemented yet"));
}
