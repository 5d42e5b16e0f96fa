// HarmonyParser fed one token at a time: the demo model's reference completions, tool calls, and
// recovery from malformed headers without markup reaching the answer.

import { assert, assertEquals } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { type ChatEvent, HarmonyParser, parseHeader } from "../../src/chat/harmony_parser.ts";
import { loadTokenizerSync } from "../../src/chat/tokenizer.ts";

const tok = loadTokenizerSync(DEMO_MODEL); // byte-level with 512 ids: text arrives in small pieces

interface Parsed {
  reasoning: string;
  content: string;
  calls: { name: string; arguments: string }[];
  done: string[];
  events: ChatEvent[];
}

/** Encodes `text` (special tokens included) and feeds the ids one by one; `end` is called if given. */
function parse(text: string, end?: "stop" | "length" | "aborted"): Parsed {
  const p = new HarmonyParser(tok);
  const events: ChatEvent[] = [];
  for (const id of tok.encode(text)) events.push(...p.push(id));
  if (end) events.push(...p.end(end));
  const out: Parsed = { reasoning: "", content: "", calls: [], done: [], events };
  for (const e of events) {
    if (e.type === "reasoning") out.reasoning += e.text;
    else if (e.type === "content") out.content += e.text;
    else if (e.type === "tool_call") out.calls.push({ name: e.call.name, arguments: e.call.arguments });
    else if (e.type === "done") out.done.push(e.reason);
  }
  return out;
}

Deno.test("HarmonyParser splits every demo reference completion into analysis and final answer", () => {
  const items = Deno.readTextFileSync(`${DEMO_MODEL}/eval.jsonl`).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  for (const item of items) {
    const completion: string = item.reference_completion;
    const r = parse(completion);
    // The answer is the text after the last final-channel header, up to <|return|>.
    const finalText = completion.split("<|channel|>final<|message|>").pop()!.replace(/<\|return\|>$/, "");
    const analysis = /^<\|channel\|>analysis<\|message\|>(.*?)<\|end\|>/s.exec(completion)![1];
    assertEquals(r.content, finalText, completion);
    assertEquals(r.reasoning, analysis, completion);
    assertEquals(r.done, ["stop"]);
    assertEquals(r.content === item.expected, item.reference_correct);
  }
});

Deno.test("HarmonyParser emits a tool call on <|call|> and ends with reason tool_calls", () => {
  const r = parse(
    "<|channel|>analysis<|message|>Need the weather.<|end|>" +
      '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "SF"}<|call|>',
  );
  assertEquals(r.reasoning, "Need the weather.");
  assertEquals(r.content, "");
  assertEquals(r.calls, [{ name: "get_weather", arguments: '{"city": "SF"}' }]);
  assertEquals(r.done, ["tool_calls"]);
  const call = r.events.find((e) => e.type === "tool_call");
  assert(call?.type === "tool_call" && /^call_[0-9a-f]{12}$/.test(call.call.id), "tool call id");
});

Deno.test("HarmonyParser reads a recipient in the role part and a preamble as content", () => {
  const r = parse(
    "<|channel|>commentary<|message|>Checking two cities.<|end|>" +
      "<|start|>assistant to=functions.lookup<|channel|>commentary json<|message|>{}<|call|>",
  );
  assertEquals(r.content, "Checking two cities.");
  assertEquals(r.calls, [{ name: "lookup", arguments: "{}" }]);
});

Deno.test("HarmonyParser recovers from a missing <|start|> and from text where a header belongs", () => {
  const a = parse("<|channel|>analysis<|message|>think<|end|><|channel|>final<|message|>42<|return|>");
  assertEquals([a.reasoning, a.content, a.done], ["think", "42", ["stop"]]);
  const b = parse(
    "<|channel|>analysis<|message|>think<|end|>assistant<|channel|>final<|message|>42<|return|>",
  );
  assertEquals([b.reasoning, b.content], ["think", "42"]);
});

Deno.test("HarmonyParser treats a header inside a message as a new message, not as text", () => {
  const r = parse("<|channel|>analysis<|message|>think<|channel|>final<|message|>42<|return|>");
  assertEquals([r.reasoning, r.content], ["think", "42"]);
  const s = parse("<|channel|>analysis<|message|>a<|start|>assistant<|channel|>final<|message|>b<|return|>");
  assertEquals([s.reasoning, s.content], ["a", "b"]);
});

Deno.test("HarmonyParser drops stray special tokens and never lets markup into the answer", () => {
  const r = parse("<|channel|>final<|message|>4<|message|>2<|constrain|><|reserved_200000|><|return|>");
  assertEquals(r.content, "42");
  // A header that never reaches <|message|>: the text after the channel name is the message.
  const long = parse("<|channel|>final " + "blah ".repeat(30) + "<|message|>x<|return|>");
  assertEquals(long.content, "blah ".repeat(30) + "x");
  const short = parse(
    "<|channel|>analysis<|message|>ok<|end|><|start|>assistant<|channel|>final 42<|return|>",
  );
  assertEquals([short.reasoning, short.content], ["ok", "42"]);
  const bare = parse("<|channel|>final<|return|>");
  assertEquals([bare.content, bare.done], ["", ["stop"]]);
  // Unknown channels never reach the answer; a header with no channel at all is read as final.
  const odd = parse("<|channel|>weird<|message|>hidden<|end|><|start|>assistant<|message|>shown<|return|>");
  assertEquals([odd.reasoning, odd.content], ["hidden", "shown"]);
});

Deno.test("HarmonyParser streams multi-byte characters whole, token by token", () => {
  const r = parse("<|channel|>final<|message|>héllo 😀 世界<|return|>");
  assertEquals(r.content, "héllo 😀 世界");
  for (const e of r.events) if (e.type === "content") assert(!e.text.includes("\uFFFD"), e.text);
});

Deno.test("HarmonyParser.end() flushes and reports length / aborted once; nothing after done", () => {
  const r = parse("<|channel|>final<|message|>partial answ", "length");
  assertEquals([r.content, r.done], ["partial answ", ["length"]]);
  const a = parse("<|channel|>analysis<|message|>hmm", "aborted");
  assertEquals([a.reasoning, a.done], ["hmm", ["aborted"]]);
  const p = new HarmonyParser(tok);
  for (const id of tok.encode("<|channel|>final<|message|>x<|return|>")) p.push(id);
  assert(p.done);
  assertEquals(p.push(tok.encode("y")[0]), []);
  assertEquals(p.end("length"), []);
  // A tool call cut off by the token limit is still reported (its arguments may be incomplete).
  const cut = parse('<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a":', "length");
  assertEquals(cut.calls, [{ name: "f", arguments: '{"a":' }]);
  assertEquals(cut.done, ["length"]);
});

Deno.test("parseHeader() finds channel and recipient wherever they are", () => {
  assertEquals(parseHeader("assistant<|channel|>final"), { channel: "final", recipient: null });
  assertEquals(parseHeader("<|channel|>commentary to=functions.a_b <|constrain|>json"), {
    channel: "commentary",
    recipient: "functions.a_b",
  });
  assertEquals(parseHeader("assistant to=functions.x<|channel|>commentary"), {
    channel: "commentary",
    recipient: "functions.x",
  });
  assertEquals(parseHeader("functions.x to=assistant<|channel|>commentary").recipient, null);
});
