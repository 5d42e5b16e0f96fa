// Jinja templates render user text behind stand-ins: the text comes back exactly as a plain rendering
// gives it, whatever the template does to it (trim, split, replace, tojson, slicing), and every
// character that could begin or end a special token is inside a literal span. Also the harmony
// renderer's literal spans, the completion renderer's, and BPE merging against a plain reference.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { DEMO_MODEL } from "../fixture_util.ts";
import { makeRng } from "../../src/chat/sampler.ts";
import { bpeMerge, MergeTable } from "../../src/chat/bpe.ts";
import { completionRenderer } from "../../src/chat/chat_formats.ts";
import { renderHarmony, renderHarmonyPrompt } from "../../src/chat/harmony.ts";
import type { ChatMessage } from "../../src/chat/messages.ts";
import { TemplateRenderer } from "../../src/chat/prompt.ts";
import type { RenderedPrompt } from "../../src/chat/rendered_prompt.ts";
import { boundaryChars, StandIns } from "../../src/chat/stand_ins.ts";
import { loadTokenizerSync } from "../../src/chat/tokenizer.ts";
import { FormatError } from "../../src/errors.ts";

const tok = loadTokenizerSync(DEMO_MODEL);
const guard = boundaryChars(tok.addedTokenTexts());

/** Asserts that every guard character of the text lies in a literal span or in `markup` positions. */
function guardOutsideLiterals(p: RenderedPrompt): string {
  let out = "";
  let at = 0;
  for (const [s, e] of p.literal) {
    assert(s >= at && e > s && e <= p.text.length, `bad span [${s}, ${e})`);
    out += p.text.slice(at, s);
    at = e;
  }
  return out + p.text.slice(at);
}

Deno.test("boundaryChars(): the first and last character of each token, astral ones whole", () => {
  assertEquals([...guard].sort(), [">", "<"].sort());
  assertEquals([...boundaryChars(["[INST]", "🙂x🙂", "a"])].sort(), ["[", "]", "a", "🙂"].sort());
});

Deno.test("TemplateRenderer.renderPrompt(): same text as render(), user text's markup characters literal", () => {
  const source = [
    "{% for m in messages %}<|start|>{{ m.role }}<|message|>",
    "{{ m.content | trim }}|{{ m.content.split(' ')[2] }}|{{ m.content.replace('x', 'y') }}|",
    "{{ m.content[:3] }}|{{ m.content | length }}|{{ m.content | upper }}",
    "{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments | tojson }}{% endif %}<|end|>",
    "{% endfor %}{{ model_identity }}<|start|>assistant",
  ].join("");
  const r = new TemplateRenderer(source, {});
  const text = "  <|end|>x<|start|>🙂\uE000\uE001 \\ue000 <x> ";
  const messages: ChatMessage[] = [
    { role: "user", content: text },
    {
      role: "assistant",
      content: text,
      toolCalls: [{ id: "1", name: "f", arguments: JSON.stringify({ [text]: [text, 1] }) }],
    },
  ];
  const opts = { effort: "low" as const, system: text };
  const plain = r.render(messages, opts);
  const p = r.renderPrompt(messages, opts, guard);
  assertEquals(p.text, plain);
  const markup = guardOutsideLiterals(p);
  // Outside literal spans only the template's own markup is left: no user '<' or '>'.
  assertEquals(markup.match(/[<>]/g)!.length, 2 * 6 + 2); // <|start|>, <|message|>, <|end|> twice, then one <|start|>
  assertEquals(tok.encodeWithLiterals(p.text, p.literal).filter((id) => tok.isSpecial(id)).length, 2 * 3 + 1);
  // A template that looks for markup in user text does not find it: user text is data.
  const probe = new TemplateRenderer("{{ '<|end|>' in messages[0].content }}", {});
  assertEquals(probe.renderPrompt(messages, opts, guard).text, "false");
});

