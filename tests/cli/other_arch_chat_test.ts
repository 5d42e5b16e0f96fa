// `ossi run` and `ossi chat` on GPT-2 (plain completion), Qwen3 / Qwen3-MoE (ChatML) and Llama (Llama 3's
// template), on the tiny fixtures with a synthetic tokenizer. Greedy `ossi run` must print exactly what
// decoding the greedy ids of `ossi logits --generate N` gives (the same engine, checked end to end): float
// checkpoints run exact by default on every backend, `auto` included (defaultPrecision).

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { TemplateParser } from "../../src/chat/template_parser.ts";
import { loadPromptRendererSync } from "../../src/chat/prompt.ts";
import { loadTokenizerSync } from "../../src/chat/tokenizer.ts";
import { runCli } from "../fixture_util.ts";
import { tokenizedFixture } from "./other_arch_fixture.ts";

const N = 10;

/** Greedy ids after `prompt` from `ossi logits`. */
async function greedyIds(dir: string, prompt: number[], n: number): Promise<number[]> {
  const r = await runCli(["logits", "--model", dir, "--tokens", prompt.join(","), "--generate", String(n)]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).generated;
}

/** `ossi run --json` of one question, greedy, at most N tokens, with `flags`: the parsed output. */
async function runJson(dir: string, question: string, ...flags: string[]) {
  const args = [
    "--model",
    dir,
    "--temperature",
    "0",
    "--max-tokens",
    String(N),
    "--json",
    ...flags,
  ];
  const r = await runCli(["run", ...args, question]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function withFixture(name: string, fn: (dir: string) => Promise<void>, withTemplate = true) {
  const dir = tokenizedFixture(name, { withTemplate });
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("ossi run on GPT-2 continues the prompt text: the decoded greedy ids of ossi logits", async () => {
  await withFixture("gpt2-tiny", async (dir) => {
    const prompt = "Once upon a time";
    const r = await runCli(["run", "--model", dir, "--temperature", "0", "--max-tokens", String(N), prompt]);
    assertEquals(r.code, 0, r.stderr);
    const tok = loadTokenizerSync(dir);
    const eos = tok.tokenId("<|endoftext|>")!;
    const ids = await greedyIds(dir, tok.encode(prompt), N);
    const cut = ids.includes(eos) ? ids.slice(0, ids.indexOf(eos)) : ids;
    const expected = tok.decode(cut);
    assert(expected.length > 0, "the fixture's greedy continuation is not empty");
    assertEquals(r.stdout, expected.endsWith("\n") ? expected : expected + "\n");
  });
});

Deno.test("ossi chat on GPT-2 says it has no chat format and completes each piped input", async () => {
  await withFixture("gpt2-tiny", async (dir) => {
    const args = ["--model", dir, "--temperature", "0", "--max-tokens", "6"];
    const chat = await runCli(["chat", ...args], { stdin: "Hello world\nThe quick\n" });
    assertEquals(chat.code, 0, chat.stderr);
    assertMatch(chat.stderr, /has no chat format; each input is continued as plain text/);
    // No conversation memory: each answer equals `ossi run` on that input alone (less leading space).
    const first = await runCli(["run", ...args, "Hello world"]);
    const second = await runCli(["run", ...args, "The quick"]);
    assertEquals(chat.stdout, first.stdout.trimStart() + second.stdout.trimStart());
  });
});

for (const fixture of ["qwen3-tiny", "qwen3-moe-tiny"]) {
  Deno.test(`ossi run --json on ${fixture} equals the ChatML parse of ossi logits' greedy ids`, async () => {
    await withFixture(fixture, async (dir) => {
      const out = await runJson(dir, "What is two and two?");
      const tok = loadTokenizerSync(dir);
      // The template's rendering of one user message (chat_formats_test.ts checks the renderer).
      const prompt = tok.encode("<|im_start|>user\nWhat is two and two?<|im_end|>\n<|im_start|>assistant\n");
      assertEquals(out.usage.prompt_tokens, prompt.length);
      const parser = new TemplateParser(tok);
      let answer = "", reasoning = "", finish = "";
      for (const id of await greedyIds(dir, prompt, N)) {
        for (const ev of parser.push(id)) {
          if (ev.type === "content") answer += ev.text;
          else if (ev.type === "reasoning") reasoning += ev.text;
          else if (ev.type === "done") finish = ev.reason;
        }
        if (parser.done) break;
      }
      for (const ev of parser.end("length")) if (ev.type === "done") finish = ev.reason;
      assertEquals({ answer: out.answer, reasoning: out.reasoning, finish: out.finish_reason }, {
        answer,
        reasoning,
        finish,
      });
      assert(answer.length + reasoning.length > 0, "the fixture produces some text");
    });
  });
}

Deno.test("ossi chat on qwen3-tiny answers piped questions; the first equals ossi run's answer", async () => {
  await withFixture("qwen3-tiny", async (dir) => {
    const args = ["--model", dir, "--temperature", "0", "--max-tokens", "6"];
    const chat = await runCli(["chat", ...args], { stdin: "Hi\nWhat is two and two?\n" });
    assertEquals(chat.code, 0, chat.stderr);
    const run = await runCli(["run", ...args, "Hi"]);
    assertEquals(run.code, 0, run.stderr);
    assert(
      chat.stdout.startsWith(run.stdout),
      `${JSON.stringify(chat.stdout)} vs ${JSON.stringify(run.stdout)}`,
    );
    assert(chat.stdout.length > run.stdout.length, "the second question is answered too");
  });
});

Deno.test("GPT-2 / Qwen3 chat errors: a Qwen3 folder without a template exits 1 in one line", async () => {
  await withFixture("qwen3-tiny", async (dir) => {
    const r = await runCli(["run", "--model", dir, "hi"]);
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /^ossi: .*no chat template .* for this model\n$/);
  }, false);
});

Deno.test("ossi run on qwen3-tiny gives the same greedy answer on webgpu and wasm as on ref", async () => {
  await withFixture("qwen3-tiny", async (dir) => {
    const pick = (j: { answer: string; reasoning: string }) => [j.answer, j.reasoning];
    const ref = pick(await runJson(dir, "What is 2+2?", "--backend", "ref"));
    assertEquals(pick(await runJson(dir, "What is 2+2?", "--backend", "webgpu")), ref);
    assertEquals(pick(await runJson(dir, "What is 2+2?", "--backend", "wasm")), ref);
  });
});

Deno.test("ossi run --json on llama-tiny renders Llama 3's template and equals the decoded greedy ids of ossi logits", async () => {
  await withFixture("llama-tiny", async (dir) => {
    const question = "What is two and two?";
    const out = await runJson(dir, question), tok = loadTokenizerSync(dir);
    const text = loadPromptRendererSync(dir).render([{ role: "user", content: question }], {
      effort: "medium",
    });
    assert(
      text.startsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge"),
      text,
    );
    assert(
      text.endsWith(
        `<|start_header_id|>user<|end_header_id|>\n\n${question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
      ),
    );
    const prompt = tok.encode(text);
    assertEquals(out.usage.prompt_tokens, prompt.length);
    assertEquals(
      prompt.filter((id) => id === tok.tokenId("<|start_header_id|>")).length,
      3,
      "markup is one id each",
    );
    // the answer is the text up to a stop id (<|eot_id|>, <|end_of_text|>) or a new header
    const stops = ["<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>"].map((s) => tok.tokenId(s));
    const ids = await greedyIds(dir, prompt, N), end = ids.findIndex((id) => stops.includes(id));
    assertEquals(out.answer, tok.decode(end < 0 ? ids : ids.slice(0, end)).trim());
    assertEquals(out.finish_reason, end < 0 ? "length" : "stop");
  });
});

Deno.test("ossi chat on llama-tiny answers piped questions on every backend, each the same as ref's", async () => {
  await withFixture("llama-tiny", async (dir) => {
    const args = [
      "chat",
      "--model",
      dir,
      "--temperature",
      "0",
      "--max-tokens",
      "6",
      "--system",
      "Be brief.",
    ];
    const stdin = "Hi\nWhat is two and two?\n";
    const ref = await runCli([...args, "--backend", "ref"], { stdin });
    assertEquals(ref.code, 0, ref.stderr);
    assert(ref.stdout.split("\n").length >= 3, `two answers: ${JSON.stringify(ref.stdout)}`);
    for (const backend of ["wasm", "webgpu"]) {
      const other = await runCli([...args, "--backend", backend], { stdin });
      assertEquals(other.code, 0, other.stderr);
      assertEquals(other.stdout, ref.stdout, backend);
    }
  });
});
