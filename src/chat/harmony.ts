// The built-in harmony renderer: a conversation to the prompt text gpt-oss was trained on (system,
// developer with function tools, user, earlier assistant turns, tool results), ending "<|start|>assistant".

import type { ChatMessage, PromptOptions } from "./messages.ts";

export function renderHarmony(_messages: ChatMessage[], _opts: PromptOptions): string {
  throw new Error("renderHarmony: not implemented yet");
}