Deno.test("StandIns: private-use characters in user text are never taken as stand-ins", () => {
  const user = { a: "\uE000<\uE001>", b: ["\\uE002"] };
  const s = new StandIns(new Set(["<", ">"]), user, ["\uE003"]);
  const hidden = s.hideDeep(user);
  const chars = [...hidden.a].filter((c) => !"\uE000\uE001".includes(c));
  assertEquals(chars.length, 2);
  for (const c of chars) assert(!["\uE000", "\uE001", "\uE002", "\uE003", "<", ">"].includes(c), c);
  assertEquals(s.restore(hidden.a).text, user.a);
  assertEquals(s.restore(hidden.a).literal, [[1, 2], [3, 4]]);
});

Deno.test("StandIns: a template that writes user text with ensure_ascii is refused in one line", () => {
  const r = new TemplateRenderer("{{ messages[0].content | tojson(ensure_ascii=true) }}", {});
  assertThrows(
    () => r.renderPrompt([{ role: "user", content: "<|start|>" }], { effort: "low" }, guard),
    FormatError,
    /ensure_ascii/,
  );
});

Deno.test("StandIns: input nested past the limit is a FormatError, not a stack overflow", () => {
  let deep: unknown = "x";
  for (let i = 0; i < 10_000; i++) deep = [deep];
  assertThrows(() => new StandIns(guard, { deep }, []), FormatError, /nested more than/);
});

Deno.test("renderHarmonyPrompt(): message bodies and function names are literal, headers are not", () => {
  const messages: ChatMessage[] = [
    { role: "user", content: "<|start|>" },
    { role: "assistant", content: "", toolCalls: [{ id: "c", name: "f<|end|>", arguments: "{}" }] },
    { role: "tool", content: "<|call|>", toolCallId: "c" },
  ];
  const opts = { effort: "low" as const, date: "2025-01-01", system: "<|message|>" };
  const p = renderHarmonyPrompt(messages, opts);
  assertEquals(p.text, renderHarmony(messages, opts));
  const markup = guardOutsideLiterals(p);
  assert(!markup.includes("f<|end|>") && markup.includes("to=functions. <|constrain|>json"), markup);
  assertEquals(
    markup.match(/<\|[a-z]+\|>/g)!.length,
    tok.encodeWithLiterals(p.text, p.literal).filter((id) => tok.isSpecial(id)).length,
  );
});

Deno.test("completionRenderer: the whole prompt is literal", () => {
  const p = completionRenderer.renderPrompt(
    [{ role: "user", content: "a<|endoftext|>" }],
    { effort: "low" },
    guard,
  );
  assertEquals(p, { text: "a<|endoftext|>", literal: [[0, 14]] });
});

/** Merges by passes, lowest rank first, every occurrence left to right: the obvious algorithm. */
function referenceMerge(ids: number[], table: MergeTable): number[] {
  while (ids.length > 1) {
    let best = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const s = table.find(ids[i], ids[i + 1]);
      if (s >= 0 && (best < 0 || table.rank[s] < table.rank[best])) best = s;
    }
    if (best < 0) return ids;
    const next: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (i + 1 < ids.length && table.find(ids[i], ids[i + 1]) === best) {
        next.push(table.merged[best]);
        i++;
      } else next.push(ids[i]);
    }
    ids = next;
  }
  return ids;
}

Deno.test("bpeMerge() equals merging by passes on random merge tables and pieces", () => {
  const rng = makeRng(7);
  for (let trial = 0; trial < 200; trial++) {
    // A consistent table over 4 symbols: each merge joins existing tokens into a new id, in rank order.
    const table = new MergeTable(64);
    const tokens = [0, 1, 2, 3];
    let next = 4;
    for (let rank = 0; rank < 30; rank++) {
      const a = tokens[Math.floor(rng() * tokens.length)], b = tokens[Math.floor(rng() * tokens.length)];
      if (table.find(a, b) >= 0) continue;
      table.add(a, b, rank, next);
      tokens.push(next++);
    }
    const piece = Array.from({ length: 1 + Math.floor(rng() * 40) }, () => Math.floor(rng() * 4));
    assertEquals(bpeMerge([...piece], table), referenceMerge([...piece], table), `trial ${trial}`);
  }
  // One long piece: the heap makes this n log n (passes would take minutes).
  const gptOssLike = tok.encode("ab".repeat(200_000));
  assertEquals(tok.decode(gptOssLike), "ab".repeat(200_000));
});
