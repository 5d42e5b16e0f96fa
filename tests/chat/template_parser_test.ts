// Golden tests of the template-format output parser (Qwen3's ChatML with <think> reasoning, Llama 3 with
// its own stops) and the plain-completion parser, fed one token id at a time from synthetic byte-level
// tokenizers.

import { assert, assertEquals } from "../assert.ts";
import { CompletionParser, type OutputParser, TemplateParser } from "../../src/chat/template_parser.ts";
import { llama } from "../../src/model/llama.ts";
import type { ChatEvent } from "../../src/chat/harmony_parser.ts";
import { tokenizerFromJson } from "../../src/chat/tokenizer.ts";
import { syntheticTokenizerJson } from "../cli/other_arch_fixture.ts";

const qwen = tokenizerFromJson("qwen", syntheticTokenizerJson("qwen3", 638));
const gpt2 = tokenizerFromJson("gpt2", syntheticTokenizerJson("gpt2", 388));
const llama3 = tokenizerFromJson("llama", syntheticTokenizerJson("llama", 574));

/** Feeds `ids` one at a time (then end("length") if the parser did not stop); merges adjacent events. */
function run(parser: OutputParser, ids: number[]): { events: ChatEvent[]; perToken: number } {
  const events: ChatEvent[] = [];
  let perToken = 0;
  for (const id of ids) {
    const evs = parser.push(id);
    if (evs.length > 0) perToken++;
    events.push(...evs);
  }
  events.push(...parser.end("length"));
  const merged: ChatEvent[] = [];
  for (const ev of events) {
    const last = merged.at(-1);
    if (last && ev.type === last.type && (ev.type === "reasoning" || ev.type === "content")) {
      (last as { text: string }).text += (ev as { text: string }).text;
    } else merged.push({ ...ev });
  }
  return { events: merged, perToken };
}

Deno.test("TemplateParser, ChatML: <think> goes to reasoning, the rest to content, <|im_end|> stops", () => {
  const ids = qwen.encode("<think>\nTwo and two make four.\n</think>\n\nThe answer is 4.<|im_end|>");
  const { events, perToken } = run(new TemplateParser(qwen), ids);
  assertEquals(events, [
    { type: "reasoning", text: "Two and two make four." },
    { type: "content", text: "The answer is 4." },
    { type: "done", reason: "stop" },
  ]);
  assert(perToken > 4, "text streams token by token, not at the end");
});

Deno.test("TemplateParser, ChatML: output without a think block is all content; tokens after the stop are ignored", () => {
  const ids = qwen.encode("Hello there!<|endoftext|>more text");
  const parser = new TemplateParser(qwen);
  const { events } = run(parser, ids);
  assertEquals(events, [{ type: "content", text: "Hello there!" }, { type: "done", reason: "stop" }]);
  assert(parser.done);
});

Deno.test("TemplateParser, ChatML: a prompt ending in <think> starts in reasoning; an empty think block gives no event", () => {
  const inside = run(new TemplateParser(qwen, true), qwen.encode("I think so.\n</think>\n\nYes.<|im_end|>"));
  assertEquals(inside.events, [
    { type: "reasoning", text: "I think so." },
    { type: "content", text: "Yes." },
    { type: "done", reason: "stop" },
  ]);
  const empty = run(new TemplateParser(qwen), qwen.encode("<think>\n\n</think>\n\nYes.<|im_end|>"));
  assertEquals(empty.events, [{ type: "content", text: "Yes." }, { type: "done", reason: "stop" }]);
});

Deno.test("TemplateParser, ChatML: inner whitespace is kept, multi-byte characters split over byte tokens come out whole", () => {
  const text = "Line one.\n\n  héllo 日本 🙂 end";
  const ids = qwen.encode(`<think>a  b\n\nc</think>${text}\n<|im_end|>`);
  assert(ids.length > 20);
  const { events } = run(new TemplateParser(qwen), ids);
  assertEquals(events, [
    { type: "reasoning", text: "a  b\n\nc" },
    { type: "content", text },
    { type: "done", reason: "stop" },
  ]);
});

Deno.test("TemplateParser, ChatML: a turn cut off inside the think block ends with reason length", () => {
  const { events } = run(new TemplateParser(qwen), qwen.encode("<think>\nStill thinking \n"));
  assertEquals(events, [{ type: "reasoning", text: "Still thinking" }, { type: "done", reason: "length" }]);
});

Deno.test("TemplateParser, ChatML: <|im_start|> (the model starting another turn) also ends the answer", () => {
  const { events } = run(new TemplateParser(qwen), qwen.encode("Four.<|im_start|>user\nagain"));
  assertEquals(events, [{ type: "content", text: "Four." }, { type: "done", reason: "stop" }]);
});

Deno.test("TemplateParser, Llama 3: all content, <|eot_id|> stops, <|start_header_id|> ends the answer", () => {
  const spec = llama.chat;
  if (spec.format === "harmony") throw new Error("Llama's chat format is its template");
  const stops = [...spec.stopStrings, ...spec.turnStrings];
  const answer = run(new TemplateParser(llama3, false, stops), llama3.encode(" Four.\n<|eot_id|>ignored"));
  assertEquals(answer.events, [{ type: "content", text: "Four." }, { type: "done", reason: "stop" }]);
  const turn = run(new TemplateParser(llama3, false, stops), llama3.encode("Yes.<|start_header_id|>user"));
  assertEquals(turn.events, [{ type: "content", text: "Yes." }, { type: "done", reason: "stop" }]);
  // ChatML's stops mean nothing to Llama's tokenizer: the default stop set stops nothing here
  const chatml = run(new TemplateParser(llama3), llama3.encode("Yes.<|eot_id|>"));
  assertEquals(chatml.events.at(-1), { type: "done", reason: "length" });
});

Deno.test("completion: text is kept as it is, leading space included; the end-of-text id stops", () => {
  const eos = gpt2.tokenId("<|endoftext|>")!;
  const ids = gpt2.encode(" upon a time\n there was 日本");
  const parser = new CompletionParser(gpt2, new Set([eos]));
  const { events } = run(parser, [...ids, eos, ...gpt2.encode("ignored")]);
  assertEquals(events, [{ type: "content", text: " upon a time\n there was 日本" }, {
    type: "done",
    reason: "stop",
  }]);
  const cut = run(new CompletionParser(gpt2, new Set([eos])), ids.slice(0, 3));
  assertEquals(cut.events.at(-1), { type: "done", reason: "length" });
  assertEquals((cut.events[0] as { text: string }).text, gpt2.decode(ids.slice(0, 3)));
});
