// The output programs constrained turns follow, per chat format. In harmony (the prompt ends with
// "<|start|>assistant") the analysis channel stays free and the answer is forced into its header:
//   structured answer: <|channel|>final [<|constrain|>json]<|message|>JSON<|return|>
//   forced tool call:  <|channel|>commentary to=functions.NAME [<|constrain|>json]<|message|>ARGS<|call|>
// each after any number of <|channel|>analysis<|message|>...<|end|><|start|>assistant messages.
// Other formats write the JSON directly (ChatML after a think block the prompt opened), then stop.

import { OssiError } from "../../errors.ts";
import type { Tokenizer } from "../tokenizer.ts";
import type { SchemaNode } from "./json_schema.ts";
import type { ProgramNode, TextChoice } from "./token_constraint.ts";

/** What a turn must produce: a JSON answer, or a call to one of the tools with valid arguments. */
export type OutputSpec =
  | { kind: "json"; root: SchemaNode }
  | { kind: "tool_call"; tools: { name: string; root: SchemaNode }[] };

const utf8 = new TextEncoder();
const END: ProgramNode = { kind: "end" };

function special(tok: Tokenizer, text: string, next: ProgramNode): ProgramNode & { kind: "special" } {
  const id = tok.tokenId(text);
  if (id === undefined) {
    throw new OssiError(`the tokenizer has no ${text} token (needed to constrain the output)`);
  }
  return { kind: "special", id, next };
}

const text = (choices: [string, ProgramNode & { kind: "special" }][]): ProgramNode => ({
  kind: "text",
  choices: choices.map(([t, next]): TextChoice => ({ bytes: utf8.encode(t), next })),
});

/** A JSON body closed by `stop`, reached through either header ending: "<|message|>" or " <|constrain|>json<|message|>". */
function headerThenJson(
  tok: Tokenizer,
  header: string,
  root: SchemaNode,
  stop: string,
): [string, ProgramNode & { kind: "special" }][] {
  const json = (): ProgramNode => ({ kind: "json", root, stop: special(tok, stop, END).id });
  const constrained = special(tok, "<|constrain|>", text([["json", special(tok, "<|message|>", json())]]));
  return [[header, special(tok, "<|message|>", json())], [`${header} `, constrained]];
}

export function harmonyProgram(tok: Tokenizer, spec: OutputSpec): ProgramNode {
  const choices: [string, ProgramNode & { kind: "special" }][] = [];
  const channel = special(tok, "<|channel|>", END);
  // analysis: free text to <|end|>, then <|start|>assistant and another header.
  const again = special(tok, "<|start|>", text([["assistant", channel]]));
  choices.push([
    "analysis",
    special(tok, "<|message|>", { kind: "free", end: special(tok, "<|end|>", END).id, next: again }),
  ]);
  if (spec.kind === "json") choices.push(...headerThenJson(tok, "final", spec.root, "<|return|>"));
  else {
    for (const t of spec.tools) {
      choices.push(...headerThenJson(tok, `commentary to=functions.${t.name}`, t.root, "<|call|>"));
    }
  }
  channel.next = text(choices);
  return channel;
}

/** ChatML and plain completion: the JSON (after the think block when the prompt opened one), then `stop`. */
export function plainProgram(tok: Tokenizer, spec: OutputSpec, stop: number, thinkEnd?: string): ProgramNode {
  if (spec.kind !== "json") {
    throw new OssiError("forced tool calls need a model that speaks harmony (gpt-oss)");
  }
  const json: ProgramNode = { kind: "json", root: spec.root, stop };
  if (thinkEnd === undefined) return json;
  const end = tok.tokenId(thinkEnd);
  if (end === undefined) return json;
  return { kind: "free", end, next: json };
}
