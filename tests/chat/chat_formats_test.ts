// The pieces around the template-format parser: the NFC normalizer and Qwen-style pre-tokenizer of tokenizer.json,
// rendering a ChatML template (reasoning_content, --system as a system message), and the format table.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { chatFormat, completionRenderer } from "../../src/chat/chat_formats.ts";
import { gpt2 } from "../../src/model/gpt2.ts";
import { gptOss } from "../../src/model/gpt_oss.ts";
import { qwen3 } from "../../src/model/qwen3.ts";
import { tokenizerFromJson } from "../../src/chat/tokenizer.ts";
import { FormatError } from "../../src/errors.ts";
import { syntheticTokenizerJson, tokenizedFixture } from "../cli/other_arch_fixture.ts";

Deno.test("tokenizer: an NFC normalizer composes text before encoding; without it the forms differ", () => {
  const qwen = tokenizerFromJson("qwen", syntheticTokenizerJson("qwen3", 638));
  const gpt2 = tokenizerFromJson("gpt2", syntheticTokenizerJson("gpt2", 388));
  const composed = "caf\u00e9", decomposed = "cafe\u0301";
  assertEquals(qwen.encode(decomposed), qwen.encode(composed));
  assertEquals(qwen.decode(qwen.encode(decomposed)), composed);
  assert(gpt2.encode(decomposed).join() !== gpt2.encode(composed).join());
  // A Sequence of normalizers is applied in order.
  const json = syntheticTokenizerJson("qwen3", 638);
  json.normalizer = { type: "Sequence", normalizers: [{ type: "NFC" }] };
  assertEquals(tokenizerFromJson("seq", json).encode(decomposed), qwen.encode(composed));
});

Deno.test("tokenizer: an unsupported normalizer is a one-line FormatError", () => {
  const json = syntheticTokenizerJson("qwen3", 638);
  json.normalizer = { type: "NFKD" };
  assertThrows(() => tokenizerFromJson("x.json", json), FormatError, /normalizer 'NFKD' is not supported/);
});

Deno.test("tokenizer: a Qwen-style Split regex (with (?i:...)) + ByteLevel round-trips mixed text", () => {
  const qwen = tokenizerFromJson("qwen", syntheticTokenizerJson("qwen3", 638));
  for (const text of ["IT'S 12345 apples\r\n\n  indented\ttab", "héllo 日本 🙂", "a<|im_end|>b"]) {
    assertEquals(qwen.decode(qwen.encode(text)), text);
  }
  // Specials written as text become their single ids.
  assertEquals(qwen.encode("<|im_start|>").length, 1);
});

Deno.test("chatml renderer: template output, reasoning of the last assistant turn, --system prepended", () => {
  const dir = tokenizedFixture("qwen3-tiny");
  try {
    const r = chatFormat(qwen3.chat).renderer(dir);
    const text = r.render([{ role: "user", content: "Hi" }], { effort: "medium", system: "Be brief." });
    assertEquals(
      text,
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
    const history = r.render([
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello.", reasoning: "Greet back." },
    ], { effort: "medium" });
    assert(history.includes("<think>\nGreet back.\n</think>\n\nHello.<|im_end|>"), history);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("chatml renderer: a Qwen3 folder without a chat template is a clear error", () => {
  const dir = tokenizedFixture("qwen3-tiny", { withTemplate: false });
  try {
    assertThrows(() => chatFormat(qwen3.chat).renderer(dir), FormatError, /no chat template/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("chat formats: families name harmony, a template and completion; completion renders the last input", () => {
  assertEquals(chatFormat(gptOss.chat).name, "harmony");
  assertEquals(chatFormat(qwen3.chat).name, "template");
  assertEquals(chatFormat(gpt2.chat).name, "completion");
  assertEquals(
    completionRenderer.render([
      { role: "user", content: "first" },
      { role: "assistant", content: " reply" },
      { role: "user", content: "Once upon" },
    ], { effort: "low" }),
    "Once upon",
  );
});
