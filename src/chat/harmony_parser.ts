// Streaming harmony parser: fed one sampled token id at a time, it splits the assistant's output into
// reasoning (analysis), content (final) and tool calls, and never lets header markup into the answer.

import type { ToolCall } from "./messages.ts";
import type { Tokenizer } from "./tokenizer.ts";

export type DoneReason = "stop" | "tool_calls" | "length" | "aborted";

export type ChatEvent =
  | { type: "reasoning"; text: string }
  | { type: "content"; text: string }
  | { type: "tool_call"; call: ToolCall }
  | { type: "done"; reason: DoneReason };

export class HarmonyParser {
  constructor(readonly tok: Tokenizer) {}
  push(_id: number): ChatEvent[] {
    throw new Error("HarmonyParser: not implemented yet");
  }
  end(_reason: DoneReason = "stop"): ChatEvent[] {
    throw new Error("HarmonyParser: not implemented yet");
  }
}
